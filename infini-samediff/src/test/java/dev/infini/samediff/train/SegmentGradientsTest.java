package dev.infini.samediff.train;

import dev.infini.samediff.DecoderGraph;
import dev.infini.samediff.GraphNames;
import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.ModelFamily;
import dev.infini.samediff.SegmentKernel;
import dev.infini.samediff.TensorNames;
import dev.infini.samediff.TestModels;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Per-segment gradients against one SameDiff graph unrolled over all segments. */
class SegmentGradientsTest {
    static final int S = 5, SEGMENTS = 3, B = 2;

    static TrainBatch batch(InfiniConfig c, long seed) {
        int t = S * SEGMENTS;
        INDArray ids = TestModels.randomIds(B, t, c.vocabSize(), seed);
        INDArray labels = TestModels.randomIds(B, t, c.vocabSize(), seed + 1);
        INDArray lossMask = Nd4j.ones(DataType.FLOAT, B, t);
        INDArray attn = Nd4j.ones(DataType.FLOAT, B, t);
        // Row 1 ends with two padding positions: out of attention, memory and loss.
        attn.get(NDArrayIndex.point(1), NDArrayIndex.interval(t - 2, t)).assign(0);
        lossMask.get(NDArrayIndex.point(1), NDArrayIndex.interval(t - 3, t)).assign(0);
        lossMask.putScalar(0, 0, 0); // and one ignored label
        return new TrainBatch(ids, labels, lossMask, attn);
    }

    /** Gradients of the unrolled graph's summed NLL (memory flowing in-graph, or detached). */
    static Map<String, INDArray> unrolled(InfiniModel model, TrainBatch b, boolean detached, Map<String, INDArray> memories) {
        InfiniConfig c = model.config();
        DecoderGraph g = DecoderGraph.buildUnrolled(c, model.weights(), B, S, SEGMENTS, model.dtype(), detached);
        SegmentGradients sg = new SegmentGradients(model, S);
        Map<String, INDArray> ph = new HashMap<>();
        for (int k = 0; k < SEGMENTS; k++) {
            int[] se = {k * S, (k + 1) * S};
            Map<String, INDArray> seg = sg.placeholders(model.graph(B, S, true), b, se, model.zeroMemory(B), null);
            ph.put(GraphNames.INPUT_IDS + "." + k, seg.get(GraphNames.INPUT_IDS));
            ph.put(GraphNames.ATTENTION_MASK + "." + k, seg.get(GraphNames.ATTENTION_MASK));
            ph.put(GraphNames.LABELS + "." + k, seg.get(GraphNames.LABELS));
            if (k == 0) {
                for (int i = 0; i < c.numLayers(); i++) {
                    ph.put(GraphNames.memoryM(i), seg.get(GraphNames.memoryM(i)));
                    ph.put(GraphNames.memoryZ(i), seg.get(GraphNames.memoryZ(i)));
                }
            }
        }
        if (memories != null) {
            ph.putAll(memories);
        }
        if (detached && memories == null) {
            // First run the connected graph forward to get the memory entering each segment.
            DecoderGraph conn = DecoderGraph.buildUnrolled(c, model.weights(), B, S, SEGMENTS, model.dtype(), false);
            Map<String, INDArray> mem = new HashMap<>();
            for (int k = 1; k < SEGMENTS; k++) {
                for (int i = 0; i < c.numLayers(); i++) {
                    String prev = "seg" + (k - 1) + "/";
                    Map<String, INDArray> out = conn.sameDiff().output(ph, prev + GraphNames.memoryMNext(i), prev + GraphNames.memoryZNext(i));
                    mem.put("seg" + k + "/" + GraphNames.memoryM(i), out.get(prev + GraphNames.memoryMNext(i)));
                    mem.put("seg" + k + "/" + GraphNames.memoryZ(i), out.get(prev + GraphNames.memoryZNext(i)));
                }
            }
            return unrolled(model, b, true, mem);
        }
        return g.sameDiff().calculateGradients(ph, g.parameterNames());
    }

    static double worst(Map<String, INDArray> actual, Map<String, INDArray> expected) {
        double worst = 0;
        for (Map.Entry<String, INDArray> e : expected.entrySet()) {
            INDArray a = actual.get(e.getKey());
            assertTrue(a != null, "no gradient for " + e.getKey());
            double norm = e.getValue().norm2Number().doubleValue();
            double err = a.sub(e.getValue()).norm2Number().doubleValue() / Math.max(norm, 1e-30);
            worst = Math.max(worst, err);
        }
        return worst;
    }

