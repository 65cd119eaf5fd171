package dev.infini.samediff.fast;

import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.ModelFamily;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * The fast kernel's final RMSNorm, LM head and next-token loss for {@code N} rows, shared by
 * {@link FastSegment} and the DL4J head layer: {@code h_f = rmsnorm(x) w_norm}, {@code logits = h_f W^T}
 * ({@code W} the head, or the embedding when tied), {@code NLL_SUM = -sum_n w_n log softmax(logits_n)[y_n]}
 * and the exact backward of {@code NLL_SUM}. Holds its buffers for one row count; not thread-safe (the public
 * calls are synchronized).
 */
public final class FastHead {
    private final int n;
    private final int dm;
    private final int voc;
    private final boolean gemma;
    private final double eps;
    private final DataType dtype;
    private final Buf invF;      // [N]
    private final Buf hf;        // [N, D]
    final Buf logits;            // [N, V]
    private final double[] lse;  // [N]   log-sum-exp of each logits row
    private Buf dlogits;         // [N, V]  allocated by the first gradient call
    private Buf dhf;             // [N, D]

    /** @param rows {@code N}, the rows of every call; {@code dtype} float32 or float64 */
    public FastHead(InfiniConfig config, int rows, DataType dtype) {
        if (dtype != DataType.FLOAT && dtype != DataType.DOUBLE) {
            throw new IllegalArgumentException("float32 or float64 only, got " + dtype);
        }
        this.n = rows;
        this.dm = config.hiddenSize();
        this.voc = config.vocabSize();
        this.gemma = config.family() == ModelFamily.GEMMA;
        this.eps = config.rmsNormEps();
        this.dtype = dtype;
        invF = Buf.zeros(dtype, n);
        hf = Buf.zeros(dtype, n, dm);
        logits = Buf.zeros(dtype, n, voc);
        lse = new double[n];
    }

    /** Loss and gradients of {@code NLL_SUM} (new arrays): {@code dNorm [D]}, {@code dHead [V, D]}, {@code dx [N, D]}. */
    public record Gradients(double nllSum, INDArray dNorm, INDArray dHead, INDArray dx) {
    }

    /** Logits {@code [N, V]} (a new array) of {@code x [N, D]}, final norm weight {@code [D]}, head {@code [V, D]}. */
    public synchronized INDArray logits(INDArray x, INDArray norm, INDArray head) {
        forward(Buf.of(x, dtype), Buf.of(norm, dtype), Buf.of(head, dtype));
        return logits.arr.dup();
    }

    /** {@code NLL_SUM} of labels {@code y [N]} weighted by {@code w [N]} (0: not counted), no gradients. */
    public synchronized double nllSum(INDArray x, INDArray norm, INDArray head, int[] y, double[] w) {
        forward(Buf.of(x, dtype), Buf.of(norm, dtype), Buf.of(head, dtype));
        return nll(y, w, false);
    }

    /** Forward and backward of {@code NLL_SUM}; every returned array is new. */
    public synchronized Gradients nllBackward(INDArray x, INDArray norm, INDArray head, int[] y, double[] w) {
        Buf xb = Buf.of(x, dtype), nb = Buf.of(norm, dtype), hb = Buf.of(head, dtype);
        forward(xb, nb, hb);
        double nll = nll(y, w, true);
        Buf dNorm = Buf.zeros(dtype, dm), dHead = Buf.zeros(dtype, voc, dm), dx = Buf.zeros(dtype, n, dm);
        backward(xb, nb, hb, dNorm, dHead, dx);
        return new Gradients(nll, dNorm.arr, dHead.arr, dx.arr);
    }

    /** {@code h_f = rmsnorm(x) w_norm}, {@code logits = h_f W^T}  [N, V]. */
    void forward(Buf x, Buf norm, Buf head) {
        Kernels.rmsNorm(x, norm, gemma, eps, n, dm, invF, hf);
        Blas.xwt(n, voc, dm, hf, head, 0, logits);
    }

    /**
     * {@code NLL_SUM} of the last {@link #forward}; with {@code gradient}, writes
     * {@code dlogits = w_n (softmax(logits_n) - onehot(y_n))}.
     */
    double nll(int[] y, double[] w, boolean gradient) {
        if (y.length != n || w.length != n) {
            throw new IllegalArgumentException("labels and weights must have " + n + " rows, got " + y.length + ", " + w.length);
        }
        if (gradient && dlogits == null) {
            dlogits = Buf.zeros(dtype, n, voc);
            dhf = Buf.zeros(dtype, n, dm);
        }
        for (int r = 0; r < n; r++) {
            if (w[r] != 0 && (y[r] < 0 || y[r] >= voc)) {
                throw new IllegalArgumentException("label " + y[r] + " is outside the vocabulary [0, " + voc + ")");
            }
        }
        double[] nll = new double[1];
        Par.range(n, (long) n * voc, (from, to) -> {
            double[] row = new double[voc], part = new double[1];
            float[] tmp = new float[voc];
            for (int r = from; r < to; r++) {
                logits.read(r * voc, row, voc, tmp);
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (int j = 0; j < voc; j++) {
                    max = Math.max(max, row[j]);
                }
                for (int j = 0; j < voc; j++) {
                    sum += Math.exp(row[j] - max);
                }
                lse[r] = max + Math.log(sum);
                if (w[r] != 0) {
                    part[0] -= w[r] * (row[y[r]] - lse[r]);
                }
                if (gradient) {
                    gradientRow(row, r, y[r], w[r]);
                    dlogits.write(r * voc, row, voc, tmp);
                }
            }
            Kernels.addInto(nll, part);
        });
        return nll[0];
    }

    /** {@code row := w (softmax(row) - onehot(y))}, zero where {@code w} is 0. */
    private void gradientRow(double[] row, int r, int y, double w) {
        if (w == 0) {
            Arrays.fill(row, 0.0);
        } else {
            for (int j = 0; j < voc; j++) {
                row[j] = w * Math.exp(row[j] - lse[r]);
            }
            row[y] -= w;
        }
    }

    /**
     * Backward of the last {@link #nll} with gradient: {@code dHead = dlogits^T h_f} (overwritten), then the final
     * norm's {@code dNorm} (written) and {@code dx [N, D]} (overwritten).
     */
    void backward(Buf x, Buf norm, Buf head, Buf dNorm, Buf dHead, Buf dx) {
        Blas.atb(voc, dm, n, dlogits, hf, 0, dHead);
        Blas.xw(n, dm, voc, dlogits, head, 0, dhf);
        Kernels.rmsNormBackward(x, invF, norm, gemma, dhf, n, dm, dNorm, dx, false);
    }
}
