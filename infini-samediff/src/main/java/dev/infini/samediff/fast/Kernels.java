package dev.infini.samediff.fast;

/**
 * The element-wise parts of the decoder, forward and backward, as fused loops in plain Java: each reads whole rows
 * of its {@link Buf}s into double arrays ({@link Buf#read}), computes in double whatever the storage type, and
 * writes rows back ({@link Buf#write}). Matrices are row-major {@code [rows, cols]}.
 */
final class Kernels {
    private static final double GELU_C = Math.sqrt(2.0 / Math.PI);

    private Kernels() {
    }

    /**
     * RMSNorm {@code y = x / sqrt(mean(x^2) + eps) * s} with {@code s = 1 + w} (Gemma) or {@code w} (Llama),
     * docs/spec.md; keeps the per-row factor {@code inv [rows]} for the backward pass.
     */
    static void rmsNorm(Buf x, Buf w, boolean plusOne, double eps, int rows, int cols, Buf inv, Buf y) {
        double[] s = scale(w, plusOne, cols), xr = new double[cols];
        for (int r = 0; r < rows; r++) {
            x.read(r * cols, xr, cols);
            double ss = 0;
            for (int j = 0; j < cols; j++) {
                ss += xr[j] * xr[j];
            }
            double iv = 1.0 / Math.sqrt(ss / cols + eps);
            inv.set(r, iv);
            for (int j = 0; j < cols; j++) {
                xr[j] = xr[j] * iv * s[j];
            }
            y.write(r * cols, xr, cols);
        }
    }

    /**
     * RMSNorm backward: {@code dw = sum_rows dy * x_hat}, and {@code dx (+)= inv * (dy s - x_hat mean(dy s x_hat))}
     * added into {@code dx} when {@code accumulate}, else written.
     */
    static void rmsNormBackward(Buf x, Buf inv, Buf w, boolean plusOne, Buf dy, int rows, int cols,
                                Buf dw, Buf dx, boolean accumulate) {
        double[] s = scale(w, plusOne, cols), gw = new double[cols];
        double[] xr = new double[cols], gr = new double[cols], out = new double[cols];
        for (int r = 0; r < rows; r++) {
            int o = r * cols;
            x.read(o, xr, cols);
            dy.read(o, gr, cols);
            double iv = inv.get(r), dot = 0;
            for (int j = 0; j < cols; j++) {
                double xh = xr[j] * iv;
                gw[j] += gr[j] * xh;
                dot += gr[j] * s[j] * xh;
            }
            dot /= cols;
            if (accumulate) {
                dx.read(o, out, cols);
            }
            for (int j = 0; j < cols; j++) {
                double v = iv * (gr[j] * s[j] - xr[j] * iv * dot);
                out[j] = accumulate ? out[j] + v : v;
            }
            dx.write(o, out, cols);
        }
        dw.write(0, gw, cols);
    }

    private static double[] scale(Buf w, boolean plusOne, int cols) {
        double[] s = new double[cols];
        w.read(0, s, cols);
        for (int j = 0; plusOne && j < cols; j++) {
            s[j] += 1.0;
        }
        return s;
    }

    /**
     * RoPE in the rotate_half layout, {@code y = x cos + rotate_half(x) sin} with
     * {@code rotate_half(x) = concat(-x[d/2:], x[:d/2])}, on {@code x [B*S, heads*d]}; row {@code n} is position
     * {@code n mod S} (positions restart at 0 in every segment). {@code cos}, {@code sin} are {@code [S, d]}.
     */
    static void rope(Buf x, Buf y, int rows, int heads, int d, int seq, double[] cos, double[] sin) {
        int half = d / 2, cols = heads * d;
        double[] xr = new double[cols], yr = new double[cols];
        for (int r = 0; r < rows; r++) {
            int t = (r % seq) * d;
            x.read(r * cols, xr, cols);
            for (int o = 0; o < cols; o += d) {
                for (int j = 0; j < half; j++) {
                    yr[o + j] = xr[o + j] * cos[t + j] - xr[o + j + half] * sin[t + j];
                    yr[o + j + half] = xr[o + j + half] * cos[t + j + half] + xr[o + j] * sin[t + j + half];
                }
            }
            y.write(r * cols, yr, cols);
        }
    }

    /** RoPE backward: {@code dx = dy cos + (dy sin) R^T}, i.e. {@code dx_i += u_{i+d/2}} (i < d/2), {@code -u_{i-d/2}}. */
    static void ropeBackward(Buf dy, Buf dx, int rows, int heads, int d, int seq, double[] cos, double[] sin) {
        int half = d / 2, cols = heads * d;
        double[] gr = new double[cols], xr = new double[cols];
        for (int r = 0; r < rows; r++) {
            int t = (r % seq) * d;
            dy.read(r * cols, gr, cols);
            for (int o = 0; o < cols; o += d) {
                for (int i = 0; i < half; i++) {
                    xr[o + i] = gr[o + i] * cos[t + i] + gr[o + i + half] * sin[t + i + half];
                    xr[o + i + half] = gr[o + i + half] * cos[t + i + half] - gr[o + i] * sin[t + i];
                }
            }
            dx.write(r * cols, xr, cols);
        }
    }

