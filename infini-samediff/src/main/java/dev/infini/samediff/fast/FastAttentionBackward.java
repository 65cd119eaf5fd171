package dev.infini.samediff.fast;

/**
 * Backward pass of {@link FastAttention}: gradients of one attention layer's weights, of its normalised input
 * and of the memory entering the segment, given the gradient of the layer's output and of the memory it wrote.
 */
final class FastAttentionBackward {
    private FastAttentionBackward() {
    }

    /** Where the layer's weight gradients go (shapes of the weights). */
    record Grads(Buf q, Buf k, Buf v, Buf o, Buf gate) {
    }

    /** Upstream gradients of the memory this segment wrote, and accumulators of the memory it read. */
    record Memory(Buf m, Buf z, Buf dmNext, Buf dzNext, Buf dm, Buf dz) {
    }

    /**
     * @param dOut gradient of the attention block's output {@code [N, D]} (before the residual add)
     * @return {@code sc.dh}: the gradient of the normalised input {@code L.h} {@code [N, D]}
     */
    static Buf backward(Dims d, LayerBuffers L, FastAttention.Weights w, FastAttention.Context ctx, Memory mem,
                        Scratch sc, Grads g, Buf dOut) {
        int n = d.n();
        Blas.atb(d.dm(), d.qd(), n, dOut, L.a, 0, g.o());                      // dWo = dOut^T A    [D, H*d]
        Blas.xw(n, d.qd(), d.dm(), dOut, w.o(), 0, sc.da);                     // dA = dOut Wo      [N, H*d]
        mix(d, L, w.gate(), sc, g.gate());
        local(d, L, sc);
        readBackward(d, L.sq, d.h(), d.qd(), d.g(), sc.daMem, L.aMem, L.den, sc.dsq, 0, mem);
        writeBackward(d, L, sc, mem);
        // Q: through RoPE (local path) and sigma (memory path); K likewise, sigma(K) masked.
        Kernels.ropeAndSigmaBackward(sc.dqr, sc.dsq, L.q, sc.dq, n, d.h(), d.hd(), d.s(), ctx.cos(), ctx.sin(), null);
        Kernels.ropeAndSigmaBackward(sc.dkr, sc.dsk, L.k, sc.dk, n, d.kv(), d.hd(), d.s(), ctx.cos(), ctx.sin(), ctx.mask());
        Blas.atb(d.qd(), d.dm(), n, sc.dq, L.h, 0, g.q());                     // dWq = dQ^T h
        Blas.atb(d.kvd(), d.dm(), n, sc.dk, L.h, 0, g.k());
        Blas.atb(d.kvd(), d.dm(), n, sc.dv, L.h, 0, g.v());
        Blas.xw(n, d.dm(), d.qd(), sc.dq, w.q(), 0, sc.dh);                    // dh = dQ Wq + dK Wk + dV Wv
        Blas.xw(n, d.dm(), d.kvd(), sc.dk, w.k(), 1, sc.dh);
        Blas.xw(n, d.dm(), d.kvd(), sc.dv, w.v(), 1, sc.dh);
        return sc.dh;
    }

    /** Gate mix backward: {@code dA_mem = dA s}, {@code dA_dot = dA (1 - s)}, {@code dg_h = sum dA (A_mem - A_dot) s (1 - s)}. */
    private static void mix(Dims d, LayerBuffers L, Buf gate, Scratch sc, Buf dGate) {
        double[] gp = FastAttention.gates(gate, d.h());
        double[] acc = new double[d.h()];
        int qd = d.qd(), hd = d.hd();
        Par.range(d.n(), (long) d.n() * qd, (from, to) -> {
            double[] da = new double[qd], am = new double[qd], ad = new double[qd], part = new double[d.h()];
            float[] tmp = new float[qd];
            for (int r = from; r < to; r++) {
                sc.da.read(r * qd, da, qd, tmp);
                L.aMem.read(r * qd, am, qd, tmp);
                L.aDot.read(r * qd, ad, qd, tmp);
                for (int hh = 0; hh < d.h(); hh++) {
                    double g = gp[hh], sum = 0;
                    for (int j = hh * hd, e = j + hd; j < e; j++) {
                        sum += da[j] * (am[j] - ad[j]);
                        am[j] = da[j] * g;
                        ad[j] = da[j] * (1 - g);
                    }
                    part[hh] += sum;
                }
                sc.daMem.write(r * qd, am, qd, tmp);
                sc.daDot.write(r * qd, ad, qd, tmp);
            }
            Kernels.addInto(acc, part);
        });
        for (int hh = 0; hh < d.h(); hh++) {
            dGate.set(hh, acc[hh] * gp[hh] * (1 - gp[hh]));
        }
    }

