package dev.infini.zoo.dl4j;

import dev.infini.samediff.ModelFamily;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;

import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ParallelTrainingTest {
    private static TrainingListener counter(AtomicInteger n) {
        return new BaseTrainingListener() {
            @Override
            public void iterationDone(Model model, int iteration, int epoch) {
                n.incrementAndGet();
            }
        };
    }

    @Test
    @DisplayName("ParallelWrapper, 2 workers on CPU: loss on a held batch falls; the network's own listeners and the "
            + "options' hear every worker step")
    void parallelWrapperTwoWorkers() {
        ComputationGraph g = InfiniGraph.create(GraphModels.byteModel(ModelFamily.LLAMA, 8),
                new InfiniGraph.Options().updater(new Adam(1e-2)));
        var it = GraphModels.blocks(16, 4, 2);
        DataSet held = (DataSet) it.next();
        it.reset();
        double before = g.score(held);
        AtomicInteger onNetwork = new AtomicInteger(), inOptions = new AtomicInteger();
        g.setListeners(counter(onNetwork));
        GraphTraining.Result r = GraphTraining.fit(g, it, new GraphTraining.Options().workers(2).steps(24)
                .listeners(counter(inOptions)));
        assertEquals(r.losses().size(), onNetwork.get(), "a listener set on the network survives ParallelWrapper");
        assertEquals(r.losses().size(), inOptions.get());
        double after = g.score(held);
        System.out.printf("ParallelWrapper 2 workers: %d worker steps, held-out batch loss %.3f -> %.3f%n",
                r.losses().size(), before, after);
        assertEquals("graph+parallelwrapper", r.engine());
        assertTrue(r.losses().size() > 0);
        assertTrue(after < before - 0.5, "loss " + before + " -> " + after);
    }

    @Test
    @DisplayName("--spark without the infini-spark module is a clear error")
    void sparkWithoutModule() {
        ComputationGraph g = InfiniGraph.create(GraphModels.byteModel(ModelFamily.LLAMA, 8), new InfiniGraph.Options());
        var e = assertThrows(IllegalStateException.class,
                () -> GraphTraining.fit(g, GraphModels.blocks(16, 4, 2), new GraphTraining.Options().sparkMaster("local[2]")));
        assertTrue(e.getMessage().contains("infini-spark"), e.getMessage());
    }
}
