package dev.infini.samediff.decode;

import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.ModelFamily;
import dev.infini.samediff.SegmentKernel;
import dev.infini.samediff.SegmentRunner;
import dev.infini.samediff.TestModels;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StreamingDecoderTest {
    private static final int SEGMENT = 5;

    /** Logits [T, V] of one full forward pass, segment by segment, on the SameDiff graph (the reference). */
    private static INDArray fullLogits(InfiniModel model, int[] ids) {
        SegmentKernel k = model.kernel();
        model.kernel(SegmentKernel.SAMEDIFF);
        try {
            INDArray logits = new SegmentRunner(model).run(Nd4j.createFromArray(ids).reshape(1, ids.length)).logits();
            return logits.reshape(ids.length, model.config().vocabSize());
        } finally {
            model.kernel(k);
        }
    }

    /** A random test model whose segments and decode steps run on {@code kernel}. */
    private static InfiniModel model(InfiniConfig c, long seed, DataType dtype, SegmentKernel kernel) {
        return TestModels.randomModel(c, seed, dtype).kernel(kernel);
    }

    @ParameterizedTest(name = "{6}: {0} {1} H={2} Hkv={3} prompt={4} {5} token_shift={7}")
    @CsvSource({
            "GEMMA,LINEAR,4,1,3,FLOAT,SAMEDIFF,false", "GEMMA,DELTA,4,1,7,FLOAT,SAMEDIFF,false", "LLAMA,LINEAR,4,2,5,FLOAT,SAMEDIFF,false",
            "LLAMA,DELTA,4,2,1,FLOAT,SAMEDIFF,false", "LLAMA,DELTA,2,2,12,FLOAT,SAMEDIFF,false", "GEMMA,DELTA,4,1,8,DOUBLE,SAMEDIFF,false",
            "GEMMA,LINEAR,4,1,3,FLOAT,FAST,false", "GEMMA,DELTA,4,1,7,FLOAT,FAST,false", "LLAMA,LINEAR,4,2,5,FLOAT,FAST,false",
            "LLAMA,DELTA,4,2,1,FLOAT,FAST,false", "LLAMA,DELTA,2,2,12,FLOAT,FAST,false", "GEMMA,DELTA,4,1,8,DOUBLE,FAST,false",
            "GEMMA,DELTA,4,1,7,FLOAT,SAMEDIFF,true", "LLAMA,LINEAR,4,2,3,DOUBLE,SAMEDIFF,true",
            "GEMMA,DELTA,4,1,7,FLOAT,FAST,true", "LLAMA,LINEAR,4,2,3,DOUBLE,FAST,true"})
    @DisplayName("logits decoded step by step equal one full forward pass across several segment boundaries")
    void stepLogitsEqualFullForward(ModelFamily family, MemoryUpdate rule, int heads, int kvHeads, int prompt,
                                    DataType dtype, SegmentKernel kernel, boolean shift) {
        InfiniConfig c = TestModels.tiny(family, heads, kvHeads, rule, SEGMENT).toBuilder().tokenShift(shift).build();
        InfiniModel model = model(c, 21, dtype, kernel);
        int total = 4 * SEGMENT + 3;
        int[] ids = TestModels.randomIds(1, total, c.vocabSize(), 8).toIntVector();
        INDArray expected = fullLogits(model, ids);

        StreamingDecoder dec = new StreamingDecoder(model);
        INDArray[] got = new INDArray[total];
        got[prompt - 1] = dec.feed(Arrays.copyOf(ids, prompt));
        for (int t = prompt; t < total; t++) {
            got[t] = dec.step(ids[t]);
        }
        assertEquals(total, dec.position());
        assertEquals(total / SEGMENT, dec.segmentsWritten());
        double worst = 0;
        for (int t = prompt - 1; t < total; t++) {
            INDArray row = expected.getRow(t);
            double err = TestModels.relError(got[t].reshape(row.shape()), row);
            worst = Math.max(worst, err);
            assertTrue(err <= 1e-4, "position " + t + ": relative error " + err);
        }
        System.out.printf("decode exactness %s %s %s H=%d Hkv=%d prompt=%d %s: max relative error %.3e%n",
                kernel, family, rule, heads, kvHeads, prompt, dtype, worst);
        if (dtype == DataType.DOUBLE) {
            assertTrue(worst < 1e-10, "double precision should agree to rounding, got " + worst);
        }
        // Memory after the completed segments equals the runner's memory over those tokens.
        int done = (total / SEGMENT) * SEGMENT;
        var ref = new SegmentRunner(model.kernel(SegmentKernel.SAMEDIFF)).run(Nd4j.createFromArray(Arrays.copyOf(ids, done)).reshape(1, done)).memory();
        for (int l = 0; l < c.numLayers(); l++) {
            assertTrue(TestModels.relError(dec.memory().m(l), ref.m(l)) < 1e-5, "M of layer " + l);
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(SegmentKernel.class)
    @DisplayName("memory is read while decoding: later steps differ from decoding with fresh memory")
    void memoryIsReadInsideSegment(SegmentKernel kernel) {
        InfiniConfig c = TestModels.tiny(ModelFamily.GEMMA, 4, 1, MemoryUpdate.LINEAR, SEGMENT);
        InfiniModel model = model(c, 3, DataType.FLOAT, kernel);
        int[] ids = TestModels.randomIds(1, 2 * SEGMENT + 2, c.vocabSize(), 4).toIntVector();
        StreamingDecoder withHistory = new StreamingDecoder(model);
        withHistory.feed(Arrays.copyOf(ids, 2 * SEGMENT + 1));
        INDArray a = withHistory.step(ids[2 * SEGMENT + 1]);
        StreamingDecoder fresh = new StreamingDecoder(model);
        fresh.feed(new int[] {ids[2 * SEGMENT]});
        INDArray b = fresh.step(ids[2 * SEGMENT + 1]);
        assertTrue(TestModels.relError(a, b) > 1e-3, "memory of earlier segments had no effect on the step");
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(SegmentKernel.class)
    @DisplayName("feeding a prompt in pieces equals feeding it at once, and the state size does not grow")
    void feedInPieces(SegmentKernel kernel) {
        InfiniConfig c = TestModels.tiny(ModelFamily.LLAMA, 4, 2, MemoryUpdate.DELTA, SEGMENT);
        InfiniModel model = model(c, 5, DataType.FLOAT, kernel);
        int[] ids = TestModels.randomIds(1, 17, c.vocabSize(), 6).toIntVector();
        StreamingDecoder once = new StreamingDecoder(model);
        INDArray a = once.feed(ids);
        StreamingDecoder pieces = new StreamingDecoder(model);
        long bytes = pieces.stateBytes();
        pieces.feed(Arrays.copyOf(ids, 3));
        pieces.feed(Arrays.copyOfRange(ids, 3, 9));
        INDArray b = pieces.feed(Arrays.copyOfRange(ids, 9, 17));
        assertTrue(TestModels.relError(b, a) < 1e-5);
        assertEquals(17, pieces.position());
        assertEquals(2, pieces.cached());
        assertEquals(bytes, pieces.stateBytes());
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(SegmentKernel.class)
    @DisplayName("greedy generation picks the argmax of the full forward pass at every position")
    void greedyGenerationMatchesFullForward(SegmentKernel kernel) {
        InfiniConfig c = TestModels.tiny(ModelFamily.GEMMA, 4, 1, MemoryUpdate.DELTA, SEGMENT);
        InfiniModel model = model(c, 9, DataType.FLOAT, kernel);
        int[] prompt = TestModels.randomIds(1, 4, c.vocabSize(), 2).toIntVector();
        int[] streamed = new int[12];
        int[] count = {0};
        int[] gen = new StreamingDecoder(model).generate(prompt, 12, Sampler.greedy(), -1, t -> streamed[count[0]++] = t);
        assertEquals(12, gen.length);
        assertArrayEquals(gen, streamed);
        int[] all = new int[prompt.length + gen.length];
        System.arraycopy(prompt, 0, all, 0, prompt.length);
        System.arraycopy(gen, 0, all, prompt.length, gen.length);
        INDArray full = fullLogits(model, all);
        for (int i = 0; i < gen.length; i++) {
            INDArray row = full.get(NDArrayIndex.point(prompt.length - 1 + i), NDArrayIndex.all());
            assertEquals(Sampler.argmax(row.toDoubleVector()), gen[i], "token " + i);
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(SegmentKernel.class)
    @DisplayName("generation stops at EOS, which is not returned")
    void stopsAtEos(SegmentKernel kernel) {
        InfiniConfig c = TestModels.tiny(ModelFamily.GEMMA, 4, 1, MemoryUpdate.LINEAR, SEGMENT);
        InfiniModel model = model(c, 9, DataType.FLOAT, kernel);
        int[] prompt = {1, 2, 3};
        int[] free = new StreamingDecoder(model).generate(prompt, 8, Sampler.greedy(), -1, null);
        int[] stopped = new StreamingDecoder(model).generate(prompt, 8, Sampler.greedy(), free[2], null);
        int first = 0;
        while (free[first] != free[2]) {
            first++;
        }
        assertArrayEquals(Arrays.copyOf(free, first), stopped);
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(SegmentKernel.class)
    @DisplayName("token ids outside the vocabulary are rejected with the id named")
    void badIds(SegmentKernel kernel) {
        InfiniConfig c = TestModels.tiny(ModelFamily.GEMMA, 4, 1, MemoryUpdate.LINEAR, SEGMENT);
        StreamingDecoder dec = new StreamingDecoder(model(c, 1, DataType.FLOAT, kernel));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> dec.feed(new int[] {1, 99}));
        assertTrue(e.getMessage().contains("99"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> dec.feed(new int[0]));
    }

    @Test
    @DisplayName("the fast kernel decodes the same tokens as the SameDiff kernel under greedy sampling, logits within 1e-5")
    void fastKernelDecodesLikeSameDiff() {
        InfiniConfig c = TestModels.tiny(ModelFamily.LLAMA, 4, 2, MemoryUpdate.DELTA, SEGMENT);
        int[] prompt = TestModels.randomIds(1, 7, c.vocabSize(), 13).toIntVector();
        StreamingDecoder fast = new StreamingDecoder(model(c, 17, DataType.FLOAT, SegmentKernel.FAST));
        StreamingDecoder graph = new StreamingDecoder(model(c, 17, DataType.FLOAT, SegmentKernel.SAMEDIFF));
        int[] a = fast.generate(prompt, 3 * SEGMENT + 2, Sampler.greedy(), -1, null);
        int[] b = graph.generate(prompt, 3 * SEGMENT + 2, Sampler.greedy(), -1, null);
        assertArrayEquals(b, a);
        assertEquals(graph.segmentsWritten(), fast.segmentsWritten());
        INDArray la = fast.step(a[a.length - 1]), lb = graph.step(b[b.length - 1]);
        assertTrue(TestModels.relError(la, lb) <= 1e-5, "logits after the last token");
    }
}
