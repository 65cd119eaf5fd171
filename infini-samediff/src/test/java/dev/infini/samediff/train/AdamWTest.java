package dev.infini.samediff.train;

import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.ModelFamily;
import dev.infini.samediff.TensorNames;
import dev.infini.samediff.TestModels;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AdamWTest {

    @Test
    @DisplayName("AdamW matches a scalar hand computation: decoupled decay on weights only, gate at its own rate")
    void matchesHandComputation() {
        InfiniConfig c = TestModels.tiny(ModelFamily.GEMMA, 4, 1, MemoryUpdate.LINEAR, 4);
        InfiniModel model = TestModels.randomModel(c, 1, DataType.DOUBLE);
        AdamW.Settings st = new AdamW.Settings(0.9, 0.95, 1e-8, 0.1, 10.0);
        AdamW adam = new AdamW(model, st);
        String w = TensorNames.qProj(0), n = TensorNames.inputNorm(0), g = TensorNames.gate(0);
        double w0 = model.weights().get(w).getDouble(0), n0 = model.weights().get(n).getDouble(0), g0 = model.weights().get(g).getDouble(0);
        double[] grads = {0.5, -0.25};
        double lr = 0.01;
        double mw = 0, vw = 0, ew = w0, en = n0, eg = g0, mn = 0, vn = 0, mg = 0, vg = 0;
        for (int t = 1; t <= 2; t++) {
            double gr = grads[t - 1];
            Map<String, INDArray> gm = new LinkedHashMap<>();
            for (String name : List.of(w, n, g)) {
                gm.put(name, model.weights().get(name).ulike().assign(gr));
            }
            adam.update(model, gm, lr);
            double c1 = 1 - Math.pow(0.9, t), c2 = 1 - Math.pow(0.95, t);
            mw = 0.9 * mw + 0.1 * gr; vw = 0.95 * vw + 0.05 * gr * gr;
            ew = ew * (1 - lr * 0.1) - lr * (mw / c1) / (Math.sqrt(vw / c2) + 1e-8);
            mn = mw; vn = vw;
            en = en - lr * (mn / c1) / (Math.sqrt(vn / c2) + 1e-8);
            mg = mw; vg = vw;
            eg = eg - 10 * lr * (mg / c1) / (Math.sqrt(vg / c2) + 1e-8);
        }
        assertEquals(ew, model.weights().get(w).getDouble(0), 1e-12);
        assertEquals(en, model.weights().get(n).getDouble(0), 1e-12);
        assertEquals(eg, model.weights().get(g).getDouble(0), 1e-12);
        assertEquals(2, adam.step());
    }

    @Test
    @DisplayName("warmup is linear and the cosine decay ends at the floor")
    void schedule() {
        LrSchedule s = new LrSchedule(1e-3, 10, 110, 0.1);
        assertEquals(1e-4, s.at(1), 1e-15);
        assertEquals(1e-3, s.at(10), 1e-15);
        assertEquals(0.55e-3, s.at(60), 1e-12);
        assertEquals(1e-4, s.at(110), 1e-15);
        assertEquals(1e-4, s.at(500), 1e-15);
    }

    @Test
    @DisplayName("a non-finite loss skips the step and leaves weights and optimizer state untouched")
    void nonFiniteStepIsSkipped() {
        InfiniConfig c = TestModels.tiny(ModelFamily.LLAMA, 4, 2, MemoryUpdate.LINEAR, 4);
        InfiniModel model = TestModels.randomModel(c, 2, DataType.FLOAT);
        OptimizerStep step = new OptimizerStep(model, 4, MemoryGradient.FULL, new AdamW(model, AdamW.Settings.defaults()), 1.0);
        int[][] rows = {TestModels.randomIds(1, 9, c.vocabSize(), 3).toIntVector()};
        TrainBatch b = TrainBatch.fromTokens(rows);
        OptimizerStep.Stats ok = step.step(List.of(b), 1e-3);
        assertTrue(!ok.skipped() && Double.isFinite(ok.loss()));
        INDArray norm = model.weights().get(TensorNames.FINAL_NORM);
        INDArray before = model.weights().get(TensorNames.qProj(0)).dup();
        norm.putScalar(0, Float.NaN);
        OptimizerStep.Stats bad = step.step(List.of(b), 1e-3);
        assertTrue(bad.skipped());
        assertEquals(before, model.weights().get(TensorNames.qProj(0)));
        assertEquals(1, step.optimizer().step());
    }
}
