package dev.infini.samediff.decode;

import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.ModelFamily;
import dev.infini.samediff.TensorNames;
import dev.infini.samediff.TestModels;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Generation of any length runs in bounded memory, and non-finite logits never become a token. */
class GenerationLimitsTest {
    private static InfiniModel model() {
        return TestModels.randomModel(TestModels.tiny(ModelFamily.GEMMA, 4, 1, MemoryUpdate.LINEAR, 5), 3, DataType.FLOAT);
    }

    /** Thrown by the consumer to stop a generation that would otherwise run for days. */
    private static final class Enough extends RuntimeException {
    }

    @Test
    @DisplayName("a limit of a billion (or Long.MAX_VALUE) new tokens allocates nothing up front: tokens stream out")
    void hugeLimitsStream() {
        StreamingDecoder dec = new StreamingDecoder(model());
        int[] seen = {0};
        assertThrows(Enough.class, () -> dec.stream(new int[] {1, 2, 3}, Long.MAX_VALUE, Sampler.greedy(), t -> false, t -> {
            if (++seen[0] == 30) {
                throw new Enough();
            }
        }));
        assertEquals(30, seen[0]);
        long state = dec.stateBytes();
        StreamingDecoder dec2 = new StreamingDecoder(model());
        int[] n = {0};
        assertThrows(Enough.class, () -> dec2.generate(new int[] {1}, 1_000_000_000, Sampler.greedy(), -1, t -> {
            if (++n[0] == 12) {
                throw new Enough();
            }
        }));
        assertEquals(state, dec.stateBytes(), "the decoder's state does not grow with the tokens generated");
    }

    @Test
    @DisplayName("generate() still returns the tokens it streamed, the same as stream() hands on")
    void generateReturnsStreamedTokens() {
        int[] a = new StreamingDecoder(model()).generate(new int[] {4, 5}, 17, Sampler.greedy(), -1, null);
        int[] b = new int[17];
        int[] i = {0};
        long n = new StreamingDecoder(model()).stream(new int[] {4, 5}, 17, Sampler.greedy(), t -> false, t -> b[i[0]++] = t);
        assertEquals(17, n);
        assertArrayEquals(b, a);
    }

    @Test
    @DisplayName("NaN logits are an error naming the position, not token -1; the sampler refuses them too")
    void nonFiniteLogitsFail() {
        InfiniModel m = model();
        m.weights().get(TensorNames.FINAL_NORM).putScalar(0, Float.NaN);
        StreamingDecoder dec = new StreamingDecoder(m);
        String msg = assertThrows(IllegalStateException.class,
                () -> dec.generate(new int[] {1, 2}, 5, new Sampler(1.0, 0, 1.0, 1), -1, null)).getMessage();
        assertTrue(msg.contains("not finite") && msg.contains("after token 2"), msg);
        String s = assertThrows(IllegalArgumentException.class,
                () -> new Sampler(0.7, 0, 1.0, 1).sample(new double[] {0.1, Double.NaN, 0.3})).getMessage();
        assertTrue(s.contains("non-finite logits") && s.contains("token id 1"), s);
    }
}