    /** Local attention backward, block by causal chunk: dP and dV, the softmax backward, then dQr and dKr. */
    private static void local(Dims d, LayerBuffers L, Scratch sc) {
        int s = d.s(), hd = d.hd(), kvd = d.kvd(), nc = FastAttention.causalChunks(s);
        double scale = 1.0 / Math.sqrt(hd);
        sc.dkr.zero();
        sc.dv.zero();
        FastAttention.Block[] blocks = FastAttention.queryBlocks(d);
        for (FastAttention.Block k : blocks) {
            for (int c = 0; c < nc; c++) {
                int s0 = s * c / nc, keys = s * (c + 1) / nc, pp = k.perPos(s), rows = (keys - s0) * pp;
                long qo = k.qOff() + (long) s0 * pp * k.qLd(), po = k.pOff() + (long) s0 * pp * k.pLd();
                Blas.gemm(false, true, rows, keys, hd, 1, sc.daDot, qo, k.qLd(), L.v, k.kOff(), kvd,
                        0, sc.dp, po, k.pLd());                                            // dP = dA_dot V^T
                Blas.gemm(true, false, keys, hd, rows, 1, L.probs, po, k.pLd(), sc.daDot, qo, k.qLd(),
                        1, sc.dv, k.kOff(), kvd);                                          // dV += P^T dA_dot
            }
        }
        Kernels.softmaxBackward(L.probs, sc.dp, d.b() * d.h() * s, d.h(), s);
        for (FastAttention.Block k : blocks) {
            for (int c = 0; c < nc; c++) {
                int s0 = s * c / nc, keys = s * (c + 1) / nc, pp = k.perPos(s), rows = (keys - s0) * pp;
                long qo = k.qOff() + (long) s0 * pp * k.qLd(), po = k.pOff() + (long) s0 * pp * k.pLd();
                Blas.gemm(false, false, rows, hd, keys, scale, sc.dp, po, k.pLd(), L.kr, k.kOff(), kvd,
                        0, sc.dqr, qo, k.qLd());                                           // dQr = dS Kr / sqrt(d)
                Blas.gemm(true, false, keys, hd, rows, scale, sc.dp, po, k.pLd(), L.qr, qo, k.qLd(),
                        1, sc.dkr, k.kOff(), kvd);                                         // dKr += dS^T Qr / sqrt(d)
            }
        }
    }

    /**
     * Backward of {@link FastAttention#read}: on entry {@code dOut} holds d(out); it is overwritten with
     * d(num) = d(out) / den. Writes (or adds, {@code betaSx = 1}) d(sx) = d(num) M^T + d(den) z^T and adds
     * {@code sx^T d(num)} to dM and {@code sum_t d(den) sx} to dz, with d(den) = -sum_j d(out) out / den.
     */
    static void readBackward(Dims d, Buf sx, int heads, int ld, int group, Buf dOut, Buf out, double[] den,
                             Buf dsx, double betaSx, Memory mem) {
        int s = d.s(), hd = d.hd();
        double[] dden = new double[d.n() * heads];
        Par.range(d.n(), (long) d.n() * ld, (from, to) -> {
            double[] g = new double[ld], o = new double[ld];
            float[] tmp = new float[ld];
            for (int r = from; r < to; r++) {
                dOut.read(r * ld, g, ld, tmp);
                out.read(r * ld, o, ld, tmp);
                for (int hh = 0; hh < heads; hh++) {
                    double dn = den[r * heads + hh], acc = 0;
                    for (int i = hh * hd; i < (hh + 1) * hd; i++) {
                        acc -= g[i] * o[i];
                        g[i] /= dn;
                    }
                    dden[r * heads + hh] = acc / dn;
                }
                dOut.write(r * ld, g, ld, tmp);
            }
        });
        for (FastAttention.Block k : ld == d.qd() ? FastAttention.queryBlocks(d) : FastAttention.keyBlocks(d)) {
            Blas.gemm(false, true, k.rows(), hd, hd, 1, dOut, k.qOff(), k.qLd(), mem.m(), k.mOff(), hd,
                    betaSx, dsx, k.qOff(), k.qLd());                                           // d(sx) = d(num) M^T
            Blas.gemm(true, false, hd, hd, k.rows(), 1, sx, k.qOff(), k.qLd(), dOut, k.qOff(), k.qLd(),
                    1, mem.dm(), k.mOff(), hd);                                                // dM += sx^T d(num)
        }
        denBackward(d, sx, heads, ld, group, dden, dsx, mem);
    }

