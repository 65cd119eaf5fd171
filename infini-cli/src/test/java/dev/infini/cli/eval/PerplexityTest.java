package dev.infini.cli.eval;

import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryMode;
import dev.infini.samediff.ModelFamily;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PerplexityTest {
    private static final int SEGMENT = 8;

    private static InfiniModel model() {
        InfiniConfig c = InfiniConfig.builder(ModelFamily.GEMMA).vocabSize(31).hiddenSize(16).intermediateSize(24)
                .numLayers(2).numHeads(2).numKvHeads(1).headDim(8).segmentSize(SEGMENT).build();
        return InfiniModel.random(c, 5, 0.5, 1.0, DataType.FLOAT);
    }

    private static int[] ids(int n) {
        Random rnd = new Random(3);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = rnd.nextInt(31);
        }
        return out;
    }

    @Test
    @DisplayName("per-token NLL sums to the sequence NLL; without memory only segments after the first change")
    void tokenNllWithAndWithoutMemory() {
        InfiniModel m = model();
        int[] ids = ids(3 * SEGMENT + 3);
        double[] with = Perplexity.tokenNll(m, ids, true, null);
        double[] without = Perplexity.tokenNll(m, ids, false, null);
        assertEquals(ids.length - 1, with.length);
        double sum = 0;
        for (double v : with) {
            assertTrue(v > 0 && Double.isFinite(v));
            sum += v;
        }
        assertEquals(Perplexity.sequenceNll(m, ids, null), sum, 1e-9 * sum);
        // Element t scores token t+1 from the logits at position t: positions 0..SEGMENT-1 are the first segment.
        for (int t = 0; t < SEGMENT; t++) {
            assertEquals(with[t], without[t], 1e-4, "position " + t + " is in the first segment");
        }
        double diff = 0;
        for (int t = SEGMENT; t < with.length; t++) {
            diff = Math.max(diff, Math.abs(with[t] - without[t]));
        }
        assertTrue(diff > 1e-3, "memory changed nothing after the first segment: " + diff);
        assertThrows(IllegalArgumentException.class, () -> Perplexity.tokenNll(m, new int[] {1}, true, null));
    }

    @Test
    @DisplayName("foreign memory: the first segment is unchanged, later ones differ from own memory; per-segment means")
    void foreignMemoryAndPerSegmentMeans() {
        InfiniModel m = model();
        int[] a = ids(3 * SEGMENT);
        int[] b = new int[a.length];
        for (int i = 0; i < b.length; i++) {
            b[i] = (a[i] * 7 + 3) % 31;
        }
        double[] own = Perplexity.tokenNll(m, a, MemoryMode.ON, null, null);
        double[] foreign = Perplexity.tokenNll(m, a, MemoryMode.FOREIGN, b, null);
        double[] self = Perplexity.tokenNll(m, a, MemoryMode.FOREIGN, a, null);
        for (int t = 0; t < own.length; t++) {
            assertEquals(own[t], self[t], 1e-4, "a sequence's own memory as donor is memory on, position " + t);
        }
        for (int t = 0; t < SEGMENT; t++) {
            assertEquals(own[t], foreign[t], 1e-4, "the first segment reads empty memory in every mode");
        }
        double diff = 0;
        for (int t = SEGMENT; t < own.length; t++) {
            diff = Math.max(diff, Math.abs(own[t] - foreign[t]));
        }
        assertTrue(diff > 1e-3, "another sequence's memory changed nothing: " + diff);
        double[] per = Perplexity.perSegment(java.util.List.of(new double[] {1, 2, 3, 4, 5}, new double[] {3, 4, 5, 6, 7}), 2);
        assertArrayEquals(new double[] {2.5, 4.5, 6}, per, 1e-12);
    }
}
