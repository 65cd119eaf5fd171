package dev.infini.samediff.fast;

/**
 * The element-wise parts of the decoder, forward and backward, as fused loops in plain Java: each reads whole rows
 * of its {@link Buf}s into double arrays ({@link Buf#read}), computes in double whatever the storage type, and
 * writes rows back ({@link Buf#write}); rows are split over threads with {@link Par}. Matrices are row-major
 * {@code [rows, cols]}.
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
        double[] s = scale(w, plusOne, cols);
        if (x.isFloat()) {
            FloatKernels.rmsNorm(x, toFloat(s), eps, rows, cols, inv, y);
            return;
        }
        Par.range(rows, (long) rows * cols, (from, to) -> {
            double[] xr = new double[cols];
            float[] tmp = new float[cols];
            for (int r = from; r < to; r++) {
                x.read(r * cols, xr, cols, tmp);
                double ss = 0;
                for (int j = 0; j < cols; j++) {
                    ss += xr[j] * xr[j];
                }
                double iv = 1.0 / Math.sqrt(ss / cols + eps);
                inv.set(r, iv);
                for (int j = 0; j < cols; j++) {
                    xr[j] = xr[j] * iv * s[j];
                }
                y.write(r * cols, xr, cols, tmp);
            }
        });
    }

    /**
     * RMSNorm backward: {@code dw = sum_rows dy * x_hat}, and {@code dx (+)= inv * (dy s - x_hat mean(dy s x_hat))}
     * added into {@code dx} when {@code accumulate}, else written.
     */
    static void rmsNormBackward(Buf x, Buf inv, Buf w, boolean plusOne, Buf dy, int rows, int cols,
                                Buf dw, Buf dx, boolean accumulate) {
        double[] s = scale(w, plusOne, cols), gw = new double[cols];
        if (x.isFloat()) {
            FloatKernels.rmsNormBackward(x, inv, toFloat(s), dy, rows, cols, gw, dx, accumulate);
            dw.write(0, gw, cols, new float[cols]);
            return;
        }
        Par.range(rows, (long) rows * cols, (from, to) -> {
            double[] xr = new double[cols], gr = new double[cols], out = new double[cols], part = new double[cols];
            float[] tmp = new float[cols];
            for (int r = from; r < to; r++) {
                int o = r * cols;
                x.read(o, xr, cols, tmp);
                dy.read(o, gr, cols, tmp);
                double iv = inv.get(r), dot = 0;
                for (int j = 0; j < cols; j++) {
                    double xh = xr[j] * iv;
                    part[j] += gr[j] * xh;
                    dot += gr[j] * s[j] * xh;
                }
                dot /= cols;
                if (accumulate) {
                    dx.read(o, out, cols, tmp);
                }
                for (int j = 0; j < cols; j++) {
                    double v = iv * (gr[j] * s[j] - xr[j] * iv * dot);
                    out[j] = accumulate ? out[j] + v : v;
                }
                dx.write(o, out, cols, tmp);
            }
            addInto(gw, part);
        });
        dw.write(0, gw, cols, new float[cols]);
    }

    /** {@code total += part}, for per-thread partial sums. */
    static void addInto(double[] total, double[] part) {
        synchronized (total) {
            for (int j = 0; j < part.length; j++) {
                total[j] += part[j];
            }
        }
    }

    private static float[] toFloat(double[] a) {
        float[] f = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            f[i] = (float) a[i];
        }
        return f;
    }

    private static double[] scale(Buf w, boolean plusOne, int cols) {
        double[] s = new double[cols];
        w.read(0, s, cols, new float[cols]);
        for (int j = 0; plusOne && j < cols; j++) {
            s[j] += 1.0;
        }
        return s;
    }

    /**
     * One pass over the raw projection {@code x [B*S, heads*d]} (Q or K, before RoPE) giving both its RoPE
     * {@code rot = x cos + rotate_half(x) sin} with {@code rotate_half(x) = concat(-x[d/2:], x[:d/2])} (row
     * {@code n} at position {@code n mod S}: positions restart at 0 in every segment; {@code cos}, {@code sin} are
     * {@code [S, d]}) and the memory's feature map {@code sig = (ELU(x) + 1) * mask[row]} ({@code mask} null: 1).
     */
    static void ropeAndSigma(Buf x, Buf rot, Buf sig, int rows, int heads, int d, int seq, double[] cos, double[] sin,
                             double[] mask) {
        int half = d / 2, cols = heads * d;
        Par.range(rows, (long) rows * cols, (from, to) -> {
            double[] xr = new double[cols], yr = new double[cols];
            float[] tmp = new float[cols];
            for (int r = from; r < to; r++) {
                int t = (r % seq) * d;
                x.read(r * cols, xr, cols, tmp);
                for (int o = 0; o < cols; o += d) {
                    for (int j = 0; j < half; j++) {
                        yr[o + j] = xr[o + j] * cos[t + j] - xr[o + j + half] * sin[t + j];
                        yr[o + j + half] = xr[o + j + half] * cos[t + j + half] + xr[o + j] * sin[t + j + half];
                    }
                }
                rot.write(r * cols, yr, cols, tmp);
                double m = mask == null ? 1.0 : mask[r];
                for (int j = 0; j < cols; j++) {
                    double v = xr[j];
                    yr[j] = m == 0 ? 0.0 : m * (v > 0 ? v + 1.0 : Math.exp(v));
                }
                sig.write(r * cols, yr, cols, tmp);
            }
        });
    }

    /**
     * Backward of {@link #ropeAndSigma}: {@code dx = dRot cos + (dRot sin) R^T + dSig * mask * sigma'(x)}, where
     * {@code (u R^T)_i = u_{i+d/2}} for {@code i < d/2} and {@code -u_{i-d/2}} otherwise.
     */
    static void ropeAndSigmaBackward(Buf dRot, Buf dSig, Buf x, Buf dx, int rows, int heads, int d, int seq,
                                     double[] cos, double[] sin, double[] mask) {
        int half = d / 2, cols = heads * d;
        Par.range(rows, (long) rows * cols, (from, to) -> {
            double[] gr = new double[cols], sr = new double[cols], xr = new double[cols];
            float[] tmp = new float[cols];
            for (int r = from; r < to; r++) {
                int t = (r % seq) * d;
                dRot.read(r * cols, gr, cols, tmp);
                dSig.read(r * cols, sr, cols, tmp);
                x.read(r * cols, xr, cols, tmp);
                double m = mask == null ? 1.0 : mask[r];
                for (int j = 0; j < cols; j++) {
                    xr[j] = m == 0 ? 0.0 : m * sr[j] * sigmaPrime(xr[j]);
                }
                for (int o = 0; o < cols; o += d) {
                    for (int i = 0; i < half; i++) {
                        xr[o + i] += gr[o + i] * cos[t + i] + gr[o + i + half] * sin[t + i + half];
                        xr[o + i + half] += gr[o + i + half] * cos[t + i + half] - gr[o + i] * sin[t + i];
                    }
                }
                dx.write(r * cols, xr, cols, tmp);
            }
        });
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
        if (g.isFloat()) {
            FloatKernels.activation(g, up, aux, mm, rows, cols, gelu);
            return;
        }
        Par.range(rows, (long) rows * cols, (from, to) -> {
            double[] gr = new double[cols], ur = new double[cols], ar = new double[cols];
            float[] tmp = new float[cols];
            for (int r = from; r < to; r++) {
                int o = r * cols;
                g.read(o, gr, cols, tmp);
                up.read(o, ur, cols, tmp);
                for (int i = 0; i < cols; i++) {
                    double x = gr[i];
                    ar[i] = gelu ? tanh(GELU_C * (x + 0.044715 * x * x * x)) : 1.0 / (1.0 + Math.exp(-x));
                }
                for (int i = 0; i < cols; i++) {            // act = 0.5 x (1 + t) or x sigmoid(x); mm = act * up
                    double x = gr[i];
                    ur[i] *= gelu ? 0.5 * x * (1.0 + ar[i]) : x * ar[i];
                }
                aux.write(o, ar, cols, tmp);
                mm.write(o, ur, cols, tmp);
            }
        });
    }

    /**
     * MLP activation backward, in place: on entry {@code dgOut} holds {@code d(mm)}; on exit {@code dgOut} holds
     * {@code d(g) = d(mm) up act'(g)} and {@code dUp = d(mm) act(g)}.
     */
    static void activationBackward(Buf g, Buf up, Buf aux, Buf dgOut, Buf dUp, int rows, int cols, boolean gelu) {
        if (g.isFloat()) {
            FloatKernels.activationBackward(g, up, aux, dgOut, dUp, rows, cols, gelu);
            return;
        }
        Par.range(rows, (long) rows * cols, (from, to) -> {
            double[] gr = new double[cols], ur = new double[cols], ar = new double[cols], dr = new double[cols];
            float[] tmp = new float[cols];
            for (int r = from; r < to; r++) {
                int o = r * cols;
                g.read(o, gr, cols, tmp);
                up.read(o, ur, cols, tmp);
                aux.read(o, ar, cols, tmp);
                dgOut.read(o, dr, cols, tmp);
                if (gelu) {
                    for (int i = 0; i < cols; i++) {
                        double x = gr[i], dm = dr[i], t = ar[i];
                        double prime = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3 * 0.044715 * x * x);
                        dr[i] = dm * ur[i] * prime;
                        ur[i] = dm * 0.5 * x * (1.0 + t);
                    }
                } else {
                    for (int i = 0; i < cols; i++) {
                        double x = gr[i], dm = dr[i], sg = ar[i];
                        dr[i] = dm * ur[i] * sg * (1.0 + x * (1.0 - sg));
                        ur[i] = dm * x * sg;
                    }
                }
                dUp.write(o, ur, cols, tmp);
                dgOut.write(o, dr, cols, tmp);
            }
        });
    }

    /**
     * In-place softmax of every head's scores {@code p [B, S, H, S]}: query row {@code s} sees keys {@code t <= s}
     * that are tokens ({@code mask[b*S + t] != 0}) and always itself (as the graph's bias does, so a padded query
     * has a defined row); masked entries get probability exactly 0.
     */
    static void causalSoftmax(Buf p, int batch, int heads, int seq, double[] mask) {
        if (p.isFloat()) {
            FloatKernels.causalSoftmax(p, batch, heads, seq, mask);
            return;
        }
        Par.range(batch * heads * seq, (long) batch * heads * seq * seq / 2, (from, to) -> {
            double[] row = new double[seq];
            float[] tmp = new float[seq];
            for (int q = from; q < to; q++) {
                int s = (q / heads) % seq, maskOff = (q / (heads * seq)) * seq, o = q * seq;
                p.read(o, row, s + 1, tmp);
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
                p.write(o, row, seq, tmp);
            }
        });
    }

    /** Softmax backward of every head, in place on {@code dp [B, S, H, S]}: {@code dS = P (dP - rowsum(P dP))}. */
    static void softmaxBackward(Buf p, Buf dp, int rows, int heads, int seq) {
        if (p.isFloat()) {
            FloatKernels.softmaxBackward(p, dp, rows, heads, seq);
            return;
        }
        Par.range(rows, (long) rows * seq / 2, (from, to) -> {
            double[] pr = new double[seq], gr = new double[seq];
            float[] tmp = new float[seq];
            for (int q = from; q < to; q++) {
                int s = (q / heads) % seq, o = q * seq;
                p.read(o, pr, s + 1, tmp);
                dp.read(o, gr, s + 1, tmp);
                double dot = 0;
                for (int t = 0; t <= s; t++) {
                    dot += pr[t] * gr[t];
                }
                for (int t = 0; t <= s; t++) {
                    gr[t] = pr[t] * (gr[t] - dot);
                }
                java.util.Arrays.fill(gr, s + 1, seq, 0.0);
                dp.write(o, gr, seq, tmp);
            }
        });
    }
}
