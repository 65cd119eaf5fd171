package dev.infini.zoo.dl4j;

import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.ModelFamily;
import dev.infini.samediff.SegmentKernel;
import dev.infini.samediff.TestModels;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.MultiDataSet;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The embedding and LM head layers on the fast kernel ({@code FastEmbedding}, {@code FastHead}) against the
 * same layers' SameDiff graphs, in one graph whose decoder blocks stay on one kernel: logits, score, per-example
 * scores and every parameter gradient. Gemma (scaled embedding, tied head) and Llama (untied head).
 */
class FastLayersTest {
    static final int B = 2, T = 13, S = 5;

    /** Sets the embedding's and head's kernel in place (the layers read it at every call). */
    static void setKernel(ComputationGraph g, SegmentKernel k) {
        ((InfiniEmbedding) g.getLayer(InfiniGraph.EMBED).conf().getLayer()).setKernel(k);
        ((InfiniLmHead) g.getLayer(InfiniGraph.HEAD).conf().getLayer()).setKernel(k);
    }

    record Run(INDArray logits, double score, INDArray perExample, Map<String, INDArray> grads) {
    }

    static Run run(ComputationGraph g, INDArray ids, INDArray labels, INDArray fMask, INDArray lMask) {
        INDArray logits = g.output(false, new INDArray[] {ids}, new INDArray[] {fMask})[0].dup();
        Map<String, INDArray> grads = GraphFormTest.graphGradients(g, ids, labels, fMask, lMask);
        double score = g.score();
        INDArray perExample = g.scoreExamples(new MultiDataSet(new INDArray[] {ids}, new INDArray[] {labels},
                new INDArray[] {fMask}, new INDArray[] {lMask}), false).dup();
        return new Run(logits, score, perExample, grads);
    }

    @ParameterizedTest(name = "{0} ({1}), {2}, token_shift={3}")
    @CsvSource({"GEMMA,LINEAR,FLOAT,false", "LLAMA,DELTA,FLOAT,false", "GEMMA,DELTA,DOUBLE,false", "LLAMA,LINEAR,DOUBLE,false",
        "GEMMA,DELTA,DOUBLE,true", "LLAMA,LINEAR,FLOAT,true"})
    @DisplayName("fast embedding and head equal their SameDiff graphs: logits, score, per-example scores, gradients")
    void fastEqualsSameDiff(ModelFamily family, MemoryUpdate rule, DataType dtype, boolean shift) {
        InfiniConfig c = TestModels.tiny(family, 4, 2, rule, S).toBuilder().tokenShift(shift).build();
        InfiniModel model = TestModels.randomModel(c, 21, dtype);
        INDArray ids = TestModels.randomIds(B, T, c.vocabSize(), 4).castTo(dtype);
        INDArray labels = TestModels.randomIds(B, T, c.vocabSize(), 8).castTo(dtype);
        INDArray fMask = GraphFormTest.paddedMask().castTo(dtype);
        INDArray lMask = fMask.dup();
        lMask.putScalar(0, 3, 0);
        ComputationGraph g = InfiniGraph.fromModel(model, new InfiniGraph.Options().kernel(SegmentKernel.FAST));
        Run fast = run(g, ids, labels, fMask, lMask);
        setKernel(g, SegmentKernel.SAMEDIFF);
        Run sd = run(g, ids, labels, fMask, lMask);

        boolean f32 = dtype == DataType.FLOAT;
        double fwdTol = f32 ? 1e-5 : 1e-12, gradTol = f32 ? 1e-4 : 1e-12;
        double logitsErr = TestModels.relError(fast.logits(), sd.logits());
        double scoreErr = Math.abs(fast.score() - sd.score()) / Math.abs(sd.score());
        double exErr = TestModels.relError(fast.perExample(), sd.perExample());
        double worst = 0;
        for (String name : sd.grads().keySet()) {
            double e = TestModels.relError(fast.grads().get(name), sd.grads().get(name));
            assertTrue(e <= gradTol, name + ": " + e);
            worst = Math.max(worst, e);
        }
        System.out.printf("fast vs SameDiff embedding/head %s/%s %s shift=%s: logits %.2e, score %.2e, per-example %.2e, grads %.2e%n",
                family, rule, dtype, shift, logitsErr, scoreErr, exErr, worst);
        assertTrue(logitsErr <= fwdTol, "logits " + logitsErr);
        assertTrue(scoreErr <= fwdTol, "score " + scoreErr);
        assertTrue(exErr <= fwdTol, "per-example scores " + exErr);
    }

    @Test
    @DisplayName("the fast head's logits are a fresh array on each call (DL4J keeps them)")
    void freshOutputs() {
        InfiniConfig c = TestModels.tiny(ModelFamily.LLAMA, 4, 2, MemoryUpdate.LINEAR, S);
        ComputationGraph g = InfiniGraph.fromModel(TestModels.randomModel(c, 3, DataType.FLOAT),
                new InfiniGraph.Options().kernel(SegmentKernel.FAST));
        INDArray ids = TestModels.randomIds(B, T, c.vocabSize(), 1).castTo(DataType.FLOAT);
        INDArray a = g.output(ids)[0], a0 = a.dup(), b = g.output(ids)[0];
        assertNotSame(a.data(), b.data());
        assertEquals(0.0, TestModels.relError(a, a0), 0.0);
    }

    @Test
    @DisplayName("the embedding's and head's kernel survive DL4J's JSON round trip")
    void kernelJson() {
        ComputationGraphConfiguration conf = InfiniGraph.configuration(TestModels.tiny(ModelFamily.GEMMA, 4, 2, MemoryUpdate.DELTA, S),
                new InfiniGraph.Options().kernel(SegmentKernel.SAMEDIFF));
        ComputationGraphConfiguration back = ComputationGraphConfiguration.fromJson(conf.toJson());
        assertEquals(conf.toJson(), back.toJson());
        var e = (InfiniEmbedding) ((org.deeplearning4j.nn.conf.graph.LayerVertex) back.getVertices().get(InfiniGraph.EMBED))
                .getLayerConf().getLayer();
        var h = (InfiniLmHead) ((org.deeplearning4j.nn.conf.graph.LayerVertex) back.getVertices().get(InfiniGraph.HEAD))
                .getLayerConf().getLayer();
        assertEquals(SegmentKernel.SAMEDIFF, e.getKernel());
        assertEquals(SegmentKernel.SAMEDIFF, h.getKernel());
        assertEquals(conf, back);
    }
}
