package dev.infini.cli.eval;

import dev.infini.datasets.recall.RecallIterator;
import dev.infini.datasets.recall.RecallSample;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryMode;
import dev.infini.samediff.Presets;
import dev.infini.samediff.SegmentRunner;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RecallEvalTest {
    /** The micro preset (segment 32) with random weights and gates open halfway, so the memory is read. */
    private static InfiniModel model() {
        return InfiniModel.random(Presets.get("micro"), 3, 0.5, 0.0, DataType.FLOAT);
    }

    private static INDArray lastSegment(INDArray logits, int segment) {
        long t = logits.size(1);
        return logits.get(NDArrayIndex.all(), NDArrayIndex.interval(t - segment, t), NDArrayIndex.all()).dup();
    }

    @Test
    @DisplayName("recall with memory off on a random model is at chance (<= 8%) and equals the queries segment run alone")
    void memoryOffIsAtChanceAndSeesOnlyItsSegment() {
        InfiniModel m = model();
        RecallEval eval = new RecallEval(m, 8, 99, 20);
        long[] r = eval.accuracy(2, 60, MemoryMode.OFF);
        assertEquals(480, r[1]);
        assertTrue(r[0] <= 0.08 * r[1], "memory off recalled " + r[0] + " of " + r[1]);
        // With memory off, the last segment's logits are those of the last segment alone from empty memory.
        RecallSample s = eval.sample(2, 0);
        INDArray ids = RecallIterator.toDataSet(new RecallSample[] {s}).getFeatures();
        INDArray off = lastSegment(new SegmentRunner(m).run(ids, null, MemoryMode.OFF, null, null).logits(), 32);
        INDArray alone = new SegmentRunner(m).run(ids.get(NDArrayIndex.all(), NDArrayIndex.interval(96, 128)).dup()).logits();
        assertArrayEquals(alone.ravel().toFloatVector(), off.ravel().toFloatVector(), 1e-5f);
    }

    @Test
    @DisplayName("memory foreign gives each sample the memory its donor carries, and differs from its own")
    void foreignMemoryIsTheDonorsMemory() {
        InfiniModel m = model();
        RecallEval eval = new RecallEval(m, 8, 5, 4);
        INDArray a = RecallIterator.toDataSet(new RecallSample[] {eval.sample(1, 0)}).getFeatures();
        INDArray b = RecallIterator.toDataSet(new RecallSample[] {eval.sample(1, 1)}).getFeatures();
        SegmentRunner runner = new SegmentRunner(m);
        INDArray foreign = lastSegment(runner.run(a, null, MemoryMode.FOREIGN, b, null).logits(), 32);
        INDArray own = lastSegment(runner.run(a, null, MemoryMode.ON, null, null).logits(), 32);
        // The donor's memory entering its last segment, read by a's last segment:
        INDArray bPrefix = b.get(NDArrayIndex.all(), NDArrayIndex.interval(0, 64)).dup();
        INDArray aLast = a.get(NDArrayIndex.all(), NDArrayIndex.interval(64, 96)).dup();
        INDArray expected = runner.run(aLast, null, runner.run(bPrefix).memory(), null).logits();
        assertArrayEquals(expected.ravel().toFloatVector(), foreign.ravel().toFloatVector(), 1e-5f);
        assertFalse(own.equalsWithEps(foreign, 1e-4), "another sample's memory changes the logits");
    }
}
