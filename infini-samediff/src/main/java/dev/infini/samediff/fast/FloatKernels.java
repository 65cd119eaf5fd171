package dev.infini.samediff.fast;

/**
 * Float32 versions of the heaviest element-wise loops of {@link Kernels} (MLP activation, RMSNorm and the attention
 * softmax, forward and backward): rows are copied straight into {@code float[]} (no conversion pass) and computed
 * in float, whose loops the JIT vectorises twice as wide; sums of squares, softmax sums and dot products still
 * accumulate in double. About 2x faster than the double-row path here; float64 engines keep {@link Kernels}'
 * double arithmetic.
 */
final class FloatKernels {
    private static final float GELU_C = (float) Math.sqrt(2.0 / Math.PI);
    private static final float TANH_CLAMP = 7.90531110763549805f;

    private FloatKernels() {
    }

    /** {@link Kernels#rmsNorm} in float. */
    static void rmsNorm(Buf x, float[] s, double eps, int rows, int cols, Buf inv, Buf y) {
        Par.range(rows, (long) rows * cols, (from, to) -> {
            float[] xr = new float[cols];
            for (int r = from; r < to; r++) {
                x.f.get(r * cols, xr, 0, cols);
                double ss = 0;
                for (int j = 0; j < cols; j++) {
                    ss += xr[j] * xr[j];
                }
                double ivd = 1.0 / Math.sqrt(ss / cols + eps);
                inv.set(r, ivd);
                float iv = (float) ivd;
                for (int j = 0; j < cols; j++) {
                    xr[j] = xr[j] * iv * s[j];
                }
                y.f.put(r * cols, xr, 0, cols);
            }
        });
    }

    /** {@link Kernels#rmsNormBackward} in float; {@code gw} receives the summed weight gradient. */
    static void rmsNormBackward(Buf x, Buf inv, float[] s, Buf dy, int rows, int cols, double[] gw, Buf dx,
                                boolean accumulate) {
        Par.range(rows, (long) rows * cols, (from, to) -> {
            float[] xr = new float[cols], gr = new float[cols], out = new float[cols], part = new float[cols];
            for (int r = from; r < to; r++) {
                int o = r * cols;
                x.f.get(o, xr, 0, cols);
                dy.f.get(o, gr, 0, cols);
                float iv = (float) inv.get(r);
                double dot = 0;
                for (int j = 0; j < cols; j++) {
                    xr[j] *= iv;                                       // x_hat
                    part[j] += gr[j] * xr[j];
                    gr[j] *= s[j];                                     // dy s
                }
                for (int j = 0; j < cols; j++) {
                    dot += gr[j] * xr[j];
                }
                float m = (float) (dot / cols);
                if (accumulate) {
                    dx.f.get(o, out, 0, cols);
                } else {
                    java.util.Arrays.fill(out, 0f);
                }
                for (int j = 0; j < cols; j++) {
                    out[j] += iv * (gr[j] - xr[j] * m);
                }
                dx.f.put(o, out, 0, cols);
            }
            double[] pd = new double[cols];
            for (int j = 0; j < cols; j++) {
                pd[j] = part[j];
            }
            Kernels.addInto(gw, pd);
        });
    }

    /** {@link Kernels#activation} in float: GeLU-tanh by the rational tanh, SiLU by the exponential. */
    static void activation(Buf g, Buf up, Buf aux, Buf mm, int rows, int cols, boolean gelu) {
        Par.range(rows, (long) rows * cols, (from, to) -> {
            float[] gr = new float[cols], ur = new float[cols], ar = new float[cols];
            for (int r = from; r < to; r++) {
                int o = r * cols;
                g.f.get(o, gr, 0, cols);
                up.f.get(o, ur, 0, cols);
                if (gelu) {
                    geluTanh(gr, ar, cols);
                    for (int i = 0; i < cols; i++) {
                        ur[i] *= 0.5f * gr[i] * (1f + ar[i]);
                    }
                } else {
                    for (int i = 0; i < cols; i++) {
                        ar[i] = (float) (1.0 / (1.0 + Math.exp(-gr[i])));
                    }
                    for (int i = 0; i < cols; i++) {
                        ur[i] *= gr[i] * ar[i];
                    }
                }
                aux.f.put(o, ar, 0, cols);
                mm.f.put(o, ur, 0, cols);
            }
        });
    }

