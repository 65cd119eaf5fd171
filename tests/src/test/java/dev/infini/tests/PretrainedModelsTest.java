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
    @DisplayName("the shipped recall model recalls at least 80% of the values at gap 0 with 8 pairs (chance: 3.8%)")
    void recallModelRecalls(@TempDir Path cache) throws IOException {
        InfiniModel m = load(InfiniPretrained.RECALL, cache);
        long[] r = new RecallEval(m, 8, 1234, 25).accuracy(0, 50, MemoryMode.ON);
        double acc = (double) r[0] / r[1];
        log.info("recall model: {} of {} values recalled at gap 0 ({})", r[0], r[1], acc);
        assertTrue(acc >= 0.8, "recall accuracy at gap 0 with 8 pairs: " + acc + " (" + r[0] + " of " + r[1] + ")");
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
