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
 * {@code h / g}. With one KV head every query head of a batch row is one product ({@link Block}); the local
 * attention's products are cut into causal chunks ({@link #causalChunks}).
 */
final class FastAttention {
    private FastAttention() {
    }

    /** The weights of one attention layer ({@code [out, in]}) and its gate logits {@code [H]}. */
    record Weights(Buf q, Buf k, Buf v, Buf o, Buf gate) {
    }

    /**
     * One block of the attention's products: {@code rows} query rows that share one KV head and one memory.
     * With a single KV head (MQA) a block is a whole batch row, every query head stacked: row {@code s*H + h} of
     * {@code [N, H*d]} seen as {@code [N*H, d]} (leading dimension d); otherwise one query head (leading dimension
     * H*d). Offsets: queries {@code qOff} (leading dimension {@code qLd}), keys/values {@code kOff} (H_kv*d),
     * probabilities {@code pOff} in {@code [B, S, H, S]} (leading dimension {@code pLd}), memory {@code mOff}.
     */
    record Block(int rows, long qOff, int qLd, long kOff, long pOff, int pLd, long mOff) {
        /** Query rows per position: H when every head is stacked (MQA), else 1. */
        int perPos(int seq) {
            return rows / seq;
        }
    }

    /**
     * Causal chunks of a segment: positions {@code [S c/n, S (c+1)/n)} only see keys before {@code S (c+1)/n}, so
     * the local attention's products skip the blocks above the diagonal (at n = 4 they do 10/16 of the full work).
     */
    static int causalChunks(int seq) {
        return Math.max(1, Math.min(4, seq / chunkPositions));
    }

    /** Positions per causal chunk at least (tests lower it to cut short segments into chunks). */
    static int chunkPositions = 64;

    /** The query blocks of a segment (see {@link Block}). */
    static Block[] queryBlocks(Dims d) {
        int s = d.s(), hd = d.hd(), h = d.h();
        if (d.kv() == 1) {
            Block[] out = new Block[d.b()];
            for (int b = 0; b < d.b(); b++) {
                out[b] = new Block(s * h, (long) b * s * d.qd(), hd, (long) b * s * d.kvd(), (long) b * s * h * s, s,
                        (long) b * hd * hd);
            }
            return out;
        }
        Block[] out = new Block[d.b() * h];
        for (int b = 0; b < d.b(); b++) {
            for (int hh = 0; hh < h; hh++) {
                int kv = hh / d.g();
                out[b * h + hh] = new Block(s, (long) b * s * d.qd() + hh * hd, d.qd(), (long) b * s * d.kvd() + kv * hd,
                        ((long) b * s * h + hh) * s, h * s, (long) (b * d.kv() + kv) * hd * hd);
            }
        }
        return out;
    }

    /** The key blocks (one per batch row and KV head), for the delta rule's retrieval: queries are sigma(K). */
    static Block[] keyBlocks(Dims d) {
        int s = d.s(), hd = d.hd();
        Block[] out = new Block[d.b() * d.kv()];
        for (int b = 0; b < d.b(); b++) {
            for (int kv = 0; kv < d.kv(); kv++) {
                long off = (long) b * s * d.kvd() + kv * hd;
                out[b * d.kv() + kv] = new Block(s, off, d.kvd(), off, 0, 0, (long) (b * d.kv() + kv) * hd * hd);
            }
        }
        return out;
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
        keysAndValues(d, L, w, ctx);
        // RoPE(Q) for the local attention; sigma(Q) of Q before RoPE.
        Kernels.ropeAndSigma(L.q, L.qr, L.sq, n, d.h(), d.hd(), d.s(), ctx.cos(), ctx.sin(), null);
        local(d, L, ctx.mask());
        read(d, L.sq, d.h(), d.qd(), d.g(), m, z, L.aMem, L.den);
        mix(d, L, gates(w.gate(), d.h()));
    }

    /**
     * What the memory write needs and no more: {@code K = h Wk^T}, {@code V = h Wv^T}, RoPE(K) and sigma(K) (padded
     * rows zero) of K before RoPE. {@code L.h} must hold the normalised input.
     */
    static void keysAndValues(Dims d, LayerBuffers L, Weights w, Context ctx) {
        int n = d.n();
        Blas.xwt(n, d.kvd(), d.dm(), L.h, w.k(), 0, L.k);                     // K = h Wk^T  [N, Hkv*d]
        Blas.xwt(n, d.kvd(), d.dm(), L.h, w.v(), 0, L.v);                     // V = h Wv^T  [N, Hkv*d]
        Kernels.ropeAndSigma(L.k, L.kr, L.sk, n, d.kv(), d.hd(), d.s(), ctx.cos(), ctx.sin(), ctx.mask());
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
                for (int hh = 0, hd = d.hd(); hh < d.h(); hh++) {
                    double g = gp[hh];
                    for (int j = hh * hd, e = j + hd; j < e; j++) {
                        ad[j] += (am[j] - ad[j]) * g;
                    }
                }
                L.a.write(r * qd, ad, qd, tmp);
            }
        });
    }

    /** {@code A_dot = softmax(RoPE(Q) RoPE(K)^T / sqrt(d) + causal/padding mask) V}, block by causal chunk. */
    private static void local(Dims d, LayerBuffers L, double[] mask) {
        int s = d.s(), hd = d.hd(), nc = causalChunks(s);
        double scale = 1.0 / Math.sqrt(hd);
        Block[] blocks = queryBlocks(d);
        for (Block k : blocks) {
            for (int c = 0; c < nc; c++) {
                int s0 = s * c / nc, keys = s * (c + 1) / nc, pp = k.perPos(s), rows = (keys - s0) * pp;
                long qo = k.qOff() + (long) s0 * pp * k.qLd(), po = k.pOff() + (long) s0 * pp * k.pLd();
                Blas.gemm(false, true, rows, keys, hd, scale, L.qr, qo, k.qLd(), L.kr, k.kOff(), d.kvd(),
                        0, L.probs, po, k.pLd());                                          // scores
            }
        }
        Kernels.causalSoftmax(L.probs, d.b(), d.h(), s, mask);
        for (Block k : blocks) {
            for (int c = 0; c < nc; c++) {
                int s0 = s * c / nc, keys = s * (c + 1) / nc, pp = k.perPos(s), rows = (keys - s0) * pp;
                long qo = k.qOff() + (long) s0 * pp * k.qLd(), po = k.pOff() + (long) s0 * pp * k.pLd();
                Blas.gemm(false, false, rows, hd, keys, 1, L.probs, po, k.pLd(), L.v, k.kOff(), d.kvd(),
                        0, L.aDot, qo, k.qLd());                                           // A_dot = P V
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
        for (Block k : ld == d.qd() ? queryBlocks(d) : keyBlocks(d)) {                         // num = sx M
            Blas.gemm(false, false, k.rows(), hd, hd, 1, sx, k.qOff(), k.qLd(), m, k.mOff(), hd, 0, out, k.qOff(), k.qLd());
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
     * Padded positions are zero rows of sigma(K) ({@code L.sk}, computed by {@link #forward}), so they write nothing.
     *
     * @param mOut {@code [B, Hkv, d, d]} receives M', {@code zOut} {@code [B, Hkv, d]} receives z'
     */
    static void write(Dims d, LayerBuffers L, Context ctx, Buf m, Buf z, Buf mOut, Buf zOut) {
        int s = d.s(), hd = d.hd(), kvd = d.kvd();
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