    /**
     * {@code t = tanh(sqrt(2/pi) (x + 0.044715 x^3))}: Eigen's {@code generic_fast_tanh_float} rational function (a
     * few ulp in float), in loops of plain arithmetic that the JIT vectorises.
     */
    private static void geluTanh(float[] x, float[] t, int n) {
        for (int i = 0; i < n; i++) {
            float v = x[i];
            t[i] = Math.max(-TANH_CLAMP, Math.min(TANH_CLAMP, GELU_C * (v + 0.044715f * v * v * v)));
        }
        for (int i = 0; i < n; i++) {
            float u = t[i], x2 = u * u;
            float p = -2.76076847742355e-16f;
            p = p * x2 + 2.00018790482477e-13f;
            p = p * x2 - 8.60467152213735e-11f;
            p = p * x2 + 5.12229709037114e-08f;
            p = p * x2 + 1.48572235717979e-05f;
            p = p * x2 + 6.37261928875436e-04f;
            p = p * x2 + 4.89352455891786e-03f;
            float q = 1.19825839466702e-06f;
            q = q * x2 + 1.18534705686654e-04f;
            q = q * x2 + 2.26843463243900e-03f;
            q = q * x2 + 4.89352518554385e-03f;
            t[i] = u * p / q;
        }
    }

    /** {@link Kernels#activationBackward} in float. */
    static void activationBackward(Buf g, Buf up, Buf aux, Buf dgOut, Buf dUp, int rows, int cols, boolean gelu) {
        Par.range(rows, (long) rows * cols, (from, to) -> {
            float[] gr = new float[cols], ur = new float[cols], ar = new float[cols], dr = new float[cols];
            for (int r = from; r < to; r++) {
                int o = r * cols;
                g.f.get(o, gr, 0, cols);
                up.f.get(o, ur, 0, cols);
                aux.f.get(o, ar, 0, cols);
                dgOut.f.get(o, dr, 0, cols);
                if (gelu) {
                    for (int i = 0; i < cols; i++) {
                        float x = gr[i], dm = dr[i], t = ar[i];
                        float prime = 0.5f * (1f + t) + 0.5f * x * (1f - t * t) * GELU_C * (1f + 3 * 0.044715f * x * x);
                        dr[i] = dm * ur[i] * prime;
                        ur[i] = dm * 0.5f * x * (1f + t);
                    }
                } else {
                    for (int i = 0; i < cols; i++) {
                        float x = gr[i], dm = dr[i], sg = ar[i];
                        dr[i] = dm * ur[i] * sg * (1f + x * (1f - sg));
                        ur[i] = dm * x * sg;
                    }
                }
                dUp.f.put(o, ur, 0, cols);
                dgOut.f.put(o, dr, 0, cols);
            }
        });
    }

    /** {@link Kernels#causalSoftmax} in float (sums and exponentials in double). */
    static void causalSoftmax(Buf p, int batch, int heads, int seq, double[] mask) {
        Par.range(batch * heads * seq, (long) batch * heads * seq * seq / 2, (from, to) -> {
            float[] row = new float[seq];
            for (int q = from; q < to; q++) {
                int s = (q / heads) % seq, maskOff = (q / (heads * seq)) * seq, o = q * seq;
                p.f.get(o, row, 0, s + 1);
                float max = Float.NEGATIVE_INFINITY;
                for (int t = 0; t <= s; t++) {
                    if (t == s || mask[maskOff + t] != 0) {
                        max = Math.max(max, row[t]);
                    }
                }
                double sum = 0;
                for (int t = 0; t <= s; t++) {
                    double e = t == s || mask[maskOff + t] != 0 ? Math.exp(row[t] - max) : 0.0;
                    row[t] = (float) e;
                    sum += e;
                }
                float inv = (float) (1.0 / sum);
                for (int t = 0; t <= s; t++) {
                    row[t] *= inv;
                }
                java.util.Arrays.fill(row, s + 1, seq, 0f);
                p.f.put(o, row, 0, seq);
            }
        });
    }

    /** {@link Kernels#softmaxBackward} in float (the row dot product in double). */
    static void softmaxBackward(Buf p, Buf dp, int rows, int heads, int seq) {
        Par.range(rows, (long) rows * seq / 2, (from, to) -> {
            float[] pr = new float[seq], gr = new float[seq];
            for (int q = from; q < to; q++) {
                int s = (q / heads) % seq, o = q * seq;
                p.f.get(o, pr, 0, s + 1);
                dp.f.get(o, gr, 0, s + 1);
                double dot = 0;
                for (int t = 0; t <= s; t++) {
                    dot += pr[t] * gr[t];
                }
                float dt = (float) dot;
                for (int t = 0; t <= s; t++) {
                    gr[t] = pr[t] * (gr[t] - dt);
                }
                java.util.Arrays.fill(gr, s + 1, seq, 0f);
                dp.f.put(o, gr, 0, seq);
            }
        });
    }
}
