package dev.infini.cli.train;

import dev.infini.datasets.pipeline.TokenBlockIterator;
import dev.infini.datasets.pipeline.TokenizedCorpus;
import dev.infini.datasets.tokenize.ByteTokenizer;
import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.ModelFamily;
import dev.infini.zoo.dl4j.InfiniGraph;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GlobalNormClippingTest {
    private static double globalNorm(List<INDArray> grads) {
        double sq = 0;
        for (INDArray g : grads) {
            double n = g.norm2Number().doubleValue();
            sq += n * n;
        }
        return Math.sqrt(sq);
    }

    @Test
    @DisplayName("--clip with the graph engine scales the DL4J gradients to the global norm before the updater sees them")
    void scalesAllGradientsTogether() {
        ByteTokenizer bytes = new ByteTokenizer();
        InfiniConfig c = InfiniConfig.builder(ModelFamily.GEMMA).vocabSize(bytes.vocabSize()).hiddenSize(32)
                .intermediateSize(64).numLayers(2).numHeads(4).numKvHeads(2).headDim(8).segmentSize(8)
                .bosTokenId(bytes.bosId()).eosTokenId(bytes.eosId()).padTokenId(bytes.padId()).build();
        ComputationGraph net = InfiniGraph.create(c, new InfiniGraph.Options());
        List<int[]> docs = new ArrayList<>();
        for (int d = 0; d < 4; d++) {
            docs.add(bytes.encode("the cat sat on the mat. ".repeat(10)));
        }
        DataSet ds = (DataSet) TokenBlockIterator.builder(TokenizedCorpus.of("cats", bytes.fingerprint(), docs))
                .tokenizer(bytes).seqLen(16).batchSize(2).seed(1).dropLast(true).idType(DataType.FLOAT).build().next();
        net.setInputs(ds.getFeatures());
        net.setLabels(ds.getLabels());
        net.setLayerMaskArrays(new INDArray[] {ds.getFeaturesMaskArray()}, new INDArray[] {ds.getLabelsMaskArray()});
        net.computeGradientAndScore();
        List<INDArray> grads = new ArrayList<>(net.gradient().gradientForVariable().values());
        List<INDArray> before = grads.stream().map(INDArray::dup).toList();
        double norm = globalNorm(grads);
        assertTrue(norm > 1e-3, "a gradient to clip: " + norm);

        new GlobalNormClipping(norm * 2).onGradientCalculation(net);
        assertEquals(norm, globalNorm(grads), 1e-6 * norm, "below the limit: unchanged");

        new GlobalNormClipping(norm / 4).onGradientCalculation(net);
        assertEquals(norm / 4, globalNorm(new ArrayList<>(net.gradient().gradientForVariable().values())), 1e-4 * norm);
        for (int i = 0; i < grads.size(); i++) {
            assertTrue(before.get(i).mul(0.25).equalsWithEps(grads.get(i), 1e-5), "same direction, parameter " + i);
        }
    }
}
