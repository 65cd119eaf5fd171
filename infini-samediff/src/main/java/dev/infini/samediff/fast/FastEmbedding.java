package dev.infini.samediff.fast;

import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.ModelFamily;
import dev.infini.samediff.TensorNames;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Map;

/**
 * The fast kernel's token embedding, shared by {@link FastSegment} and the DL4J embedding layer:
 * {@code x = E[ids] * scale} (scale {@code sqrt(D)} for Gemma, else 1; the graph's one-hot x E) and its
 * backward {@code dE[ids[n]] += dx[n] * scale}. With {@link InfiniConfig#tokenShift} (beyond the paper; spec,
 * "Beyond the paper: token shift") position {@code t > 0} of each segment row also adds
 * {@code P[ids[t-1]] * scale} ({@link TensorNames#PREV_EMBED}), and the backward
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
     * Forward on new arrays (the DL4J layer form).
     *
     * @param e       the embedding {@code [V, D]}
     * @param p       the previous-token table {@code [V, D]} of a {@code token_shift} model, else null
     * @param ids     {@code [B*T]} token ids (checked against the vocabulary), rows of {@code time} tokens
     * @param segment the segment length: the shift restarts at every {@code t % segment == 0} of a row
     * @return {@code x [N, D]}, a new array
     */
    public INDArray forward(INDArray e, INDArray p, int[] ids, int time, int segment) {
        checkTable(p);
        check(ids);
        Buf x = Buf.zeros(dtype, ids.length, dm);
        forward(ids, Buf.of(e, dtype), p == null ? null : Buf.of(p, dtype), time, segment, x);
        return x.arr;
    }

    /**
     * Backward of {@link #forward(INDArray, INDArray, int[], int, int)} on new arrays.
     *
     * @param dx {@code [N, D]} gradient of the output
     * @return by name, {@code dE [V, D]} and with the token shift {@code dP [V, D]}
     */
    public Map<String, INDArray> backward(int[] ids, INDArray dx, int time, int segment) {
        check(ids);
        Buf de = Buf.zeros(dtype, vocab, dm), dp = shift ? Buf.zeros(dtype, vocab, dm) : null;
        backward(ids, Buf.of(dx, dtype), de, dp, time, segment);
        return dp == null ? Map.of(TensorNames.EMBED, de.arr) : Map.of(TensorNames.EMBED, de.arr, TensorNames.PREV_EMBED, dp.arr);
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

    private void checkTable(INDArray p) {
        if (shift != (p != null)) {
            throw new IllegalArgumentException(shift ? "a token_shift model needs its previous-token table"
                    : "a previous-token table was given to a model without token_shift");
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
