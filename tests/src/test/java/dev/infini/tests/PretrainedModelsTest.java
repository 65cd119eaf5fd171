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
    @DisplayName("the shipped recall model reads the values from its memory (>= 20% at gap 0 with 8 pairs, chance 3.8%) "
            + "and is at chance without it (<= 8%)")
    void recallModelRecallsThroughItsMemory(@TempDir Path cache) throws IOException {
        InfiniModel m = load(InfiniPretrained.RECALL, cache);
        RecallEval eval = new RecallEval(m, 8, 1234, 25);
        long[] on = eval.accuracy(0, 50, MemoryMode.ON);
        long[] off = eval.accuracy(0, 50, MemoryMode.OFF);
        double accOn = (double) on[0] / on[1], accOff = (double) off[0] / off[1];
        log.info("recall model at gap 0: {} of {} values with memory ({}), {} without ({})", on[0], on[1], accOn, off[0], accOff);
        // The shipped model reads which values were stored but has not learnt which key each belongs to (README,
        // "Associative recall"): well above chance with its memory, at chance without.
        assertTrue(accOn >= 0.2, "recall accuracy at gap 0 with 8 pairs, memory on: " + accOn);
        assertTrue(accOff <= 0.08, "recall accuracy at gap 0 with 8 pairs, memory off: " + accOff);
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
