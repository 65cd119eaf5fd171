package dev.infini.zoo.dl4j;

import dev.infini.datasets.pipeline.TokenBlockIterator;
import dev.infini.datasets.pipeline.TokenizedCorpus;
import dev.infini.datasets.tokenize.ByteTokenizer;
import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.ModelFamily;
import org.nd4j.linalg.api.buffer.DataType;

import java.util.ArrayList;
import java.util.List;

/** Small byte-level models and a repetitive corpus on which a few steps visibly lower the loss. */
public final class GraphModels {
    private GraphModels() {
    }

    public static final ByteTokenizer BYTES = new ByteTokenizer();

    public static InfiniConfig byteModel(ModelFamily family, int segment) {
        return InfiniConfig.builder(family).vocabSize(BYTES.vocabSize()).hiddenSize(32).intermediateSize(64).numLayers(2)
                .numHeads(4).numKvHeads(2).headDim(8).segmentSize(segment).memoryUpdate(MemoryUpdate.LINEAR)
                .bosTokenId(BYTES.bosId()).eosTokenId(BYTES.eosId()).padTokenId(BYTES.padId())
                .tieWordEmbeddings(family == ModelFamily.GEMMA).build();
    }

    public static TokenizedCorpus corpus() {
        List<int[]> docs = new ArrayList<>();
        for (int d = 0; d < 8; d++) {
            docs.add(BYTES.encode("the cat sat on the mat. ".repeat(20) + "document " + d + ". "));
        }
        return TokenizedCorpus.of("cats", BYTES.fingerprint(), docs);
    }

    public static TokenBlockIterator blocks(int seqLen, int batch, long seed) {
        return TokenBlockIterator.builder(corpus()).tokenizer(BYTES).seqLen(seqLen).batchSize(batch).seed(seed)
                .dropLast(true).idType(DataType.FLOAT).build();
    }
}
