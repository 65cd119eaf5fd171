package dev.infini.samediff.fast;

import org.nd4j.linalg.api.buffer.DataType;

/**
 * What the forward pass of one layer keeps for its backward pass, allocated once per engine and reused by every
 * call (shapes in the comments; see {@link Dims} for the letters).
 */
final class LayerBuffers {
    final Buf inv1;      // [N]      RMSNorm factor of the input norm
    final Buf h;         // [N, D]   normalised input of attention
    final Buf q;         // [N, H*d] queries before RoPE (memory path)
    final Buf k;         // [N, Hkv*d] keys before RoPE
    final Buf v;         // [N, Hkv*d]
    final Buf qr;        // [N, H*d] RoPE(Q)
    final Buf kr;        // [N, Hkv*d] RoPE(K)
    final Buf sq;        // [N, H*d] sigma(Q)
    final Buf probs;     // [B, S, H, S] softmax of the local attention (row s*H + h of batch row b)
    final Buf aDot;      // [N, H*d]
    final Buf aMem;      // [N, H*d]
    final double[] den;  // [N*H]    sigma(Q) z + eps
    final Buf sk;        // [N, Hkv*d] sigma(K) * token mask
    final Buf retr;      // [N, Hkv*d] delta rule: sigma(K) M / (sigma(K) z + eps); null for linear
    final Buf value;     // [N, Hkv*d] delta rule: V - retr; null for linear (V itself)
    final double[] denR; // [N*Hkv]  delta rule: sigma(K) z + eps
    final Buf a;         // [N, H*d] gated mix
    final Buf x1;        // [N, D]   after the attention residual
    final Buf inv2;      // [N]
    final Buf h2;        // [N, D]
    final Buf gt;        // [N, I]   gate projection (pre-activation)
    final Buf up;        // [N, I]
    final Buf act;       // [N, I]   tanh(...) of GeLU-tanh, or sigmoid(g) of SiLU (see Kernels.activation)
    final Buf mm;        // [N, I]   act * up

    LayerBuffers(Dims d, DataType t, boolean delta) {
        inv1 = Buf.zeros(t, d.n());
        h = Buf.zeros(t, d.n(), d.dm());
        q = Buf.zeros(t, d.n(), d.qd());
        k = Buf.zeros(t, d.n(), d.kvd());
        v = Buf.zeros(t, d.n(), d.kvd());
        qr = Buf.zeros(t, d.n(), d.qd());
        kr = Buf.zeros(t, d.n(), d.kvd());
        sq = Buf.zeros(t, d.n(), d.qd());
        probs = Buf.zeros(t, d.b(), d.s(), d.h(), d.s());
        aDot = Buf.zeros(t, d.n(), d.qd());
        aMem = Buf.zeros(t, d.n(), d.qd());
        den = new double[d.n() * d.h()];
        sk = Buf.zeros(t, d.n(), d.kvd());
        retr = delta ? Buf.zeros(t, d.n(), d.kvd()) : null;
        value = delta ? Buf.zeros(t, d.n(), d.kvd()) : null;
        denR = delta ? new double[d.n() * d.kv()] : null;
        a = Buf.zeros(t, d.n(), d.qd());
        x1 = Buf.zeros(t, d.n(), d.dm());
        inv2 = Buf.zeros(t, d.n());
        h2 = Buf.zeros(t, d.n(), d.dm());
        gt = Buf.zeros(t, d.n(), d.im());
        up = Buf.zeros(t, d.n(), d.im());
        act = Buf.zeros(t, d.n(), d.im());
        mm = Buf.zeros(t, d.n(), d.im());
    }
}