    /** The denominator's share: {@code d(sx) += d(den) z^T} and {@code dz += sum_t d(den)_t sx_t}. */
    private static void denBackward(Dims d, Buf sx, int heads, int ld, int group, double[] dden, Buf dsx, Memory mem) {
        int s = d.s(), hd = d.hd(), kvd = d.kvd();
        double[] zs = new double[d.b() * kvd], dzs = new double[d.b() * kvd];
        float[] zt = new float[zs.length];
        mem.z().read(0, zs, zs.length, zt);
        Par.range(d.n(), (long) d.n() * ld, (from, to) -> {
            double[] g = new double[ld], x = new double[ld], part = new double[dzs.length];
            float[] tmp = new float[ld];
            for (int r = from; r < to; r++) {
                dsx.read(r * ld, g, ld, tmp);
                sx.read(r * ld, x, ld, tmp);
                for (int hh = 0; hh < heads; hh++) {
                    int zo = (r / s) * kvd + (hh / group) * hd, o = hh * hd;
                    double dd = dden[r * heads + hh];
                    for (int i = 0; i < hd; i++) {
                        g[o + i] += dd * zs[zo + i];
                        part[zo + i] += dd * x[o + i];
                    }
                }
                dsx.write(r * ld, g, ld, tmp);
            }
            Kernels.addInto(dzs, part);
        });
        double[] dz = new double[dzs.length];
        mem.dz().read(0, dz, dz.length, zt);
        for (int i = 0; i < dz.length; i++) {
            dz[i] += dzs[i];
        }
        mem.dz().write(0, dz, dz.length, zt);
    }

    /**
     * Backward of {@link FastAttention#write}: {@code d sigma(K) = value dM'^T + dz'} and {@code d value =
     * sigma(K) dM'}; for the delta rule {@code d value} goes to V and, negated, through the retrieval read.
     */
    private static void writeBackward(Dims d, LayerBuffers L, Scratch sc, Memory mem) {
        int s = d.s(), hd = d.hd(), kvd = d.kvd();
        boolean delta = L.retr != null;
        Buf value = delta ? L.value : L.v;
        for (int b = 0; b < d.b(); b++) {
            for (int kv = 0; kv < d.kv(); kv++) {
                int mi = b * d.kv() + kv;
                long off = (long) b * s * kvd + kv * hd, mOff = (long) mi * hd * hd;
                Blas.gemm(false, true, s, hd, hd, 1, value, off, kvd, mem.dmNext(), mOff, hd, 0, sc.dsk, off, kvd);
                Blas.gemm(false, false, s, hd, hd, 1, L.sk, off, kvd, mem.dmNext(), mOff, hd,
                        delta ? 0 : 1, delta ? sc.dvalue : sc.dv, off, kvd);
            }
        }
        double[] dzn = new double[d.b() * kvd], row = new double[kvd], vr = new double[kvd];
        float[] tmp = new float[dzn.length];
        mem.dzNext().read(0, dzn, dzn.length, tmp);
        for (int r = 0; r < d.n(); r++) {                                        // d sigma(K_t) += dz'
            sc.dsk.read(r * kvd, row, kvd, tmp);
            for (int i = 0, o = (r / s) * kvd; i < kvd; i++) {
                row[i] += dzn[o + i];
            }
            sc.dsk.write(r * kvd, row, kvd, tmp);
            if (delta) {                                                         // dV += d value; d retr = -d value
                sc.dvalue.read(r * kvd, row, kvd, tmp);
                sc.dv.read(r * kvd, vr, kvd, tmp);
                for (int i = 0; i < kvd; i++) {
                    vr[i] += row[i];
                    row[i] = -row[i];
                }
                sc.dv.write(r * kvd, vr, kvd, tmp);
                sc.dvalue.write(r * kvd, row, kvd, tmp);
            }
        }
        if (delta) {
            readBackward(d, L.sk, d.kv(), kvd, 1, sc.dvalue, L.retr, L.denR, sc.dsk, 1, mem);
        }
    }
}