    /** {@code sigma(x) = ELU(x) + 1} (the memory's feature map), times {@code rowMask[r]} when given. */
    static void sigma(Buf x, Buf y, int rows, int cols, double[] rowMask) {
        double[] xr = new double[cols];
        for (int r = 0; r < rows; r++) {
            double m = rowMask == null ? 1.0 : rowMask[r];
            x.read(r * cols, xr, cols);
            for (int j = 0; j < cols; j++) {
                double v = xr[j];
                xr[j] = m == 0 ? 0.0 : m * (v > 0 ? v + 1.0 : Math.exp(v));
            }
            y.write(r * cols, xr, cols);
        }
    }

    /** {@code d sigma(x)/dx = 1 (x > 0), exp(x) (x <= 0)}. */
    static double sigmaPrime(double x) {
        return x > 0 ? 1.0 : Math.exp(x);
    }

    /** {@code tanh} through {@code exp} (an intrinsic; {@code Math.tanh} is not): {@code 1 - 2 / (e^{2u} + 1)}. */
    static double tanh(double u) {
        if (u > 20) {
            return 1.0;
        }
        if (u < -20) {
            return -1.0;
        }
        return 1.0 - 2.0 / (Math.exp(2 * u) + 1.0);
    }

    /**
     * MLP activation forward, rows of {@code cols}: {@code mm = act(g) * up} with {@code act = gelu_tanh} or
     * {@code silu}; {@code aux} keeps {@code tanh(...)} (GeLU) or {@code sigmoid(g)} (SiLU) for the backward pass.
     */
    static void activation(Buf g, Buf up, Buf aux, Buf mm, int rows, int cols, boolean gelu) {
        double[] gr = new double[cols], ur = new double[cols], ar = new double[cols];
        for (int r = 0; r < rows; r++) {
            int o = r * cols;
            g.read(o, gr, cols);
            up.read(o, ur, cols);
            for (int i = 0; i < cols; i++) {
                double x = gr[i], a;
                if (gelu) {
                    double t = tanh(GELU_C * (x + 0.044715 * x * x * x));
                    ar[i] = t;
                    a = 0.5 * x * (1.0 + t);
                } else {
                    double sg = 1.0 / (1.0 + Math.exp(-x));
                    ar[i] = sg;
                    a = x * sg;
                }
                ur[i] *= a;
            }
            aux.write(o, ar, cols);
            mm.write(o, ur, cols);
        }
    }

    /**
     * MLP activation backward, in place: on entry {@code dgOut} holds {@code d(mm)}; on exit {@code dgOut} holds
     * {@code d(g) = d(mm) up act'(g)} and {@code dUp = d(mm) act(g)}.
     */
    static void activationBackward(Buf g, Buf up, Buf aux, Buf dgOut, Buf dUp, int rows, int cols, boolean gelu) {
        double[] gr = new double[cols], ur = new double[cols], ar = new double[cols], dr = new double[cols];
        for (int r = 0; r < rows; r++) {
            int o = r * cols;
            g.read(o, gr, cols);
            up.read(o, ur, cols);
            aux.read(o, ar, cols);
            dgOut.read(o, dr, cols);
            for (int i = 0; i < cols; i++) {
                double x = gr[i], dm = dr[i], a, prime;
                if (gelu) {
                    double t = ar[i];
                    a = 0.5 * x * (1.0 + t);
                    prime = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3 * 0.044715 * x * x);
                } else {
                    double sg = ar[i];
                    a = x * sg;
                    prime = sg * (1.0 + x * (1.0 - sg));
                }
                dr[i] = dm * ur[i] * prime;
                ur[i] = dm * a;
            }
            dUp.write(o, ur, cols);
            dgOut.write(o, dr, cols);
        }
    }

    /**
     * In-place softmax of one head's scores {@code [S, S]} at {@code off}: query row {@code s} sees keys
     * {@code t <= s} that are tokens ({@code mask[t] != 0}) and always itself (as the graph's bias does, so a
     * padded query has a defined row); masked entries get probability exactly 0.
     */
    static void causalSoftmax(Buf p, int off, int seq, double[] mask, int maskOff) {
        double[] row = new double[seq];
        for (int s = 0; s < seq; s++) {
            int o = off + s * seq;
            p.read(o, row, s + 1);
            double max = Double.NEGATIVE_INFINITY;
            for (int t = 0; t <= s; t++) {
                if (t == s || mask[maskOff + t] != 0) {
                    max = Math.max(max, row[t]);
                }
            }
            double sum = 0;
            for (int t = 0; t <= s; t++) {
                double e = t == s || mask[maskOff + t] != 0 ? Math.exp(row[t] - max) : 0.0;
                row[t] = e;
                sum += e;
            }
            double inv = 1.0 / sum;
            for (int t = 0; t <= s; t++) {
                row[t] *= inv;
            }
            java.util.Arrays.fill(row, s + 1, seq, 0.0);
            p.write(o, row, seq);
        }
    }

    /** Softmax backward of one head, in place on {@code dp [S, S]}: {@code dS = P (dP - rowsum(P dP))}. */
    static void softmaxBackward(Buf p, int pOff, Buf dp, int seq) {
        double[] pr = new double[seq], gr = new double[seq];
        for (int s = 0; s < seq; s++) {
            p.read(pOff + s * seq, pr, s + 1);
            dp.read(s * seq, gr, s + 1);
            double dot = 0;
            for (int t = 0; t <= s; t++) {
                dot += pr[t] * gr[t];
            }
            for (int t = 0; t <= s; t++) {
                gr[t] = pr[t] * (gr[t] - dot);
            }
            java.util.Arrays.fill(gr, s + 1, seq, 0.0);
            dp.write(s * seq, gr, seq);
        }
    }
}
