package dev.infini.tests;

import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.SegmentRunner;
import dev.infini.samediff.decode.Sampler;
import dev.infini.samediff.decode.StreamingDecoder;
import dev.infini.samediff.hf.HfCheckpoint;
import dev.infini.samediff.io.Npy;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * What a library user who only wants to load a checkpoint and generate writes: nothing but the core module's API
 * ({@code dev.infini.samediff}: {@link HfCheckpoint}, {@link StreamingDecoder}, {@link Sampler}) and ND4J. The core's
 * pom bans DL4J-nn, ParallelWrapper, DataVec, Spark and picocli (maven-enforcer), so this is all such a user needs.
 */
class CoreOnlyGenerationTest {

    @Test
    @DisplayName("a sharded checkpoint loads and generates greedily with the core API alone, token for token the argmax of one full forward pass")
    void loadsAndGeneratesWithTheCoreApiAlone() throws Exception {
        Path dir = Fixtures.golden("llama-gqa-delta-f32-sharded");
        InfiniModel model = HfCheckpoint.load(dir);
        int segment = model.config().segmentSize();
        int[] prompt = Arrays.copyOf(Npy.readTokenIds(dir.resolve("tokens.npy")), 5);
        int newTokens = 3 * segment;                         // crosses three segment boundaries: memory is written and read

        int[] generated = new StreamingDecoder(model).generate(prompt, newTokens, Sampler.greedy(), -1, t -> { });
        assertEquals(newTokens, generated.length);

        // Teacher-forced check: the whole sequence through SegmentRunner, one pass; each generated token is the
        // argmax of the logits at the position before it.
        int[] all = new int[prompt.length + generated.length - 1];
        System.arraycopy(prompt, 0, all, 0, prompt.length);
        System.arraycopy(generated, 0, all, prompt.length, generated.length - 1);
        INDArray ids = Nd4j.createFromArray(all).reshape(1, all.length);
        INDArray logits = new SegmentRunner(model).run(ids).logits();                       // [1, T, V]
        for (int i = 0; i < generated.length; i++) {
            int pos = prompt.length - 1 + i;
            int argmax = logits.get(org.nd4j.linalg.indexing.NDArrayIndex.point(0),
                    org.nd4j.linalg.indexing.NDArrayIndex.point(pos)).argMax().getInt(0);
            assertEquals(argmax, generated[i], "generated token " + i + " (position " + pos + ")");
        }
    }
}
