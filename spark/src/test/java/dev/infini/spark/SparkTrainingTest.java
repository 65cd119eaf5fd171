package dev.infini.spark;

import dev.infini.datasets.pipeline.TokenBlockIterator;
import dev.infini.datasets.pipeline.TokenizedCorpus;
import dev.infini.datasets.tokenize.ByteTokenizer;
import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.ModelFamily;
import dev.infini.zoo.dl4j.GraphTraining;
import dev.infini.zoo.dl4j.InfiniGraph;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SparkTrainingTest {
    static final ByteTokenizer BYTES = new ByteTokenizer();

    static TokenBlockIterator blocks() {
        List<int[]> docs = new ArrayList<>();
        for (int d = 0; d < 8; d++) {
            docs.add(BYTES.encode("the cat sat on the mat. ".repeat(20)));
        }
        return TokenBlockIterator.builder(TokenizedCorpus.of("cats", BYTES.fingerprint(), docs)).tokenizer(BYTES)
                .seqLen(16).batchSize(4).seed(3).dropLast(true).idType(DataType.FLOAT).build();
    }

    @ParameterizedTest
    @EnumSource(GraphTraining.SparkMode.class)
    @DisplayName("Spark local[2], SharedTrainingMaster and ParameterAveragingTrainingMaster: loss on a held batch falls")
    void sparkLocal(GraphTraining.SparkMode mode) {
        InfiniConfig c = InfiniConfig.builder(ModelFamily.GEMMA).vocabSize(BYTES.vocabSize()).hiddenSize(32)
                .intermediateSize(64).numLayers(2).numHeads(4).numKvHeads(2).headDim(8).segmentSize(8)
                .bosTokenId(BYTES.bosId()).eosTokenId(BYTES.eosId()).padTokenId(BYTES.padId()).build();
        ComputationGraph g = InfiniGraph.create(c, new InfiniGraph.Options().updater(new Adam(1e-2)));
        TokenBlockIterator it = blocks();
        DataSet held = (DataSet) it.next();
        it.reset();
        double before = g.score(held);
        System.setProperty(SparkGraphTraining.ROUNDS, "3");
        GraphTraining.Result r = GraphTraining.fit(g, it,
                new GraphTraining.Options().sparkMaster("local[2]").sparkMode(mode).workers(2).steps(16));
        double after = g.score(held);
        System.out.printf("Spark %s local[2]: round losses %s, held batch %.3f -> %.3f%n", mode, r.losses(), before, after);
        assertTrue(after < before - 1.0, "loss " + before + " -> " + after);
        assertTrue(r.losses().get(r.losses().size() - 1) < r.losses().get(0), "round losses " + r.losses());
        assertEquals(WorkspaceMode.NONE, g.getConfiguration().getTrainingWorkspaceMode(), "workspace modes restored");
        assertEquals(WorkspaceMode.NONE, g.getConfiguration().getInferenceWorkspaceMode(), "workspace modes restored");
    }
}
