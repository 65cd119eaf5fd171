package dev.infini.samediff.fast;

import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.ModelFamily;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The fast kernel's token embedding, shared by {@link FastSegment} and the DL4J embedding layer:
 * {@code x = E[ids] * scale} (scale {@code sqrt(D)} for Gemma, else 1; the graph's one-hot x E) and its
 * backward {@code dE[ids[n]] += dx[n] * scale}. With {@link InfiniConfig#tokenShift} (beyond the paper; spec,
 * "Beyond the paper: token shift") position {@code t > 0} of each segment row also adds
 * {@code P[ids[t-1]] * scale} ({@link dev.infini.samediff.TensorNames#PREV_EMBED}), and the backward
 * {@code dP[ids[t-1]] += dx[t] * scale}. Stateless.
 */
public final class FastEmbedding {
    private final int dm;
    private final int vocab;
    private final double scale;
    private final DataType dtype;
    private final boolean shift;

    /** @param dtype float32 or float64 */
    public FastEmbedding(InfiniConfig config, DataType dtype) {
        if (dtype != DataType.FLOAT && dtype != DataType.DOUBLE) {
            throw new IllegalArgumentException("float32 or float64 only, got " + dtype);
        }
        this.dm = config.hiddenSize();
        this.vocab = config.vocabSize();
        this.scale = config.family() == ModelFamily.GEMMA ? Math.sqrt(dm) : 1.0;
        this.dtype = dtype;
        this.shift = config.tokenShift();
    }

    /**
     * Forward on new arrays.
     *
     * @param e   the embedding {@code [V, D]}
     * @param ids {@code [N]} token ids (checked against the vocabulary)
     * @return {@code x [N, D]}, a new array
     */
    public INDArray forward(INDArray e, int[] ids) {
        noShift();
        check(ids);
        Buf x = Buf.zeros(dtype, ids.length, dm);
        forward(ids, Buf.of(e, dtype), x);
        return x.arr;
    }

    /**
     * Forward on new arrays, with the token shift of a {@code token_shift} model (the DL4J layer form).
     *
     * @param p       the previous-token embedding {@code [V, D]}
     * @param ids     {@code [B*T]} token ids, rows of {@code time} tokens
     * @param segment the segment length: the shift restarts at every {@code t % segment == 0} of a row
     */
    public INDArray forward(INDArray e, INDArray p, int[] ids, int time, int segment) {
        check(ids);
        Buf x = Buf.zeros(dtype, ids.length, dm);
        forward(ids, Buf.of(e, dtype), Buf.of(p, dtype), time, segment, x);
        return x.arr;
    }

    /** Backward of {@link #forward(INDArray, INDArray, int[], int, int)}: {@code {dE, dP}}, new arrays. */
    public INDArray[] backward(int[] ids, INDArray dx, int time, int segment) {
        check(ids);
        Buf de = Buf.zeros(dtype, vocab, dm), dp = Buf.zeros(dtype, vocab, dm);
        backward(ids, Buf.of(dx, dtype), de, dp, time, segment);
        return new INDArray[] {de.arr, dp.arr};
    }

    /**
     * Backward on new arrays.
     *
     * @param ids {@code [N]} token ids of the forward call
     * @param dx  {@code [N, D]} gradient of the output
     * @return {@code dE [V, D]}, a new array
     */
    public INDArray backward(int[] ids, INDArray dx) {
        noShift();
        check(ids);
        Buf de = Buf.zeros(dtype, vocab, dm);
        backward(ids, Buf.of(dx, dtype), de);
        return de.arr;
    }

    /** {@code x [N, D] = E[ids] * scale} (no token shift). */
    void forward(int[] ids, Buf e, Buf x) {
        forward(ids, e, null, 1, 1, x);
    }

    /**
     * {@code x [N, D] = E[ids] * scale}, plus {@code P[ids[r-1]] * scale} at every row {@code r} that is not the
     * first of its segment when {@code p} is the token-shift table (null: none); rows come in sequences of
     * {@code time} tokens cut into segments of {@code segment}.
     */
    void forward(int[] ids, Buf e, Buf p, int time, int segment, Buf x) {
        for (int r = 0; r < ids.length; r++) {
            int src = ids[r] * dm, dst = r * dm;
            for (int j = 0; j < dm; j++) {
                x.set(dst + j, e.get(src + j) * scale);
            }
            if (p != null && !segmentStart(r, time, segment)) {
                int prev = ids[r - 1] * dm;
                for (int j = 0; j < dm; j++) {
                    x.add(dst + j, p.get(prev + j) * scale);
                }
            }
        }
    }

    /** {@code dE[ids[n]] += dx[n] * scale}, accumulated into {@code de [V, D]}. */
    void backward(int[] ids, Buf dx, Buf de) {
        backward(ids, dx, de, null, 1, 1);
    }

    /**
     * {@code dE[ids[r]] += dx[r] * scale} into {@code de}, and with the token-shift gradient {@code dp} (null: none)
     * {@code dP[ids[r-1]] += dx[r] * scale} for the rows that are not the first of their segment.
     */
    void backward(int[] ids, Buf dx, Buf de, Buf dp, int time, int segment) {
        if (dp != null) {
            dp.zero();
        }
        for (int r = 0; r < ids.length; r++) {
            int dst = ids[r] * dm, src = r * dm;
            for (int j = 0; j < dm; j++) {
                de.add(dst + j, dx.get(src + j) * scale);
            }
            if (dp != null && !segmentStart(r, time, segment)) {
                int prev = ids[r - 1] * dm;
                for (int j = 0; j < dm; j++) {
                    dp.add(prev + j, dx.get(src + j) * scale);
                }
            }
        }
    }

    /** Row {@code r} of sequences of {@code time} tokens is the first of a segment of {@code segment}. */
    private static boolean segmentStart(int r, int time, int segment) {
        return (r % time) % segment == 0;
    }

    /** Whether this embedding adds the previous token's ({@link InfiniConfig#tokenShift}). */
    boolean shift() {
        return shift;
    }

    private void noShift() {
        if (shift) {
            throw new UnsupportedOperationException("token_shift models embed through FastSegment or the SameDiff "
                    + "graph; this entry point (the Deeplearning4j layer form) has no previous-token embedding");
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
