package dev.infini.zoo.dl4j;

import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.ModelFamily;
import dev.infini.samediff.SegmentKernel;
import dev.infini.samediff.SegmentRunner;
import dev.infini.samediff.TestModels;
import dev.infini.samediff.train.MemoryGradient;
import dev.infini.samediff.train.SegmentGradients;
import dev.infini.samediff.train.TrainBatch;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GraphFormTest {
    static final int B = 2, T = 13, S = 5; // three segments, the last one shorter
    static int PAD = 2;

    static INDArray paddedMask() {
        INDArray mask = Nd4j.ones(DataType.FLOAT, B, T);
        mask.get(NDArrayIndex.point(1), NDArrayIndex.interval(T - PAD, T)).assign(0);
        return mask;
    }

    @ParameterizedTest(name = "{0}/{1}, padded={2}, layer kernel {3}, token_shift={4}")
    @CsvSource({"GEMMA,LINEAR,false,FAST,false", "LLAMA,DELTA,true,FAST,false", "GEMMA,DELTA,true,FAST,false",
        "GEMMA,LINEAR,false,SAMEDIFF,false", "LLAMA,DELTA,true,SAMEDIFF,false", "GEMMA,DELTA,true,SAMEDIFF,false",
        "LLAMA,DELTA,true,FAST,true", "GEMMA,LINEAR,false,SAMEDIFF,true"})
    @DisplayName("same checkpoint, same logits: ComputationGraph form (either layer kernel) vs SameDiff form (<= 1e-4 relative)")
    void sameLogits(ModelFamily family, MemoryUpdate rule, boolean padded, SegmentKernel kernel, boolean shift) {
        InfiniConfig c = TestModels.tiny(family, 4, 2, rule, S).toBuilder().tokenShift(shift).build();
        InfiniModel model = TestModels.randomModel(c, 7, DataType.FLOAT);
        INDArray ids = TestModels.randomIds(B, T, c.vocabSize(), 3);
        INDArray mask = padded ? paddedMask() : null;
        INDArray expected = new SegmentRunner(model).run(ids, mask, null, null).logits();

        ComputationGraph g = InfiniGraph.fromModel(model, new InfiniGraph.Options().kernel(kernel));
        INDArray actual = g.output(false, new INDArray[] {ids.castTo(DataType.FLOAT)},
                mask == null ? null : new INDArray[] {mask})[0];
        if (padded) { // padding positions' logits are not defined by the spec: compare real tokens only
            expected = expected.mul(mask.reshape(B, T, 1).broadcast(expected.shape()));
            actual = actual.mul(mask.reshape(B, T, 1).broadcast(actual.shape()));
        }
        double err = TestModels.relError(actual, expected);
        System.out.printf("graph (%s) vs SameDiff logits %s/%s padded=%s shift=%s: relative error %.2e%n", kernel, family,
                rule, padded, shift, err);
        assertEquals(List.of((long) B, (long) T, (long) c.vocabSize()), List.of(actual.size(0), actual.size(1), actual.size(2)));
        assertTrue(err <= 1e-4, "relative error " + err);

        // And back: the graph's weights are the checkpoint's, by name.
        Map<String, INDArray> back = InfiniGraph.weights(g);
        assertEquals(model.weights().keySet(), back.keySet());
        model.weights().forEach((k, v) -> assertEquals(0.0, TestModels.relError(back.get(k), v), 0.0, k));
    }

    @Test
    @DisplayName("the graph configuration survives DL4J's JSON round trip (what ParallelWrapper and Spark ship)")
    void jsonRoundTrip() {
        ComputationGraphConfiguration conf = InfiniGraph.configuration(TestModels.tiny(ModelFamily.LLAMA, 4, 2, MemoryUpdate.DELTA, S),
                new InfiniGraph.Options().segmentSize(4).checkpointing(false).kernel(SegmentKernel.SAMEDIFF));
        ComputationGraphConfiguration back = ComputationGraphConfiguration.fromJson(conf.toJson());
        assertEquals(conf.toJson(), back.toJson());
        var lv = (org.deeplearning4j.nn.conf.graph.LayerVertex) back.getVertices().get(InfiniGraph.layerName(1));
        InfiniDecoderBlock l = (InfiniDecoderBlock) lv.getLayerConf().getLayer();
        assertEquals(1, l.getLayerIndex());
        assertEquals(4, l.getSegmentSize());
        assertEquals(false, l.isCheckpointing());
        assertEquals(SegmentKernel.SAMEDIFF, l.getKernel());
        var emb = (InfiniEmbedding) ((org.deeplearning4j.nn.conf.graph.LayerVertex) back.getVertices().get(InfiniGraph.EMBED))
                .getLayerConf().getLayer();
        assertEquals(4, emb.getSegmentSize());           // the token shift restarts where the blocks cut segments
        var l0 = (InfiniDecoderBlock) ((org.deeplearning4j.nn.conf.graph.LayerVertex) ComputationGraphConfiguration.fromJson(
                InfiniGraph.configuration(TestModels.tiny(ModelFamily.LLAMA, 4, 2, MemoryUpdate.DELTA, S),
                        new InfiniGraph.Options()).toJson()).getVertices().get(InfiniGraph.layerName(0))).getLayerConf().getLayer();
        assertEquals(null, l0.getKernel());              // unset: the default for the dtype
        assertEquals(MemoryUpdate.DELTA, l.infiniConfig().memoryUpdate());
    }

    /** Gradients by Hugging Face name of the graph's mean loss on one batch (tied copies merged by the layers). */
    static Map<String, INDArray> graphGradients(ComputationGraph g, INDArray ids, INDArray labels, INDArray fMask, INDArray lMask) {
        g.setInputs(ids);
        g.setLabels(labels);
        g.setLayerMaskArrays(fMask == null ? null : new INDArray[] {fMask}, lMask == null ? null : new INDArray[] {lMask});
        g.computeGradientAndScore();
        Map<String, INDArray> byKey = g.gradient().gradientForVariable();
        Map<String, INDArray> out = new java.util.LinkedHashMap<>();
        InfiniGraph.locations(g).forEach((name, loc) -> out.put(name, byKey.get(loc[0] + "_" + loc[1]).dup()));
        return out;
    }

    @ParameterizedTest(name = "{0}/{1}, layer kernel {2}, token_shift={3}")
    @CsvSource({"GEMMA,DELTA,FAST,false", "LLAMA,LINEAR,FAST,false", "GEMMA,DELTA,SAMEDIFF,false", "LLAMA,LINEAR,SAMEDIFF,false",
        "GEMMA,DELTA,FAST,true", "LLAMA,LINEAR,SAMEDIFF,true"})
    @DisplayName("checkpointed layer gradients (either kernel) equal non-checkpointed ones and the core's exact BPTT (double)")
    void checkpointedGradients(ModelFamily family, MemoryUpdate rule, SegmentKernel kernel, boolean shift) {
        InfiniConfig c = TestModels.tiny(family, 4, 2, rule, S).toBuilder().tokenShift(shift).build();
        InfiniModel model = TestModels.randomModel(c, 11, DataType.DOUBLE);
        INDArray ids = TestModels.randomIds(B, T, c.vocabSize(), 5);
        INDArray labels = TestModels.randomIds(B, T, c.vocabSize(), 6);
        INDArray fMask = paddedMask().castTo(DataType.DOUBLE);
        INDArray lMask = fMask.dup();
        lMask.putScalar(0, 0, 0);

        Map<String, INDArray> on = graphGradients(InfiniGraph.fromModel(model, new InfiniGraph.Options().checkpointing(true).kernel(kernel)),
                ids.castTo(DataType.DOUBLE), labels.castTo(DataType.DOUBLE), fMask, lMask);
        Map<String, INDArray> off = graphGradients(InfiniGraph.fromModel(model, new InfiniGraph.Options().checkpointing(false)),
                ids.castTo(DataType.DOUBLE), labels.castTo(DataType.DOUBLE), fMask, lMask);
        SegmentGradients.Result core = new SegmentGradients(model, S).compute(new TrainBatch(ids, labels, lMask, fMask), MemoryGradient.FULL);

        double worstOnOff = 0, worstCore = 0;
        for (String name : on.keySet()) {
            INDArray coreMean = core.gradients().get(name).div(core.tokens());
            double e1 = TestModels.relError(on.get(name), off.get(name)), e2 = TestModels.relError(on.get(name), coreMean);
            if (!(e1 < 1e-10 && e2 < 1e-10)) {
                System.out.printf("  %s: on %.3e off %.3e core %.3e%n", name, on.get(name).norm2Number().doubleValue(),
                        off.get(name).norm2Number().doubleValue(), coreMean.norm2Number().doubleValue());
            }
            worstOnOff = Math.max(worstOnOff, e1);
            worstCore = Math.max(worstCore, e2);
        }
        System.out.printf("checkpointed (%s) vs unrolled %s/%s shift=%s: %.2e; vs core BPTT: %.2e%n", kernel, family, rule,
                shift, worstOnOff, worstCore);
        assertTrue(worstOnOff < 1e-10, "checkpointed vs not: " + worstOnOff);
        assertTrue(worstCore < 1e-10, "graph vs core: " + worstCore);
    }

    @Test
    @DisplayName("the graph form trains with fit() on the DataVec token iterator: loss falls")
    void fitOnTokenIterator() {
        ComputationGraph g = InfiniGraph.create(GraphModels.byteModel(ModelFamily.GEMMA, 8),
                new InfiniGraph.Options().updater(new org.nd4j.linalg.learning.config.Adam(1e-2)));
        var it = GraphModels.blocks(24, 4, 1);
        DataSet first = it.next();
        it.reset();
        double before = g.score((org.nd4j.linalg.dataset.DataSet) first);
        List<Double> losses = new ArrayList<>();
        for (int epoch = 0; epoch < 1; epoch++) {
            while (it.hasNext()) {
                g.fit(it.next());
                losses.add(g.score());
            }
            it.reset();
        }
        double after = g.score((org.nd4j.linalg.dataset.DataSet) first);
        System.out.printf("fit on TokenBlockIterator: %d steps, loss %.3f -> %.3f (first batch %.3f -> %.3f)%n",
                losses.size(), losses.get(0), losses.get(losses.size() - 1), before, after);
        assertTrue(after < before - 0.5, "loss " + before + " -> " + after);
        // Tied head: the two copies of the embedding stayed equal.
        assertEquals(0.0, TestModels.relError(g.getLayer(InfiniGraph.HEAD).getParam(InfiniLmHead.W),
                g.getLayer(InfiniGraph.EMBED).getParam(InfiniEmbedding.E)), 0.0);
    }
}
