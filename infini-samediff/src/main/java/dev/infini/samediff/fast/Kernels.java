package dev.infini.samediff.fast;

/**
 * The element-wise parts of the decoder, forward and backward, as fused loops in plain Java over {@link Buf}s
 * (computing in double whatever the storage type). Matrices are row-major {@code [rows, cols]}.
 */
final class Kernels {
    private Kernels() {
    }

    /**
     * RMSNorm {@code y = x / sqrt(mean(x^2) + eps) * s} with {@code s = 1 + w} (Gemma) or {@code w} (Llama),
     * docs/spec.md; keeps the per-row factor {@code inv [rows]} for the backward pass.
     */
    static void rmsNorm(Buf x, Buf w, boolean plusOne, double eps, int rows, int cols, Buf inv, Buf y) {
        double[] s = scale(w, plusOne, cols);
        for (int r = 0; r < rows; r++) {
            int o = r * cols;
            double ss = 0;
            for (int j = 0; j < cols; j++) {
                double v = x.get(o + j);
                ss += v * v;
            }
            double iv = 1.0 / Math.sqrt(ss / cols + eps);
            inv.set(r, iv);
            for (int j = 0; j < cols; j++) {
                y.set(o + j, x.get(o + j) * iv * s[j]);
            }
        }
    }

    /**
     * RMSNorm backward: {@code dw = sum_rows dy * x_hat}, and {@code dx (+)= inv * (dy s - x_hat mean(dy s x_hat))}
     * added into {@code dx} when {@code accumulate}, else written.
     */
    static void rmsNormBackward(Buf x, Buf inv, Buf w, boolean plusOne, Buf dy, int rows, int cols,
                                Buf dw, Buf dx, boolean accumulate) {
        double[] s = scale(w, plusOne, cols);
        double[] gw = new double[cols];
        for (int r = 0; r < rows; r++) {
            int o = r * cols;
            double iv = inv.get(r), dot = 0;
            for (int j = 0; j < cols; j++) {
                double xh = x.get(o + j) * iv, g = dy.get(o + j);
                gw[j] += g * xh;
                dot += g * s[j] * xh;
            }
            dot /= cols;
            for (int j = 0; j < cols; j++) {
                double v = iv * (dy.get(o + j) * s[j] - x.get(o + j) * iv * dot);
                if (accumulate) {
                    dx.add(o + j, v);
                } else {
                    dx.set(o + j, v);
                }
            }
        }
        for (int j = 0; j < cols; j++) {
            dw.set(j, gw[j]);
        }
    }

