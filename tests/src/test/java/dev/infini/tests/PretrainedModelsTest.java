package dev.infini.tests;

import dev.infini.cli.eval.Perplexity;
import dev.infini.cli.eval.RecallEval;
import dev.infini.datasets.corpus.Corpora;
import dev.infini.datasets.pipeline.TokenizedCorpus;
import dev.infini.datasets.tokenize.ByteTokenizer;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryMode;
import dev.infini.samediff.hf.HfCheckpoint;
import dev.infini.zoo.models.InfiniGemma;
import dev.infini.zoo.models.InfiniLlama;
import dev.infini.zoo.models.InfiniPretrained;
import dev.infini.zoo.models.InfiniZooModel;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The pretrained models the zoo jar ships (models/recall/, models/byte-lm/) are what they claim, loaded offline through
 * the zoo: the recall model recalls, the language model predicts Moby-Dick. Skipped, saying why, only when this
 * build has no such model files.
 */
class PretrainedModelsTest {
    private static final Logger log = LoggerFactory.getLogger(PretrainedModelsTest.class);

    /** The checkpoint of a shipped model, through its family's zoo class (files checked into {@code cache}). */
    static InfiniModel load(InfiniPretrained p, Path cache) throws IOException {
        assumeTrue(p.shipped(), "models/" + p.id() + "/ is not in this build (no classpath resource "
                + p.resource("config.json") + "): the pretrained model files have not been committed yet");
        InfiniZooModel zoo = switch (p.config().family()) {
            case GEMMA -> InfiniGemma.builder().cacheDir(cache).build();
            case LLAMA -> InfiniLlama.builder().cacheDir(cache).build();
        };
        return HfCheckpoint.load(zoo.pretrainedDirectory(p));
    }

    @Test
    @DisplayName("the shipped recall model recalls 8 pairs through its memory (>= 90% at gaps 0 and 16, chance 3.8%) "
            + "and is at chance without it or with another sample's memory (<= 8%)")
    void recallModelRecallsThroughItsMemory(@TempDir Path cache) throws IOException {
        InfiniModel m = load(InfiniPretrained.RECALL, cache);
        RecallEval eval = new RecallEval(m, 8, 1234, 25);
        for (int gap : new int[] {0, 16}) {
            double on = rate(eval.accuracy(gap, 50, MemoryMode.ON)), off = rate(eval.accuracy(gap, 50, MemoryMode.OFF)),
                    foreign = rate(eval.accuracy(gap, 50, MemoryMode.FOREIGN));
            log.info("recall model at gap {}: memory on {}, off {}, foreign {}", gap, on, off, foreign);
            assertTrue(on >= 0.9, "recall of 8 pairs at gap " + gap + ", memory on: " + on);
            assertTrue(off <= 0.08, "recall of 8 pairs at gap " + gap + ", memory off: " + off);
            assertTrue(foreign <= 0.08, "recall of 8 pairs at gap " + gap + ", foreign memory: " + foreign);
        }
    }

    private static double rate(long[] counts) {
        return (double) counts[0] / counts[1];
    }

    @Test
    @DisplayName("the shipped byte-level LM models held-out Moby-Dick chapters at under 3 bits per byte (uniform: 8)")
    void byteLmPredictsMobyDick(@TempDir Path cache) throws IOException {
        InfiniModel m = load(InfiniPretrained.BYTE_LM, cache);
        ByteTokenizer tok = new ByteTokenizer();
        TokenizedCorpus tc = TokenizedCorpus.tokenize(Corpora.get("moby-dick"), tok);
        int[] stream = Perplexity.heldOut(tc, 0.05, 42, tok.eosId());
        List<int[]> seqs = Perplexity.sequences(stream, 512, 4);
        double nll = 0;
        long predicted = 0;
        for (int[] s : seqs) {
            nll += Perplexity.sequenceNll(m, s, null);
            predicted += s.length - 1;
        }
        double bitsPerByte = nll / predicted / Math.log(2);
        log.info("byte-level LM: {} bits per byte over {} held-out bytes", bitsPerByte, predicted);
        assertTrue(bitsPerByte < 3.0, "bits per byte on held-out Moby-Dick: " + bitsPerByte + " over " + predicted + " bytes");
    }
}
