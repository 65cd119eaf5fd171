package dev.infini.samediff;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.function.Supplier;

/**
 * The constant tables of the attention graphs: rotary (RoPE) cos/sin tables and the rotate-half matrix,
 * the causal bias, the padding bias's off-diagonal mask and the decode step's bias, and the
 * {@link InfiniAttention.SegmentContext} built from them for a segment ({@link #segmentContext}) or a
 * decode step ({@link #stepContext}). Tables are full-size (no broadcasting, see {@link InfiniAttention#ones}).
 */
public final class GraphTables {
    private GraphTables() {
    }

    /**
     * What the layers of one segment share: padding mask, causal+padding bias, RoPE tables (positions
     * 0..S-1). Constants are created once per graph and shape.
     *
     * @param mask {@code [B, S]}, 1 for a token, 0 for padding
     */
    public static InfiniAttention.SegmentContext segmentContext(SameDiff sd, InfiniConfig c, String tag, int b, int s,
                                                                DataType dtype, SDVariable mask) {
        int hd = c.headDim(), nh = c.numHeads(), nkv = c.numKvHeads(), g = c.groupSize();
        long n = (long) b * s;
        String shape = "." + b + "x" + s;
        SDVariable tokenMask = sd.reshape(tag + "token_mask", mask, n, 1);
        // Padded keys: (mask - 1) * 1e9 in every query row, expanded by [B, Hkv*g*S, 1] x [B, 1, S], except
        // on the diagonal: a padded query still sees itself, so a segment of nothing but padding has no row
        // that is masked everywhere (libnd4j's softmax turns such a row into NaN); its outputs are ignored.
        SDVariable padRow = sd.reshape(mask.sub(1.0).mul(-InfiniAttention.MASKED), b, 1, s);
        SDVariable onesCol = constant(sd, "ones.pad_rows" + shape, () -> Nd4j.ones(dtype, b, (long) nkv * g * s, 1));
        SDVariable offDiagonal = constant(sd, "off_diagonal" + shape, () -> offDiagonal(b, nkv, g, s, dtype));
        SDVariable padBias = sd.reshape(sd.mmul(onesCol, padRow), b, nkv, (long) g * s, s).mul(offDiagonal);
        SDVariable bias = constant(sd, "causal_bias" + shape, () -> causalBias(b, nkv, g, s, dtype)).add(tag + "attn_bias", padBias);
        double[][] angles = ropeAngles(s, hd, c.ropeTheta());
        return new InfiniAttention.SegmentContext(tokenMask, bias,
                constant(sd, "rope.cos_q" + shape, () -> ropeTable(angles, b, nh, true, dtype)),
                constant(sd, "rope.sin_q" + shape, () -> ropeTable(angles, b, nh, false, dtype)),
                constant(sd, "rope.cos_k" + shape, () -> ropeTable(angles, b, nkv, true, dtype)),
                constant(sd, "rope.sin_k" + shape, () -> ropeTable(angles, b, nkv, false, dtype)),
                constant(sd, "rope.rotate_half", () -> rotateHalf(hd, dtype)));
    }

    /**
     * The context of a decode step: rows of full-segment tables picked by {@code pos} {@code [B]}, the RoPE
     * angles and the key bias {@code [B, 1, 1, S+1]} (cache slots before the position and the token itself
     * visible, the rest masked).
     */
    static InfiniAttention.SegmentContext stepContext(SameDiff sd, InfiniConfig c, int batch, DataType dtype,
                                                      SDVariable pos) {
        int s = c.segmentSize(), hd = c.headDim(), nh = c.numHeads(), nkv = c.numKvHeads();
        double[][] angles = ropeAngles(s, hd, c.ropeTheta());
        SDVariable bias = sd.reshape("step.bias", sd.gather(sd.constant("step.bias_table", stepBias(s, dtype)), pos, 0),
                batch, 1, 1, s + 1);
        return new InfiniAttention.SegmentContext(null, bias,
                sd.gather(sd.constant("rope.cos_q", ropeTable(angles, 1, nh, true, dtype)), pos, 0),
                sd.gather(sd.constant("rope.sin_q", ropeTable(angles, 1, nh, false, dtype)), pos, 0),
                sd.gather(sd.constant("rope.cos_k", ropeTable(angles, 1, nkv, true, dtype)), pos, 0),
                sd.gather(sd.constant("rope.sin_k", ropeTable(angles, 1, nkv, false, dtype)), pos, 0),
                sd.constant("rope.rotate_half", rotateHalf(hd, dtype)));
    }