    private static double[] scale(Buf w, boolean plusOne, int cols) {
        double[] s = new double[cols];
        for (int j = 0; j < cols; j++) {
            s[j] = plusOne ? 1.0 + w.get(j) : w.get(j);
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
        for (int r = 0; r < rows; r++) {
            int t = (r % seq) * d;
            for (int h = 0; h < heads; h++) {
                int o = r * cols + h * d;
                for (int j = 0; j < d; j++) {
                    double rot = j < half ? -x.get(o + j + half) : x.get(o + j - half);
                    y.set(o + j, x.get(o + j) * cos[t + j] + rot * sin[t + j]);
                }
            }
        }
    }

    /** RoPE backward: {@code dx = dy cos + (dy sin) R^T}, i.e. {@code dx_i += u_{i+d/2}} (i < d/2), {@code -u_{i-d/2}}. */
    static void ropeBackward(Buf dy, Buf dx, int rows, int heads, int d, int seq, double[] cos, double[] sin) {
        int half = d / 2, cols = heads * d;
        for (int r = 0; r < rows; r++) {
            int t = (r % seq) * d;
            for (int h = 0; h < heads; h++) {
                int o = r * cols + h * d;
                for (int i = 0; i < d; i++) {
                    double rot = i < half ? dy.get(o + i + half) * sin[t + i + half] : -dy.get(o + i - half) * sin[t + i - half];
                    dx.set(o + i, dy.get(o + i) * cos[t + i] + rot);
                }
            }
        }
    }

    /** {@code sigma(x) = ELU(x) + 1} (the memory's feature map), times {@code rowMask[r]} when given. */
    static void sigma(Buf x, Buf y, int rows, int cols, double[] rowMask) {
        for (int r = 0; r < rows; r++) {
            double m = rowMask == null ? 1.0 : rowMask[r];
            for (int j = r * cols, e = j + cols; j < e; j++) {
                double v = x.get(j);
                y.set(j, m == 0 ? 0.0 : m * (v > 0 ? v + 1.0 : Math.exp(v)));
            }
        }
    }

    /** {@code d sigma(x)/dx = 1 (x > 0), exp(x) (x <= 0)}. */
    static double sigmaPrime(double x) {
        return x > 0 ? 1.0 : Math.exp(x);
    }

    /** MLP activation forward: {@code act = gelu_tanh(g)} or {@code silu(g)}, {@code mm = act * up}. */
    static void activation(Buf g, Buf up, Buf act, Buf mm, int n, boolean gelu) {
        for (int i = 0; i < n; i++) {
            double x = g.get(i), a;
            if (gelu) {
                a = 0.5 * x * (1.0 + Math.tanh(GELU_C * (x + 0.044715 * x * x * x)));
            } else {
                a = x / (1.0 + Math.exp(-x));
            }
            act.set(i, a);
            mm.set(i, a * up.get(i));
        }
    }

    private static final double GELU_C = Math.sqrt(2.0 / Math.PI);

    /**
     * MLP activation backward, in place: on entry {@code dgOut} holds {@code d(mm)}; on exit {@code dgOut} holds
     * {@code d(g) = d(mm) up act'(g)} and {@code dUp = d(mm) act}.
     */
    static void activationBackward(Buf g, Buf up, Buf act, Buf dgOut, Buf dUp, int n, boolean gelu) {
        for (int i = 0; i < n; i++) {
            double x = g.get(i), dm = dgOut.get(i), prime;
            if (gelu) {
                double t = Math.tanh(GELU_C * (x + 0.044715 * x * x * x));
                prime = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3 * 0.044715 * x * x);
            } else {
                double sg = 1.0 / (1.0 + Math.exp(-x));
                prime = sg * (1.0 + x * (1.0 - sg));
            }
            dUp.set(i, dm * act.get(i));
            dgOut.set(i, dm * up.get(i) * prime);
        }
    }

    /**
     * In-place softmax of one head's scores {@code [S, S]} at {@code off}: query row {@code s} sees keys
     * {@code t <= s} that are tokens ({@code mask[t] != 0}) and always itself (as the graph's bias does, so a
     * padded query has a defined row); masked entries get probability exactly 0.
     */
    static void causalSoftmax(Buf p, int off, int seq, double[] mask, int maskOff) {
        for (int s = 0; s < seq; s++) {
            int o = off + s * seq;
            double max = Double.NEGATIVE_INFINITY;
            for (int t = 0; t <= s; t++) {
                if (t == s || mask[maskOff + t] != 0) {
                    max = Math.max(max, p.get(o + t));
                }
            }
            double sum = 0;
            for (int t = 0; t <= s; t++) {
                if (t == s || mask[maskOff + t] != 0) {
                    double e = Math.exp(p.get(o + t) - max);
                    p.set(o + t, e);
                    sum += e;
                } else {
                    p.set(o + t, 0.0);
                }
            }
            double inv = 1.0 / sum;
            for (int t = 0; t <= s; t++) {
                p.set(o + t, p.get(o + t) * inv);
            }
            for (int t = s + 1; t < seq; t++) {
                p.set(o + t, 0.0);
            }
        }
    }

    /** Softmax backward of one head, in place on {@code dp [S, S]}: {@code dS = P (dP - rowsum(P dP))}. */
    static void softmaxBackward(Buf p, int pOff, Buf dp, int seq) {
        for (int s = 0; s < seq; s++) {
            int o = pOff + s * seq, q = s * seq;
            double dot = 0;
            for (int t = 0; t <= s; t++) {
                dot += p.get(o + t) * dp.get(q + t);
            }
            for (int t = 0; t <= s; t++) {
                dp.set(q + t, p.get(o + t) * (dp.get(q + t) - dot));
            }
            for (int t = s + 1; t < seq; t++) {
                dp.set(q + t, 0.0);
            }
        }
    }
}
