package dev.infini.samediff.fast;

import dev.infini.samediff.InfiniAttention;

/**
 * Infini-attention of one layer on one segment, forward and backward, on preallocated buffers (Munkhdalai et
 * al. 2024, arXiv 2404.07143, section 2.1; docs/spec.md): local causal softmax attention with RoPE, the memory
 * read {@code A_mem = sigma(Q) M / (sigma(Q) z + eps)} before the update, the gate
 * {@code A = sigmoid(g) A_mem + (1 - sigmoid(g)) A_dot}, and the memory write (linear or delta rule).
 *
 * <p>Head blocks are used in place: query head {@code h} of batch row {@code b} is the {@code [S, d]} block of
 * {@code [N, H*d]} at row {@code b*S}, column {@code h*d}, leading dimension {@code H*d}; it reads KV head
 * {@code h / g}. Each product is one BLAS call per (batch row, head).
 */
final class FastAttention {
    private FastAttention() {
    }

    /** The weights of one attention layer ({@code [out, in]}) and its gate logits {@code [H]}. */
    record Weights(Buf q, Buf k, Buf v, Buf o, Buf gate) {
    }

    /** RoPE tables {@code [S, d]} and the token mask {@code [N]} of the current call. */
    record Context(double[] cos, double[] sin, double[] mask) {
    }

    /**
     * Forward of the attention block up to the gated mix {@code L.a} (the caller applies {@code W_o}):
     * projections, RoPE, local attention, memory read. {@code L.h} must hold the normalised input.
     *
     * @param m {@code [B, Hkv, d, d]}, {@code z} {@code [B, Hkv, d]}: the memory before this segment
     */
    static void forward(Dims d, LayerBuffers L, Weights w, Context ctx, Buf m, Buf z) {
        int n = d.n();
        Blas.xwt(n, d.qd(), d.dm(), L.h, w.q(), 0, L.q);                      // Q = h Wq^T  [N, H*d]
        Blas.xwt(n, d.kvd(), d.dm(), L.h, w.k(), 0, L.k);                     // K = h Wk^T  [N, Hkv*d]
        Blas.xwt(n, d.kvd(), d.dm(), L.h, w.v(), 0, L.v);                     // V = h Wv^T  [N, Hkv*d]
        Kernels.rope(L.q, L.qr, n, d.h(), d.hd(), d.s(), ctx.cos(), ctx.sin(), false);
        Kernels.rope(L.k, L.kr, n, d.kv(), d.hd(), d.s(), ctx.cos(), ctx.sin(), false);
        local(d, L, ctx.mask());
        Kernels.sigma(L.q, L.sq, n, d.qd(), null);                             // sigma(Q), Q before RoPE
        read(d, L.sq, d.h(), d.qd(), d.g(), m, z, L.aMem, L.den);
        mix(d, L, gates(w.gate(), d.h()));
    }

    /** {@code A = A_dot + (A_mem - A_dot) sigmoid(g_h)}, row by row of {@code [N, H*d]}. */
    private static void mix(Dims d, LayerBuffers L, double[] gp) {
        int qd = d.qd();
        Par.range(d.n(), (long) d.n() * qd, (from, to) -> {
            double[] ad = new double[qd], am = new double[qd];
            float[] tmp = new float[qd];
            for (int r = from; r < to; r++) {
                L.aDot.read(r * qd, ad, qd, tmp);
                L.aMem.read(r * qd, am, qd, tmp);
                for (int j = 0; j < qd; j++) {
                    ad[j] += (am[j] - ad[j]) * gp[j / d.hd()];
                }
                L.a.write(r * qd, ad, qd, tmp);
            }
        });
    }

    /** {@code A_dot = softmax(RoPE(Q) RoPE(K)^T / sqrt(d) + causal/padding mask) V}, per (batch row, query head). */
    private static void local(Dims d, LayerBuffers L, double[] mask) {
        int s = d.s(), hd = d.hd();
        double scale = 1.0 / Math.sqrt(hd);
        for (int b = 0; b < d.b(); b++) {
            for (int hh = 0; hh < d.h(); hh++) {
                long qOff = (long) b * s * d.qd() + hh * hd, kOff = (long) b * s * d.kvd() + (hh / d.g()) * hd;
                int pOff = (b * d.h() + hh) * s * s;
                Blas.gemm(false, true, s, s, hd, scale, L.qr, qOff, d.qd(), L.kr, kOff, d.kvd(), 0, L.probs, pOff, s);
            }
        }
        Kernels.causalSoftmax(L.probs, d.b(), d.h(), s, mask);
        for (int b = 0; b < d.b(); b++) {
            for (int hh = 0; hh < d.h(); hh++) {
                long qOff = (long) b * s * d.qd() + hh * hd, kOff = (long) b * s * d.kvd() + (hh / d.g()) * hd;
                int pOff = (b * d.h() + hh) * s * s;
                Blas.gemm(false, false, s, hd, s, 1, L.probs, pOff, s, L.v, kOff, d.kvd(), 0, L.aDot, qOff, d.qd());
            }
        }
    }