    @ParameterizedTest(name = "{0} {1} {2} {4} token_shift={5}")
    @CsvSource({"GEMMA,LINEAR,DOUBLE,1e-9,SAMEDIFF,false", "LLAMA,DELTA,DOUBLE,1e-9,SAMEDIFF,false",
            "GEMMA,DELTA,FLOAT,1e-4,SAMEDIFF,false", "LLAMA,LINEAR,FLOAT,1e-4,SAMEDIFF,false", "GEMMA,LINEAR,DOUBLE,1e-9,FAST,false",
            "LLAMA,DELTA,DOUBLE,1e-9,FAST,false", "GEMMA,DELTA,FLOAT,1e-4,FAST,false", "LLAMA,LINEAR,FLOAT,1e-4,FAST,false",
            "GEMMA,DELTA,DOUBLE,1e-9,SAMEDIFF,true", "LLAMA,LINEAR,DOUBLE,1e-9,FAST,true"})
    @DisplayName("full back-propagation by per-segment recomputation equals the unrolled graph's gradients, with either segment kernel")
    void fullEqualsUnrolled(ModelFamily family, MemoryUpdate rule, DataType dtype, double tolerance, SegmentKernel kernel,
                            boolean shift) {
        InfiniConfig c = TestModels.tiny(family, 4, family == ModelFamily.GEMMA ? 1 : 2, rule, S).toBuilder()
                .tokenShift(shift).build();
        InfiniModel model = TestModels.randomModel(c, 31, dtype).kernel(kernel);
        TrainBatch b = batch(c, 4);
        SegmentGradients.Result full = new SegmentGradients(model, S).compute(b, MemoryGradient.FULL);
        Map<String, INDArray> expected = unrolled(model, b, false, null);
        double err = worst(full.gradients(), expected);
        System.out.printf("full vs unrolled %s/%s/%s: worst relative error %.2e%n", family, rule, dtype, err);
        assertTrue(err <= tolerance, "relative error " + err);
        // and the memory path matters: truncated gradients are measurably different
        SegmentGradients.Result trunc = new SegmentGradients(model, S).compute(b, MemoryGradient.TRUNCATED);
        assertTrue(worst(trunc.gradients(), expected) > 1e-3);
        assertEquals(full.nllSum(), trunc.nllSum(), 1e-4 * Math.abs(full.nllSum()));
        assertEquals(b.tokens(), full.tokens());
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @CsvSource({"GEMMA,DELTA,SAMEDIFF", "LLAMA,LINEAR,SAMEDIFF", "GEMMA,DELTA,FAST", "LLAMA,LINEAR,FAST"})
    @DisplayName("truncated gradients equal those of segments whose incoming memory is a constant, with either segment kernel")
    void truncatedEqualsDetachedUnrolled(ModelFamily family, MemoryUpdate rule, SegmentKernel kernel) {
        InfiniConfig c = TestModels.tiny(family, 4, 2, rule, S);
        InfiniModel model = TestModels.randomModel(c, 41, DataType.DOUBLE).kernel(kernel);
        TrainBatch b = batch(c, 6);
        SegmentGradients.Result trunc = new SegmentGradients(model, S).compute(b, MemoryGradient.TRUNCATED);
        double err = worst(trunc.gradients(), unrolled(model, b, true, null));
        System.out.printf("truncated vs detached unrolled %s/%s: worst relative error %.2e%n", family, rule, err);
        assertTrue(err <= 1e-9, "relative error " + err);
    }

    @Test
    @DisplayName("token shift with segments of one token: nothing is shifted, both kernels agree and P's gradient is zero")
    void tokenShiftWithOneTokenSegments() {
        InfiniConfig c = TestModels.tiny(ModelFamily.LLAMA, 4, 2, MemoryUpdate.DELTA, 1).toBuilder().tokenShift(true).build();
        InfiniModel model = TestModels.randomModel(c, 7, DataType.DOUBLE);
        INDArray ids = TestModels.randomIds(1, 4, c.vocabSize(), 3), labels = TestModels.randomIds(1, 4, c.vocabSize(), 4);
        TrainBatch b = new TrainBatch(ids, labels, Nd4j.ones(DataType.DOUBLE, 1, 4), null);
        SegmentGradients.Result sd = new SegmentGradients(model.kernel(SegmentKernel.SAMEDIFF), 1).compute(b, MemoryGradient.FULL);
        SegmentGradients.Result fast = new SegmentGradients(model.kernel(SegmentKernel.FAST), 1).compute(b, MemoryGradient.FULL);
        assertTrue(worst(fast.gradients(), sd.gradients()) <= 1e-9, "fast vs SameDiff");
        assertEquals(0.0, sd.gradients().get(TensorNames.PREV_EMBED).norm2Number().doubleValue(), 0.0);
        assertEquals(0.0, fast.gradients().get(TensorNames.PREV_EMBED).norm2Number().doubleValue(), 0.0);
    }

    @Test
    @DisplayName("a partial last segment: full and truncated agree on one segment, loss equals the runner's")
    void partialSegmentAndSingleSegment() {
        InfiniConfig c = TestModels.tiny(ModelFamily.LLAMA, 4, 2, MemoryUpdate.DELTA, S);
        InfiniModel model = TestModels.randomModel(c, 51, DataType.DOUBLE);
        int[][] rows = new int[B][];
        for (int r = 0; r < B; r++) {
            rows[r] = TestModels.randomIds(1, 13, c.vocabSize(), 7 + r).toIntVector();
        }
        TrainBatch b = TrainBatch.fromTokens(rows); // T = 12: segments 5, 5, 2
        SegmentGradients.Result full = new SegmentGradients(model, S).compute(b, MemoryGradient.FULL);
        // The loss equals the mean NLL of the runner's logits.
        INDArray logits = new dev.infini.samediff.SegmentRunner(model, S).run(b.inputIds()).logits();
        double nll = 0;
        for (int r = 0; r < B; r++) {
            for (int t = 0; t < 12; t++) {
                INDArray row = logits.get(NDArrayIndex.point(r), NDArrayIndex.point(t), NDArrayIndex.all());
                double max = row.maxNumber().doubleValue();
                double lse = max + Math.log(org.nd4j.linalg.ops.transforms.Transforms.exp(row.sub(max)).sumNumber().doubleValue());
                nll += lse - row.getDouble(b.labels().getInt(r, t));
            }
        }
        assertEquals(nll, full.nllSum(), 1e-9 * nll);
        // One segment: no memory crosses a boundary, so both modes agree exactly.
        SegmentGradients one = new SegmentGradients(model, 12);
        assertTrue(worst(one.compute(b, MemoryGradient.TRUNCATED).gradients(), one.compute(b, MemoryGradient.FULL).gradients()) < 1e-12);
    }

    @Test
    @DisplayName("a row whose whole segment is padding contributes nothing and gives finite gradients")
    void fullyPaddedSegmentRow() {
        InfiniConfig c = TestModels.tiny(ModelFamily.GEMMA, 4, 1, MemoryUpdate.DELTA, S);
        InfiniModel model = TestModels.randomModel(c, 61, DataType.DOUBLE);
        TrainBatch b = batch(c, 8);
        int t = S * SEGMENTS;
        // Row 1: its last segment entirely padding.
        b.attentionMask().get(NDArrayIndex.point(1), NDArrayIndex.interval(t - S, t)).assign(0);
        b.lossMask().get(NDArrayIndex.point(1), NDArrayIndex.interval(t - S - 1, t)).assign(0);
        for (MemoryGradient mode : MemoryGradient.values()) {
            SegmentGradients.Result r = new SegmentGradients(model, S).compute(b, mode);
            for (Map.Entry<String, INDArray> e : r.gradients().entrySet()) {
                assertTrue(Double.isFinite(e.getValue().norm2Number().doubleValue()), mode + " " + e.getKey());
            }
            assertTrue(Double.isFinite(r.nllSum()));
        }
        // The padded segment adds nothing: the same gradients as the batch without its last segment.
        Map<String, INDArray> full = new SegmentGradients(model, S).compute(b, MemoryGradient.FULL).gradients();
        TrainBatch cut = new TrainBatch(b.inputIds().get(NDArrayIndex.all(), NDArrayIndex.interval(0, t - S)).dup(),
                b.labels().get(NDArrayIndex.all(), NDArrayIndex.interval(0, t - S)).dup(),
                b.lossMask().get(NDArrayIndex.all(), NDArrayIndex.interval(0, t - S)).dup(),
                b.attentionMask().get(NDArrayIndex.all(), NDArrayIndex.interval(0, t - S)).dup());
        // Row 0's last segment still counts, so compare row 1 alone: cut both batches to row 1.
        TrainBatch row1 = rows(b, 1), row1Cut = rows(cut, 1);
        double err = worst(new SegmentGradients(model, S).compute(row1, MemoryGradient.FULL).gradients(),
                new SegmentGradients(model, S).compute(row1Cut, MemoryGradient.FULL).gradients());
        assertTrue(err < 1e-12, "padded segment changed the gradients by " + err);
        assertTrue(full.values().stream().allMatch(g -> Double.isFinite(g.sumNumber().doubleValue())));
    }

    private static TrainBatch rows(TrainBatch b, int r) {
        return new TrainBatch(b.inputIds().get(NDArrayIndex.interval(r, r + 1), NDArrayIndex.all()).dup(),
                b.labels().get(NDArrayIndex.interval(r, r + 1), NDArrayIndex.all()).dup(),
                b.lossMask().get(NDArrayIndex.interval(r, r + 1), NDArrayIndex.all()).dup(),
                b.attentionMask().get(NDArrayIndex.interval(r, r + 1), NDArrayIndex.all()).dup());
    }
}
