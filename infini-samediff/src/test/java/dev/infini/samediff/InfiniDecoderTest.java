package dev.infini.samediff;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InfiniDecoderTest {

    @ParameterizedTest(name = "{0} H={1} Hkv={2}")
    @CsvSource({"GEMMA,4,1", "LLAMA,4,2", "LLAMA,2,2"})
    @DisplayName("with every gate at memory-off, one segment equals an independent plain causal decoder")
    void memoryOffSegmentEqualsPlainCausalDecoder(ModelFamily family, int heads, int kvHeads) {
        InfiniConfig c = TestModels.tiny(family, heads, kvHeads, MemoryUpdate.DELTA, 16);
        InfiniModel model = TestModels.randomModel(c, 7, DataType.DOUBLE);
        for (int l = 0; l < c.numLayers(); l++) {
            model.weights().get(TensorNames.gate(l)).assign(-1e4); // sigmoid(-1e4) == 0 exactly
        }
        INDArray ids = TestModels.randomIds(1, 11, c.vocabSize(), 3);
        // Non-zero memory coming in must make no difference when the gates are closed.
        MemoryState mem = new SegmentRunner(model).run(TestModels.randomIds(1, 9, c.vocabSize(), 4)).memory();
        INDArray logits = model.forwardSegment(ids, null, mem).logits();
        double[][] expected = new PlainDecoder(c, model.weights()).logits(ids.toIntVector());
        double err = TestModels.relError(logits.reshape(11, c.vocabSize()), Nd4j.createFromArray(expected));
        assertTrue(err < 1e-12, "relative error " + err);
    }

    @ParameterizedTest(name = "{0} {1} H={2} Hkv={3}")
    @CsvSource({"GEMMA,LINEAR,4,1", "GEMMA,DELTA,4,1", "LLAMA,LINEAR,4,2", "LLAMA,DELTA,4,2"})
    @DisplayName("a sequence in one runner call equals its segments fed by hand with the memory passed on")
    void runnerEqualsSegmentsByHand(ModelFamily family, MemoryUpdate rule, int heads, int kvHeads) {
        int s = 6, t = 3 * s + 4;
        InfiniConfig c = TestModels.tiny(family, heads, kvHeads, rule, s);
        InfiniModel model = TestModels.randomModel(c, 11, DataType.FLOAT);
        INDArray ids = TestModels.randomIds(2, t, c.vocabSize(), 5);
        SegmentRunner.Result all = new SegmentRunner(model).run(ids);
        assertArrayEquals(new long[] {2, t, c.vocabSize()}, all.logits().shape());

        // By hand: full segments, then the partial tail padded to a full segment with mask 0.
        MemoryState mem = model.zeroMemory(2);
        for (int start = 0; start < t; start += s) {
            int end = Math.min(t, start + s);
            INDArray seg = Nd4j.zeros(DataType.INT32, 2, s);
            INDArray mask = Nd4j.zeros(DataType.FLOAT, 2, s);
            seg.get(NDArrayIndex.all(), NDArrayIndex.interval(0, end - start))
                    .assign(ids.get(NDArrayIndex.all(), NDArrayIndex.interval(start, end)));
            mask.get(NDArrayIndex.all(), NDArrayIndex.interval(0, end - start)).assign(1);
            InfiniModel.SegmentOutput out = model.forwardSegment(seg, mask, mem);
            mem = out.memory();
            INDArray expected = all.logits().get(NDArrayIndex.all(), NDArrayIndex.interval(start, end), NDArrayIndex.all());
            INDArray actual = out.logits().get(NDArrayIndex.all(), NDArrayIndex.interval(0, end - start), NDArrayIndex.all());
            double err = TestModels.relError(actual, expected);
            assertTrue(err < 1e-5, "segment at " + start + ": relative error " + err);
        }
        for (int l = 0; l < c.numLayers(); l++) {
            assertTrue(TestModels.relError(mem.m(l), all.memory().m(l)) < 1e-5, "M of layer " + l);
            assertTrue(TestModels.relError(mem.z(l), all.memory().z(l)) < 1e-5, "z of layer " + l);
        }
        // Each row of the batch equals that sequence run alone (no mixing across the batch).
        for (int b = 0; b < 2; b++) {
            INDArray alone = new SegmentRunner(model).run(ids.get(NDArrayIndex.interval(b, b + 1), NDArrayIndex.all()).dup()).logits();
            double err = TestModels.relError(all.logits().get(NDArrayIndex.interval(b, b + 1), NDArrayIndex.all(), NDArrayIndex.all()), alone);
            assertTrue(err < 1e-5, "row " + b + " relative error " + err);
        }
        // Memory matters: later segments differ from running them with fresh memory.
        INDArray lastAlone = new SegmentRunner(model).run(ids.get(NDArrayIndex.all(), NDArrayIndex.interval(3 * s, t)).dup()).logits();
        INDArray lastInSeq = all.logits().get(NDArrayIndex.all(), NDArrayIndex.interval(3 * s, t), NDArrayIndex.all());
        assertTrue(TestModels.relError(lastAlone, lastInSeq) > 1e-3, "memory had no effect");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"LINEAR", "DELTA"})
    @DisplayName("without carried memory, every segment equals that segment run alone from zero memory")
    void runnerWithoutMemoryRunsSegmentsAlone(MemoryUpdate rule) {
        int s = 5, t = 3 * s + 2;
        InfiniConfig c = TestModels.tiny(ModelFamily.GEMMA, 4, 1, rule, s);
        InfiniModel model = TestModels.randomModel(c, 13, DataType.FLOAT);
        INDArray ids = TestModels.randomIds(1, t, c.vocabSize(), 8);
        SegmentRunner.Result carried = new SegmentRunner(model, s, true).run(ids);
        SegmentRunner.Result alone = new SegmentRunner(model, s, false).run(ids);
        for (int start = 0; start < t; start += s) {
            int end = Math.min(t, start + s);
            INDArray seg = ids.get(NDArrayIndex.all(), NDArrayIndex.interval(start, end)).dup();
            InfiniModel.SegmentOutput expected = model.forwardSegment(seg, null, model.zeroMemory(1));
            INDArray actual = alone.logits().get(NDArrayIndex.all(), NDArrayIndex.interval(start, end), NDArrayIndex.all());
            double err = TestModels.relError(actual, expected.logits());
            assertTrue(err < 1e-5, "segment at " + start + ": relative error " + err);
            INDArray withMemory = carried.logits().get(NDArrayIndex.all(), NDArrayIndex.interval(start, end), NDArrayIndex.all());
            double diff = TestModels.relError(withMemory, expected.logits());
            if (start == 0) {
                assertTrue(diff < 1e-5, "the first segment reads empty memory either way: " + diff);
            } else {
                assertTrue(diff > 1e-3, "segment at " + start + " should differ with carried memory: " + diff);
            }
            if (end == t) {
                assertTrue(TestModels.relError(alone.memory().m(0), expected.memory().m(0)) < 1e-5,
                        "the memory returned is the last segment's own");
            }
        }
    }

    @Test
    @DisplayName("gate values are the sigmoid of the gate tensors, per layer and query head")
    void gateValuesAreSigmoidsPerLayerAndHead() {
        InfiniConfig c = TestModels.tiny(ModelFamily.LLAMA, 4, 2, MemoryUpdate.LINEAR, 8);
        InfiniModel model = InfiniModel.random(c, 3);
        model.weights().get(TensorNames.gate(0)).assign(Nd4j.createFromArray(new float[] {0f, 2f, -2f, 40f}).reshape(1, 4, 1, 1));
        model.weights().get(TensorNames.gate(1)).assign(-1e4);
        double[][] g = model.gateValues();
        assertArrayEquals(new double[] {0.5, 1 / (1 + Math.exp(-2)), 1 / (1 + Math.exp(2)), 1.0}, g[0], 1e-7);
        assertArrayEquals(new double[] {0, 0, 0, 0}, g[1], 0);
    }
}
