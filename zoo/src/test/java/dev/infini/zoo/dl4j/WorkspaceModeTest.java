package dev.infini.zoo.dl4j;

import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.ModelFamily;
import dev.infini.samediff.TestModels;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.solvers.accumulation.EncodedGradientsAccumulator;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The graph form under DL4J workspaces: {@code WorkspaceMode.ENABLED} (what DL4J's SharedTrainingWrapper
 * forces, and DL4J's default) must give what {@code NONE} gives. The layers run SameDiff outside DL4J's
 * workspaces and hand DL4J copies in the workspace it asks for.
 */
class WorkspaceModeTest {
    static final int B = 2, T = 13, S = 5;

    static ComputationGraph graph(InfiniModel model, boolean checkpointing, WorkspaceMode mode) {
        ComputationGraph g = InfiniGraph.fromModel(model, new InfiniGraph.Options().checkpointing(checkpointing));
        g.getConfiguration().setTrainingWorkspaceMode(mode);
        g.getConfiguration().setInferenceWorkspaceMode(mode);
        return g;
    }

    @ParameterizedTest(name = "checkpointing={0}")
    @ValueSource(booleans = {true, false})
    @DisplayName("workspaces ENABLED vs NONE: identical logits, score and gradients (double)")
    void sameLogitsAndGradients(boolean checkpointing) {
        InfiniConfig c = TestModels.tiny(ModelFamily.GEMMA, 4, 2, MemoryUpdate.DELTA, S);
        InfiniModel model = TestModels.randomModel(c, 13, DataType.DOUBLE);
        INDArray ids = TestModels.randomIds(B, T, c.vocabSize(), 5).castTo(DataType.DOUBLE);
        INDArray labels = TestModels.randomIds(B, T, c.vocabSize(), 6).castTo(DataType.DOUBLE);
        INDArray fMask = GraphFormTest.paddedMask().castTo(DataType.DOUBLE);
        INDArray lMask = fMask.dup();
        lMask.putScalar(0, 0, 0);

        ComputationGraph none = graph(model, checkpointing, WorkspaceMode.NONE);
        ComputationGraph ws = graph(model, checkpointing, WorkspaceMode.ENABLED);
        for (int rep = 0; rep < 2; rep++) { // twice: the second pass reuses cached graphs and workspaces
            INDArray a = none.output(false, new INDArray[] {ids}, new INDArray[] {fMask})[0];
            INDArray b = ws.output(false, new INDArray[] {ids}, new INDArray[] {fMask})[0];
            assertFalse(b.isAttached(), "output must be detached from workspaces");
            assertEquals(0.0, TestModels.relError(b, a), 1e-12, "logits");

            Map<String, INDArray> gNone = GraphFormTest.graphGradients(none, ids, labels, fMask, lMask);
            Map<String, INDArray> gWs = GraphFormTest.graphGradients(ws, ids, labels, fMask, lMask);
            assertEquals(none.score(), ws.score(), 1e-12, "score");
            assertFalse(ws.gradient().gradient().isAttached(), "flat gradient must not live in a workspace");
            double worst = 0;
            for (String name : gNone.keySet()) {
                worst = Math.max(worst, TestModels.relError(gWs.get(name), gNone.get(name)));
            }
            System.out.printf("workspaces ENABLED vs NONE, checkpointing=%s, pass %d: worst gradient error %.2e%n",
                    checkpointing, rep, worst);
            assertTrue(worst < 1e-12, "gradients differ: " + worst);
        }
    }

    @Test
    @DisplayName("workspaces ENABLED: fit lowers the loss as with NONE; with a gradient-sharing accumulator too")
    void fitWithWorkspaces() {
        InfiniConfig c = GraphModels.byteModel(ModelFamily.GEMMA, 8);
        List<DataSet> batches = new ArrayList<>();
        var it = GraphModels.blocks(24, 4, 1);
        while (it.hasNext() && batches.size() < 12) {
            batches.add((DataSet) it.next());
        }
        double[] end = new double[3];
        for (int variant = 0; variant < 3; variant++) {
            ComputationGraph g = InfiniGraph.create(c, new InfiniGraph.Options().updater(new Adam(1e-2)));
            WorkspaceMode mode = variant == 0 ? WorkspaceMode.NONE : WorkspaceMode.ENABLED;
            g.getConfiguration().setTrainingWorkspaceMode(mode);
            g.getConfiguration().setInferenceWorkspaceMode(mode);
            if (variant == 2) { // what SharedTrainingWrapper does with one worker per node
                EncodedGradientsAccumulator acc = new EncodedGradientsAccumulator(1, 1e-3);
                acc.fallbackToSingleConsumerMode(true);
                acc.touch();
                g.setGradientsAccumulator(acc);
            }
            double before = g.score(batches.get(0));
            for (DataSet ds : batches) {
                g.fit(ds);
            }
            end[variant] = g.score(batches.get(0));
            System.out.printf("fit, %s%s: loss on first batch %.3f -> %.3f%n", mode, variant == 2 ? " + accumulator" : "",
                    before, end[variant]);
            assertTrue(end[variant] < before - (variant == 2 ? 0.3 : 1.0), mode + ": loss " + before + " -> " + end[variant]);
            assertEquals(0.0, TestModels.relError(g.getLayer(InfiniGraph.HEAD).getParam(InfiniLmHead.W),
                    g.getLayer(InfiniGraph.EMBED).getParam(InfiniEmbedding.E)), 0.0, "tied copies");
            assertFalse(Nd4j.getWorkspaceManager().anyWorkspaceActiveForCurrentThread(), "no workspace left open");
            assertNull(Nd4j.getMemoryManager().getCurrentWorkspace(), "no workspace left current");
        }
        assertEquals(end[0], end[1], 1e-4, "same training with and without workspaces");
    }
}
