package dev.infini.samediff.runtime;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GraphRuntimeTest {
    /** loss = sum(reshape(z, [2, 3, 1]) * w): dloss/dz = w, reached only through a reshape of the placeholder. */
    private static SameDiff graph(INDArray w) {
        SameDiff sd = SameDiff.create();
        SDVariable z = sd.placeHolder("z", DataType.DOUBLE, 2, 3);
        SDVariable wv = sd.var("w", w);
        SDVariable col = sd.reshape("z_col", z, 2, 3, 1);
        sd.setLossVariables(col.mul(wv).sum("loss"));
        return sd;
    }

    @Test
    @DisplayName("a registered placeholder gets its gradient through a reshape, with the loss, in one pass")
    void placeholderGradientThroughReshape() {
        INDArray w = Nd4j.rand(DataType.DOUBLE, 2, 3, 1);
        INDArray z = Nd4j.rand(DataType.DOUBLE, 2, 3);
        GraphRuntime runtime = new GraphRuntime();
        SameDiff sd = runtime.register(graph(w), "z");
        Map<String, INDArray> out = runtime.outputsAndGradients(sd, Map.of("z", z), List.of("loss"), List.of("z", "w"));
        assertEquals(z.mul(w.reshape(2, 3)).sumNumber().doubleValue(), out.get("loss").getDouble(0), 1e-12);
        assertNotNull(out.get("z"), "gradient of the placeholder");
        assertEquals(w.reshape(2, 3), out.get("z").reshape(2, 3));
        assertEquals(z.reshape(2, 3, 1), out.get("w"));
        // The gradient function is built once and kept.
        SameDiff gradFn = sd.getFunction("grad");
        runtime.outputsAndGradients(sd, Map.of("z", z), List.of(), List.of("z"));
        assertTrue(gradFn == sd.getFunction("grad"));
    }

    @Test
    @DisplayName("segmentDone releases the sessions of registered graphs and their gradient functions every N segments")
    void releaseCadence() {
        GraphRuntime runtime = new GraphRuntime(3);
        SameDiff sd = runtime.register(graph(Nd4j.rand(DataType.DOUBLE, 2, 3, 1)), "z");
        Map<String, INDArray> ph = Map.of("z", Nd4j.rand(DataType.DOUBLE, 2, 3));
        runtime.outputsAndGradients(sd, ph, List.of("loss"), List.of("z"));
        sd.output(ph, "loss");
        assertFalse(sd.getSessions().isEmpty());
        assertFalse(sd.getFunction("grad").getSessions().isEmpty());
        runtime.segmentDone();
        runtime.segmentDone();
        assertFalse(sd.getSessions().isEmpty(), "not yet: 2 of 3 segments");
        runtime.segmentDone();
        assertTrue(sd.getSessions().isEmpty());
        assertTrue(sd.getFunction("grad").getSessions().isEmpty());
        // Sessions come back on the next call.
        assertEquals(1, sd.output(ph, "loss").size());
    }
}