    /** The graph's constant {@code name}, created from {@code value} the first time. */
    static SDVariable constant(SameDiff sd, String name, Supplier<INDArray> value) {
        return sd.hasVariable(name) ? sd.getVariable(name) : sd.constant(name, value.get());
    }

    /** {@code [S, S+1]}: row p is 0 for cache slots {@code < p} and for the new token (last column), MASKED elsewhere. */
    static INDArray stepBias(int s, DataType dtype) {
        float[] t = new float[s * (s + 1)];
        for (int p = 0; p < s; p++) {
            for (int j = p; j < s; j++) {
                t[p * (s + 1) + j] = (float) InfiniAttention.MASKED;
            }
        }
        return Nd4j.create(t, new long[] {s, s + 1}).castTo(dtype);
    }

    /** {@code [B, Hkv, g*S, S]}: 0 on and below the diagonal of each query head's block, MASKED above. */
    static INDArray causalBias(int b, int nkv, int g, int s, DataType dtype) {
        float[] block = new float[g * s * s];
        for (int j = 0; j < g; j++) {
            for (int r = 0; r < s; r++) {
                for (int col = r + 1; col < s; col++) {
                    block[(j * s + r) * s + col] = (float) InfiniAttention.MASKED;
                }
            }
        }
        return perBatchAndKvHead(block, b, nkv, g, s, dtype);
    }

    /** {@code [B, Hkv, g*S, S]}: 0 where a query row meets its own key, 1 elsewhere. */
    static INDArray offDiagonal(int b, int nkv, int g, int s, DataType dtype) {
        float[] block = new float[g * s * s];
        java.util.Arrays.fill(block, 1f);
        for (int j = 0; j < g; j++) {
            for (int r = 0; r < s; r++) {
                block[(j * s + r) * s + r] = 0f;
            }
        }
        return perBatchAndKvHead(block, b, nkv, g, s, dtype);
    }

    /** One {@code [g*S, S]} block repeated to {@code [B, Hkv, g*S, S]}. */
    private static INDArray perBatchAndKvHead(float[] block, int b, int nkv, int g, int s, DataType dtype) {
        INDArray one = Nd4j.create(block, new long[] {1, 1, (long) g * s, s}).castTo(dtype);
        return one.repeat(0, b).repeat(1, nkv).reshape(b, nkv, (long) g * s, s).dup();
    }

    /** Rotary angles {@code [S, d]}: position t times {@code theta^(-2i/d)} for {@code i = j mod d/2}. */
    static double[][] ropeAngles(int s, int hd, double theta) {
        double[][] a = new double[s][hd];
        for (int t = 0; t < s; t++) {
            for (int j = 0; j < hd; j++) {
                int i = j % (hd / 2);
                a[t][j] = t * Math.pow(theta, -2.0 * i / hd);
            }
        }
        return a;
    }

    /** Full-size table {@code [B*S, heads*d]} of cos or sin, so no broadcasting multiply is needed. */
    static INDArray ropeTable(double[][] angles, int b, int heads, boolean cos, DataType dtype) {
        int s = angles.length, hd = angles[0].length;
        double[] out = new double[b * s * heads * hd];
        int k = 0;
        for (int bi = 0; bi < b; bi++) {
            for (int t = 0; t < s; t++) {
                for (int h = 0; h < heads; h++) {
                    for (int j = 0; j < hd; j++) {
                        out[k++] = cos ? Math.cos(angles[t][j]) : Math.sin(angles[t][j]);
                    }
                }
            }
        }
        return Nd4j.create(out, new long[] {(long) b * s, (long) heads * hd}, DataType.DOUBLE).castTo(dtype);
    }

    /** {@code R [d, d]} with {@code x R = rotate_half(x) = concat(-x[d/2:], x[:d/2])}. */
    static INDArray rotateHalf(int hd, DataType dtype) {
        INDArray r = Nd4j.zeros(DataType.DOUBLE, hd, hd);
        int half = hd / 2;
        for (int j = 0; j < half; j++) {
            r.putScalar(j + half, j, -1.0);
            r.putScalar(j, j + half, 1.0);
        }
        return r.castTo(dtype);
    }
}
