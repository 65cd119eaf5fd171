package dev.infini.samediff.fast;

import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.ModelFamily;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The fast kernel's token embedding, shared by {@link FastSegment} and the DL4J embedding layer:
 * {@code x = E[ids] * scale} (scale {@code sqrt(D)} for Gemma, else 1; the graph's one-hot x E) and its
 * backward {@code dE[ids[n]] += dx[n] * scale}. Stateless.
 */
public final class FastEmbedding {
    private final int dm;
    private final int vocab;
    private final double scale;
    private final DataType dtype;

    /** @param dtype float32 or float64 */
    public FastEmbedding(InfiniConfig config, DataType dtype) {
        if (dtype != DataType.FLOAT && dtype != DataType.DOUBLE) {
            throw new IllegalArgumentException("float32 or float64 only, got " + dtype);
        }
        this.dm = config.hiddenSize();
        this.vocab = config.vocabSize();
        this.scale = config.family() == ModelFamily.GEMMA ? Math.sqrt(dm) : 1.0;
        this.dtype = dtype;
    }

    /**
     * Forward on new arrays.
     *
     * @param e   the embedding {@code [V, D]}
     * @param ids {@code [N]} token ids (checked against the vocabulary)
     * @return {@code x [N, D]}, a new array
     */
    public INDArray forward(INDArray e, int[] ids) {
        check(ids);
        Buf x = Buf.zeros(dtype, ids.length, dm);
        forward(ids, Buf.of(e, dtype), x);
        return x.arr;
    }

    /**
     * Backward on new arrays.
     *
     * @param ids {@code [N]} token ids of the forward call
     * @param dx  {@code [N, D]} gradient of the output
     * @return {@code dE [V, D]}, a new array
     */
    public INDArray backward(int[] ids, INDArray dx) {
        check(ids);
        Buf de = Buf.zeros(dtype, vocab, dm);
        backward(ids, Buf.of(dx, dtype), de);
        return de.arr;
    }

    /** {@code x [N, D] = E[ids] * scale}. */
    void forward(int[] ids, Buf e, Buf x) {
        for (int r = 0; r < ids.length; r++) {
            int src = ids[r] * dm, dst = r * dm;
            for (int j = 0; j < dm; j++) {
                x.set(dst + j, e.get(src + j) * scale);
            }
        }
    }

    /** {@code dE[ids[n]] += dx[n] * scale}, accumulated into {@code de [V, D]}. */
    void backward(int[] ids, Buf dx, Buf de) {
        for (int r = 0; r < ids.length; r++) {
            int dst = ids[r] * dm, src = r * dm;
            for (int j = 0; j < dm; j++) {
                de.add(dst + j, dx.get(src + j) * scale);
            }
        }
    }

    private void check(int[] ids) {
        for (int id : ids) {
            if (id < 0 || id >= vocab) {
                throw new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
    }
}
