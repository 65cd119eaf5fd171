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
import org.nd4j.linalg.factory.Nd4j;
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
    @DisplayName("the no-binding baseline is the share of the values not yet asked that equal the one asked")
    void unaskedGuessCountsTheValuesNotYetAsked() {
        // distinct: (1/4 + 1/3 + 1/2 + 1) / 4
        assertEquals((1.0 / 4 + 1.0 / 3 + 1.0 / 2 + 1) / 4, RecallEval.unaskedGuess("ABCD".getBytes()), 1e-12);
        // repeats: A among {A, A, B} 2/3, A among {A, B} 1/2, B among {B} 1
        assertEquals((2.0 / 3 + 1.0 / 2 + 1) / 3, RecallEval.unaskedGuess("AAB".getBytes()), 1e-12);
        assertEquals(1.0, RecallEval.unaskedGuess("Q".getBytes()), 0);
    }

    @Test
    @DisplayName("scoring counts right answers per query position and answers that name a stored value")
    void scoreCountsPerQueryPositionAndStoredValues() {
        RecallEval eval = new RecallEval(model(), 4, 17, 4);
        RecallSample[] s = {eval.sample(0, 0), eval.sample(0, 1)};
        int t = s[0].ids().length;
        INDArray logits = Nd4j.zeros(DataType.FLOAT, 2, t, 260);
        for (int r = 0; r < 2; r++) {
            byte[] v = s[r].values();
            for (int i = 0; i < 4; i++) {
                // sample 0 answers every query with the value of query 3 (right at 3, stored elsewhere);
                // sample 1 answers query 0 right and the rest with '#', never a value.
                int answer = r == 0 ? v[3] : (i == 0 ? v[0] : '#');
                logits.putScalar(new long[] {r, s[r].valuePositions()[i] - 1, answer}, 5f);
            }
        }
        RecallEval.Result res = RecallEval.score(s, logits);
        long[] expected = {1, 0, 0, 1};
        for (int i = 0; i < 4; i++) {
            byte[] v = s[0].values();
            expected[i] += (i < 3 && v[i] == v[3]) ? 1 : 0;          // a repeated value is right too
        }
        assertArrayEquals(expected, res.rightByQuery());
        assertArrayEquals(new long[] {2, 2, 2, 2}, res.askedByQuery());
        assertEquals(4 + 1, res.namedStored());
        assertEquals((RecallEval.unaskedGuess(s[0].values()) + RecallEval.unaskedGuess(s[1].values())) * 4,
                res.unaskedGuess(), 1e-9);
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
