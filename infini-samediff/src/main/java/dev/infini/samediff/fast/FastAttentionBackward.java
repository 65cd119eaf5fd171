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
        Kernels.ropeBackward(sc.dqr, sc.dq, n, d.h(), d.hd(), d.s(), ctx.cos(), ctx.sin());
        for (int i = 0; i < n * d.qd(); i++) {
            sc.dq.add(i, sc.dsq.get(i) * Kernels.sigmaPrime(L.q.get(i)));
        }
        Kernels.ropeBackward(sc.dkr, sc.dk, n, d.kv(), d.hd(), d.s(), ctx.cos(), ctx.sin());
        for (int r = 0; r < n; r++) {
            double mk = ctx.mask()[r];
            for (int i = r * d.kvd(), e = i + d.kvd(); mk != 0 && i < e; i++) {
                sc.dk.add(i, mk * sc.dsk.get(i) * Kernels.sigmaPrime(L.k.get(i)));
            }
        }
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
        for (int r = 0; r < d.n(); r++) {
            for (int hh = 0; hh < d.h(); hh++) {
                double sum = 0;
                for (int j = r * d.qd() + hh * d.hd(), e = j + d.hd(); j < e; j++) {
                    double da = sc.da.get(j);
                    sc.daMem.set(j, da * gp[hh]);
                    sc.daDot.set(j, da * (1 - gp[hh]));
                    sum += da * (L.aMem.get(j) - L.aDot.get(j));
                }
                acc[hh] += sum;
            }
        }
        for (int hh = 0; hh < d.h(); hh++) {
            dGate.set(hh, acc[hh] * gp[hh] * (1 - gp[hh]));
        }
    }

    /** Local attention backward per (batch row, query head): dV, then softmax backward, then dQr and dKr. */
    private static void local(Dims d, LayerBuffers L, Scratch sc) {
        int s = d.s(), hd = d.hd();
        double scale = 1.0 / Math.sqrt(hd);
        sc.dkr.zero();
        sc.dv.zero();
        for (int b = 0; b < d.b(); b++) {
            for (int hh = 0; hh < d.h(); hh++) {
                int kv = hh / d.g();
                long qOff = (long) b * s * d.qd() + hh * hd, kOff = (long) b * s * d.kvd() + kv * hd;
                int pOff = (b * d.h() + hh) * s * s;
                Blas.gemm(false, true, s, s, hd, 1, sc.daDot, qOff, d.qd(), L.v, kOff, d.kvd(), 0, sc.dp, 0, s);
                Blas.gemm(true, false, s, hd, s, 1, L.probs, pOff, s, sc.daDot, qOff, d.qd(), 1, sc.dv, kOff, d.kvd());
                Kernels.softmaxBackward(L.probs, pOff, sc.dp, s);
                Blas.gemm(false, false, s, hd, s, scale, sc.dp, 0, s, L.kr, kOff, d.kvd(), 0, sc.dqr, qOff, d.qd());
                Blas.gemm(true, false, s, hd, s, scale, sc.dp, 0, s, L.qr, qOff, d.qd(), 1, sc.dkr, kOff, d.kvd());
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
        double[] dden = new double[s];
        for (int b = 0; b < d.b(); b++) {
            for (int hh = 0; hh < heads; hh++) {
                int mi = b * d.kv() + hh / group, zo = mi * hd;
                long off = (long) b * s * ld + hh * hd, mOff = (long) mi * hd * hd;
                for (int t = 0; t < s; t++) {
                    int o = (int) off + t * ld;
                    double dn = den[(b * s + t) * heads + hh], acc = 0;
                    for (int i = 0; i < hd; i++) {
                        double g = dOut.get(o + i);
                        acc -= g * out.get(o + i);
                        dOut.set(o + i, g / dn);
                    }
                    dden[t] = acc / dn;
                }
                Blas.gemm(false, true, s, hd, hd, 1, dOut, off, ld, mem.m(), mOff, hd, betaSx, dsx, off, ld);
                Blas.gemm(true, false, hd, hd, s, 1, sx, off, ld, dOut, off, ld, 1, mem.dm(), mOff, hd);
                for (int t = 0; t < s; t++) {
                    int o = (int) off + t * ld;
                    for (int i = 0; i < hd; i++) {
                        dsx.add(o + i, dden[t] * mem.z().get(zo + i));
                        mem.dz().add(zo + i, dden[t] * sx.get(o + i));
                    }
                }
            }
        }
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
                for (int t = 0; t < s; t++) {
                    for (int i = 0; i < hd; i++) {
                        sc.dsk.add((int) off + t * kvd + i, mem.dzNext().get(mi * hd + i));
                    }
                }
                Blas.gemm(false, false, s, hd, hd, 1, L.sk, off, kvd, mem.dmNext(), mOff, hd,
                        delta ? 0 : 1, delta ? sc.dvalue : sc.dv, off, kvd);
            }
        }
        if (delta) {
            for (int i = 0; i < d.n() * kvd; i++) {
                double g = sc.dvalue.get(i);
                sc.dv.add(i, g);
                sc.dvalue.set(i, -g);
            }
            readBackward(d, L.sk, d.kv(), kvd, 1, sc.dvalue, L.retr, L.denR, sc.dsk, 1, mem);
        }
    }
}
