package dev.infini.samediff.fast;

import org.nd4j.linalg.api.buffer.DataType;

/** Backward-pass temporaries shared by all layers (overwritten layer by layer), allocated once per engine. */
final class Scratch {
    final Buf dx;      // [N, D]   gradient of the residual stream
    final Buf dh;      // [N, D]   gradient of a norm's output
    final Buf dgt;     // [N, I]
    final Buf dup;     // [N, I]
    final Buf da;      // [N, H*d]
    final Buf daDot;   // [N, H*d]
    final Buf daMem;   // [N, H*d]  on exit of the read backward: d(num) = daMem / den
    final Buf dqr;     // [N, H*d]
    final Buf dq;      // [N, H*d]
    final Buf dsq;     // [N, H*d]
    final Buf dkr;     // [N, Hkv*d]
    final Buf dk;      // [N, Hkv*d]
    final Buf dv;      // [N, Hkv*d]
    final Buf dsk;     // [N, Hkv*d]
    final Buf dvalue;  // [N, Hkv*d]
    final Buf dp;      // [B, S, H, S] d(probs), then d(scores)
    final double[] dden;  // [N*H]

    /** Buffers for one layer's backward (the head's are {@link FastHead}'s own). */
    Scratch(Dims d, DataType t) {
        dx = Buf.zeros(t, d.n(), d.dm());
        dh = Buf.zeros(t, d.n(), d.dm());
        dgt = Buf.zeros(t, d.n(), d.im());
        dup = Buf.zeros(t, d.n(), d.im());
        da = Buf.zeros(t, d.n(), d.qd());
        daDot = Buf.zeros(t, d.n(), d.qd());
        daMem = Buf.zeros(t, d.n(), d.qd());
        dqr = Buf.zeros(t, d.n(), d.qd());
        dq = Buf.zeros(t, d.n(), d.qd());
        dsq = Buf.zeros(t, d.n(), d.qd());
        dkr = Buf.zeros(t, d.n(), d.kvd());
        dk = Buf.zeros(t, d.n(), d.kvd());
        dv = Buf.zeros(t, d.n(), d.kvd());
        dsk = Buf.zeros(t, d.n(), d.kvd());
        dvalue = Buf.zeros(t, d.n(), d.kvd());
        dp = Buf.zeros(t, d.b(), d.s(), d.h(), d.s());
        dden = new double[d.n() * d.h()];
    }
}