    /**
     * Memory read {@code out = sx M / (sx z + eps)} for {@code heads} heads of {@code sx [N, heads*d]} (leading
     * dimension {@code ld}), head {@code hh} reading memory {@code hh / group}; keeps the denominators
     * {@code den [N*heads]}. Used for {@code A_mem} (sigma(Q)) and for the delta rule's retrieval (sigma(K)).
     */
    static void read(Dims d, Buf sx, int heads, int ld, int group, Buf m, Buf z, Buf out, double[] den) {
        int s = d.s(), hd = d.hd();
        for (int b = 0; b < d.b(); b++) {
            for (int hh = 0; hh < heads; hh++) {
                long off = (long) b * s * ld + hh * hd, mOff = (long) (b * d.kv() + hh / group) * hd * hd;
                Blas.gemm(false, false, s, hd, hd, 1, sx, off, ld, m, mOff, hd, 0, out, off, ld);   // num = sx M
            }
        }
        double[] zs = new double[d.b() * d.kvd()];
        z.read(0, zs, zs.length, new float[zs.length]);
        Par.range(d.n(), (long) d.n() * heads * hd, (from, to) -> {
            double[] xr = new double[ld], or = new double[ld];
            float[] tmp = new float[ld];
            for (int r = from; r < to; r++) {
                sx.read(r * ld, xr, ld, tmp);
                out.read(r * ld, or, ld, tmp);
                for (int hh = 0; hh < heads; hh++) {
                    int zo = (r / s) * d.kvd() + (hh / group) * hd, o = hh * hd;
                    double dn = InfiniAttention.EPS;                                              // den = sx z + eps
                    for (int i = 0; i < hd; i++) {
                        dn += xr[o + i] * zs[zo + i];
                    }
                    den[r * heads + hh] = dn;
                    for (int i = 0; i < hd; i++) {
                        or[o + i] /= dn;
                    }
                }
                out.write(r * ld, or, ld, tmp);
            }
        });
    }

    /**
     * Memory write of this segment: linear {@code M' = M + sigma(K)^T V} or delta
     * {@code M' = M + sigma(K)^T (V - sigma(K) M / (sigma(K) z + eps))}; {@code z' = z + sum_t sigma(K_t)}.
     * Padded positions are zero rows of sigma(K), so they write nothing.
     *
     * @param mOut {@code [B, Hkv, d, d]} receives M', {@code zOut} {@code [B, Hkv, d]} receives z'
     */
    static void write(Dims d, LayerBuffers L, Context ctx, Buf m, Buf z, Buf mOut, Buf zOut) {
        int s = d.s(), hd = d.hd(), kvd = d.kvd();
        Kernels.sigma(L.k, L.sk, d.n(), kvd, ctx.mask());
        Buf value = L.v;
        if (L.retr != null) {
            read(d, L.sk, d.kv(), kvd, 1, m, z, L.retr, L.denR);
            double[] vr = new double[kvd], rr = new double[kvd];
            float[] tmp = new float[kvd];
            for (int r = 0; r < d.n(); r++) {
                L.v.read(r * kvd, vr, kvd, tmp);
                L.retr.read(r * kvd, rr, kvd, tmp);
                for (int i = 0; i < kvd; i++) {
                    vr[i] -= rr[i];
                }
                L.value.write(r * kvd, vr, kvd, tmp);
            }
            value = L.value;
        }
        mOut.copyFrom(m);
        for (int b = 0; b < d.b(); b++) {
            for (int kv = 0; kv < d.kv(); kv++) {
                long off = (long) b * s * kvd + kv * hd, mOff = (long) (b * d.kv() + kv) * hd * hd;
                Blas.gemm(true, false, hd, hd, s, 1, L.sk, off, kvd, value, off, kvd, 1, mOut, mOff, hd);
            }
        }
        double[] zs = new double[d.b() * kvd], row = new double[kvd];         // z' = z + sum_t sigma(K_t)
        float[] tmp = new float[zs.length];
        z.read(0, zs, zs.length, tmp);
        for (int r = 0; r < d.n(); r++) {
            L.sk.read(r * kvd, row, kvd, tmp);
            for (int i = 0, o = (r / s) * kvd; i < kvd; i++) {
                zs[o + i] += row[i];
            }
        }
        zOut.write(0, zs, zs.length, tmp);
    }

    static double[] gates(Buf gate, int heads) {
        double[] gp = new double[heads];
        for (int hh = 0; hh < heads; hh++) {
            gp[hh] = 1.0 / (1.0 + Math.exp(-gate.get(hh)));
        }
        return gp;
    }
}
