package dev.infini.samediff.fast;

import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryState;
import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.ModelFamily;
import dev.infini.samediff.SegmentKernel;
import dev.infini.samediff.SegmentRunner;
import dev.infini.samediff.TestModels;
import dev.infini.samediff.decode.StreamingDecoder;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link FastStep} against the SameDiff definitions: the decode-step graph (a {@link StreamingDecoder} on the
 * SAMEDIFF kernel) and one full forward pass of the segment graph ({@link SegmentRunner}), token by token over
 * several segment boundaries (the memory written by the segment graph between segments).
 */
class FastStepTest {
    private static final int SEGMENT = 5;

    @ParameterizedTest(name = "{0} {1} H={2} Hkv={3} tied={4} {5} token_shift={6}")
    @CsvSource({
            "GEMMA,LINEAR,4,1,true,FLOAT,false", "GEMMA,LINEAR,4,1,false,FLOAT,false", "LLAMA,DELTA,4,2,false,FLOAT,false",
            "LLAMA,DELTA,4,2,true,FLOAT,false", "GEMMA,LINEAR,4,1,true,DOUBLE,false", "LLAMA,DELTA,4,2,false,DOUBLE,false",
            "GEMMA,DELTA,4,1,true,DOUBLE,true", "LLAMA,LINEAR,4,2,false,FLOAT,true"})
    @DisplayName("step logits equal the step graph's and a full forward pass's across segment boundaries; so does the memory written")
    void stepLogitsEqualGraphs(ModelFamily family, MemoryUpdate rule, int heads, int kvHeads, boolean tied,
                               DataType dtype, boolean shift) {
        InfiniConfig c = TestModels.tiny(family, heads, kvHeads, rule, SEGMENT).toBuilder().tieWordEmbeddings(tied)
                .tokenShift(shift).build();
        InfiniModel model = TestModels.randomModel(c, 31, dtype).kernel(SegmentKernel.SAMEDIFF);
        int total = 3 * SEGMENT + 2;
        int[] ids = TestModels.randomIds(1, total, c.vocabSize(), 12).toIntVector();
        INDArray full = new SegmentRunner(model).run(Nd4j.createFromArray(ids).reshape(1, total)).logits()
                .reshape(total, c.vocabSize());
        StreamingDecoder graphStep = new StreamingDecoder(model);
        FastStep fast = FastStep.of(model);
        MemoryState memory = model.zeroMemory(1);
        double tol = dtype == DataType.DOUBLE ? 1e-12 : 1e-5, worst = 0;
        for (int t = 0; t < total; t++) {
            INDArray got = fast.step(ids[t], t % SEGMENT, memory);
            INDArray stepGraph = t == 0 ? graphStep.feed(new int[] {ids[0]}) : graphStep.step(ids[t]);
            double e1 = TestModels.relError(got, full.getRow(t).reshape(got.shape()));
            double e2 = TestModels.relError(got, stepGraph.reshape(got.shape()));
            worst = Math.max(worst, Math.max(e1, e2));
            assertTrue(e1 <= tol && e2 <= tol, "position " + t + ": vs full forward " + e1 + ", vs step graph " + e2);
            if ((t + 1) % SEGMENT == 0) {
                int[] seg = Arrays.copyOfRange(ids, t + 1 - SEGMENT, t + 1);
                MemoryState written = fast.writeMemory(memory);
                memory = model.forwardSegment(Nd4j.createFromArray(seg).reshape(1, SEGMENT), null, memory).memory();
                for (int l = 0; l < c.numLayers(); l++) {     // the write from the cache equals the segment graph's
                    double em = TestModels.relError(written.m(l), memory.m(l));
                    double ez = TestModels.relError(written.z(l), memory.z(l));
                    assertTrue(em <= tol && ez <= tol, "memory of layer " + l + " after position " + t + ": " + em + ", " + ez);
                }
            }
        }
        System.out.printf("FastStep %s %s H=%d Hkv=%d tied=%s %s shift=%s: max relative error %.3e%n",
                family, rule, heads, kvHeads, tied, dtype, shift, worst);
    }

    @Test
    @DisplayName("a token outside the vocabulary or a position outside the segment is rejected")
    void badInputs() {
        InfiniConfig c = TestModels.tiny(ModelFamily.GEMMA, 4, 1, MemoryUpdate.LINEAR, SEGMENT);
        InfiniModel model = TestModels.randomModel(c, 1, DataType.FLOAT);
        FastStep fast = FastStep.of(model);
        assertThrows(IllegalArgumentException.class, () -> fast.step(c.vocabSize(), 0, model.zeroMemory(1)));
        assertThrows(IllegalArgumentException.class, () -> fast.step(1, SEGMENT, model.zeroMemory(1)));
    }
}
