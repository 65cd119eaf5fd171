package dev.infini.samediff;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

/** Small random models and inputs shared by the tests. */
public final class TestModels {
    private TestModels() {
    }

    public static InfiniConfig tiny(ModelFamily family, int heads, int kvHeads, MemoryUpdate rule, int segment) {
        return InfiniConfig.builder(family).vocabSize(23).hiddenSize(16).intermediateSize(24).numLayers(2)
                .numHeads(heads).numKvHeads(kvHeads).headDim(4).segmentSize(segment).memoryUpdate(rule)
                .tieWordEmbeddings(family == ModelFamily.GEMMA).build();
    }

    /** Random weights with std 0.3, random norms and gates, so every term of the math matters. */
    public static InfiniModel randomModel(InfiniConfig c, long seed, DataType dtype) {
        InfiniModel m = InfiniModel.random(c, seed, 0.3, 0.0, dtype);
        Random rnd = new Random(seed + 1);
        for (TensorNames.Spec spec : TensorNames.all(c)) {
            INDArray w = m.weights().get(spec.name());
            if (spec.kind() == TensorNames.Kind.NORM) {
                w.addi(Nd4j.randn(rnd.nextLong(), w.shape()).castTo(dtype).muli(0.1));
            } else if (spec.kind() == TensorNames.Kind.GATE) {
                w.assign(Nd4j.randn(rnd.nextLong(), w.shape()).castTo(dtype));
            }
        }
        return m;
    }

    public static INDArray randomIds(int batch, int length, int vocab, long seed) {
        Random rnd = new Random(seed);
        int[] ids = new int[batch * length];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = rnd.nextInt(vocab);
        }
        return Nd4j.createFromArray(ids).reshape(batch, length);
    }

    /** Relative error {@code |a - b| / |b|} (Frobenius norms), in double. */
    public static double relError(INDArray actual, INDArray expected) {
        INDArray a = actual.castTo(DataType.DOUBLE), e = expected.castTo(DataType.DOUBLE);
        return a.sub(e).norm2Number().doubleValue() / e.norm2Number().doubleValue();
    }
}
