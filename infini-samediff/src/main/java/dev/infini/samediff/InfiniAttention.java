package dev.infini.samediff;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * The Infini-attention equations, written once (Munkhdalai et al. 2024, arXiv 2404.07143, section 2.1;
 * {@code docs/spec.md} fixes the choices the paper leaves open). Every engine and adapter
 * that builds an Infini-attention layer calls {@link #apply}: the SameDiff decoder graph
 * ({@link DecoderGraph}) and the Deeplearning4j layer adapters; token-by-token decoding calls {@link #step},
 * the same code with a key/value cache of the current segment in front of the new token.
 *
 * <p>Layouts (B batch, S segment length, H query heads, Hkv key/value heads, g = H/Hkv, d head_dim):
 * query heads of one group are stacked along the row axis, so the query tensors are
 * {@code [B, Hkv, g*S, d]} with row {@code j*S + s} holding query head {@code kv*g + j} at position
 * {@code s}; one memory per KV head is then read by all the query heads of its group with one batched
 * matrix product, and K/V are never copied per query head.
 */
public final class InfiniAttention {
    /** The eps of the memory read and of the delta rule's retrieval (spec). */
    public static final double EPS = 1e-6;
    /** Additive bias that keeps a masked key out of the softmax. */
    public static final double MASKED = -1e9;

    private InfiniAttention() {
    }

    /** Static sizes of one layer on one segment. */
    public record Dims(int batch, int seqLen, int numHeads, int numKvHeads, int headDim) {
        public int group() {
            return numHeads / numKvHeads;
        }
    }

    /** The trainable tensors of one attention layer (weights in Hugging Face {@code [out, in]} layout). */
    public record Weights(SDVariable qProj, SDVariable kProj, SDVariable vProj, SDVariable oProj, SDVariable gate) {
    }

    /**
     * What a segment shares across layers: its padding mask, the additive causal+padding bias and the
     * rotary tables.
     *
     * @param tokenMask {@code [B*S, 1]}, 1 for a real token, 0 for padding
     * @param bias      {@code [B, Hkv, g*S, S]}: 0 where query row may attend to key, {@link #MASKED} elsewhere
     * @param cosQ      {@code [B*S, H*d]} cosines of the rotary angles, position restarting at 0 per segment
     * @param sinQ      {@code [B*S, H*d]}
     * @param cosK      {@code [B*S, Hkv*d]}
     * @param sinK      {@code [B*S, Hkv*d]}
     * @param rotate    {@code [d, d]}: {@code x @ rotate == rotate_half(x) = concat(-x2, x1)}
     */
    public record SegmentContext(SDVariable tokenMask, SDVariable bias, SDVariable cosQ, SDVariable sinQ,
                                 SDVariable cosK, SDVariable sinK, SDVariable rotate) {
    }

    /**
     * The keys and values of the earlier positions of the current segment, for decoding one token at a time
     * ({@link #step}): {@code keys} {@code [B, Hkv, C, d]} after RoPE (each at its own position within the
     * segment) and {@code values} {@code [B, Hkv, C, d]}. Slots not yet filled are kept out by the bias.
     */
    public record KvCache(SDVariable keys, SDVariable values) {
    }

    /**
     * Broadcasting multiplies were about a third of a training step on this CPU (their backward is slow
     * in libnd4j), so every graph here multiplies arrays of equal shape: a column {@code [M, 1]} or row
     * {@code [1, N]} is first expanded to {@code [M, N]} by an outer product with a constant of ones.
     */
    public static SDVariable ones(SameDiff sd, org.nd4j.linalg.api.buffer.DataType dtype, long rows, long cols) {
        String name = "ones." + dtype + "." + rows + "x" + cols;
        return sd.hasVariable(name) ? sd.getVariable(name) : sd.constant(name, org.nd4j.linalg.factory.Nd4j.ones(dtype, rows, cols));
    }

    /** {@code [M, 1]} to {@code [M, n]} (each row repeated), as a matrix product. */
    public static SDVariable expandColumn(SameDiff sd, String name, SDVariable col, long n) {
        return sd.mmul(name, col, ones(sd, col.dataType(), 1, n));
    }

    /** {@code [1, n]} to {@code [m, n]} (the row repeated), as a matrix product. */
    public static SDVariable expandRow(SameDiff sd, String name, SDVariable row, long m) {
        return sd.mmul(name, ones(sd, row.dataType(), m, 1), row);
    }

    /** {@code sigma(x) = ELU(x) + 1}, the memory's non-negative feature map. */
    public static SDVariable sigma(SameDiff sd, String name, SDVariable x) {
        return sd.nn.elu(x).add(name, 1.0);
    }

    /**
     * Memory read, before the update: {@code A_mem = sigma(Q) M / (sigma(Q) z + eps)}. The denominator
     * {@code [B, Hkv, R, 1]} is expanded to full size by a batched product with ones before dividing.
     *
     * @param sQ {@code [B, Hkv, R, d]}; {@code m} {@code [B, Hkv, d, d]}; {@code z} {@code [B, Hkv, d, 1]}
     * @return {@code [B, Hkv, R, d]}
     */
    public static SDVariable read(SameDiff sd, String name, SDVariable sQ, SDVariable m, SDVariable z,
                                  long b, long nkv, long d) {
        SDVariable num = sd.mmul(name + ".num", sQ, m);                        // [B,Hkv,R,d]
        SDVariable den = sd.mmul(name + ".den", sQ, z).add(EPS);               // [B,Hkv,R,1]
        // Expand the derived column, never z itself: in M2.1 no gradient reaches a placeholder through
        // an op whose other inputs are constants (reshape, expand_dims, a product with ones) unless the
        // placeholder was named when the gradient function was built, as GraphRuntime does for the memory
        // (z's own reshape to a column relies on that); the gradient check test catches it.
        String onesName = "ones.rows." + z.dataType() + "." + b + "x" + nkv + "x" + d;
        SDVariable onesRows = sd.hasVariable(onesName) ? sd.getVariable(onesName)
                : sd.constant(onesName, org.nd4j.linalg.factory.Nd4j.ones(z.dataType(), b, nkv, 1, d));
        return num.div(name, sd.mmul(name + ".den_full", den, onesRows));    // [B,Hkv,R,d]
    }

    /**
     * Memory write: linear {@code M + sigma(K)^T V} or delta
     * {@code M + sigma(K)^T (V - sigma(K) M / (sigma(K) z + eps))}; both {@code z + sum_t sigma(K_t)}.
     * {@code sK} rows of padded positions must already be zero, which keeps them out of M and z.
     *
     * @param sK {@code [B, Hkv, S, d]}; {@code v} {@code [B, Hkv, S, d]}; {@code z} a column {@code [B, Hkv, d, 1]}
     * @return {@code {M' [B, Hkv, d, d], z' [B, Hkv, d]}}
     */
    public static SDVariable[] write(SameDiff sd, String prefix, MemoryUpdate rule, SDVariable sK, SDVariable v,
                                     SDVariable m, SDVariable z, long b, long nkv, long d,
                                     String mOutName, String zOutName) {
        SDVariable sKt = sd.permute(prefix + ".sKt", sK, 0, 1, 3, 2);                 // [B,Hkv,d,S]
        SDVariable value = v;
        if (rule == MemoryUpdate.DELTA) {
            SDVariable retrieved = read(sd, prefix + ".retrieved", sK, m, z, b, nkv, d);         // [B,Hkv,S,d]
            value = v.sub(prefix + ".delta", retrieved);
        }
        SDVariable mNext = m.add(mOutName, sd.mmul(prefix + ".kv", sKt, value));    // [B,Hkv,d,d]
        SDVariable zNext = z.add(prefix + ".z_next_col", sKt.sum(prefix + ".ksum", true, 3));   // [B,Hkv,d,1]
        return new SDVariable[] {mNext, sd.reshape(zOutName, zNext, b, nkv, d)};     // z' [B,Hkv,d]
    }

    /**
     * One Infini-attention layer on one segment: local causal softmax attention with RoPE, a read of the
     * memory written by all earlier segments, the per-head gate that mixes the two, the output
     * projection, and the memory after writing this segment.
     *
     * @param h      normalised hidden states {@code [B*S, D]}
     * @param m      memory {@code [B, Hkv, d, d]} before this segment
     * @param z      normaliser {@code [B, Hkv, d]} before this segment ({@link MemoryState}'s layout; reshaped to a
     *               column inside, so that reading it is a matrix product)
     * @return the projected output {@code [B*S, D]} and {@code {M' [B, Hkv, d, d], z' [B, Hkv, d]}} named
     *         {@code mOutName}, {@code zOutName}
     */
    public static SDVariable[] apply(SameDiff sd, String p, Dims dims, MemoryUpdate rule, Weights w,
                                     SegmentContext ctx, SDVariable h, SDVariable m, SDVariable z,
                                     String mOutName, String zOutName) {
        return layer(sd, p, dims, rule, w, ctx, h, m, z, null, mOutName, zOutName);
    }

    /**
     * The same layer for decoding: {@code dims.seqLen()} new tokens (usually 1) at the positions that follow
     * the {@code cache} entries of the current segment. Local attention runs over the cached keys/values and
     * the new tokens' own, the memory {@code M, z} of the earlier segments is read exactly as in
     * {@link #apply}, and the gate mixes the two. Nothing is written into memory: the caller writes the whole
     * segment once it is full (with {@link #apply}), as the spec's segment-level update requires.
     *
     * <p>{@code ctx.bias()} must broadcast to {@code [B, Hkv, g*S, C+S]} (cache slots first, then the new
     * tokens); its rotary tables hold the new tokens' positions within the segment; {@code ctx.tokenMask()}
     * is not used. The new tokens' RoPE'd keys and values are the nodes {@code p + ".k_h"}, {@code p + ".v_h"}
     * ({@code [B, Hkv, S, d]}), to be appended to the cache.
     *
     * @return the projected output {@code [B*S, D]}
     */
    public static SDVariable step(SameDiff sd, String p, Dims dims, Weights w, SegmentContext ctx, SDVariable h,
                                  SDVariable m, SDVariable z, KvCache cache) {
        return layer(sd, p, dims, null, w, ctx, h, m, z, cache, null, null)[0];
    }

    /** {@link #apply} ({@code cache == null}: a whole segment, memory written) or {@link #step}. */
    private static SDVariable[] layer(SameDiff sd, String p, Dims dims, MemoryUpdate rule, Weights w,
                                      SegmentContext ctx, SDVariable h, SDVariable m, SDVariable z, KvCache cache,
                                      String mOutName, String zOutName) {
        int b = dims.batch(), s = dims.seqLen(), nh = dims.numHeads(), nkv = dims.numKvHeads(), d = dims.headDim();
        int g = dims.group();
        // z comes in as [B,Hkv,d] (MemoryState's layout) and is used as a column, so reading it is a matrix product;
        // its gradient crosses this reshape because GraphRuntime names the memory when building the gradient function.
        SDVariable zCol = sd.reshape(p + ".z_col", z, b, nkv, d, 1);                  // [B,Hkv,d,1]

        // Projections, weights [out, in]: y = x W^T.
        SDVariable q = sd.mmul(p + ".q", h, w.qProj(), false, true, false);          // [B*S, H*d]
        SDVariable k = sd.mmul(p + ".k", h, w.kProj(), false, true, false);          // [B*S, Hkv*d]
        SDVariable v = sd.mmul(p + ".v", h, w.vProj(), false, true, false);          // [B*S, Hkv*d]

        // RoPE (rotate_half layout): x*cos + rotate_half(x)*sin, positions 0..S-1 in every segment.
        SDVariable qRot = sd.reshape(sd.mmul(sd.reshape(q, (long) b * s * nh, d), ctx.rotate()), (long) b * s, (long) nh * d);
        SDVariable kRot = sd.reshape(sd.mmul(sd.reshape(k, (long) b * s * nkv, d), ctx.rotate()), (long) b * s, (long) nkv * d);
        SDVariable qRope = q.mul(ctx.cosQ()).add(p + ".q_rope", qRot.mul(ctx.sinQ()));
        SDVariable kRope = k.mul(ctx.cosK()).add(p + ".k_rope", kRot.mul(ctx.sinK()));

        // Head layouts: queries grouped per KV head [B,Hkv,g*S,d]; keys/values [B,Hkv,S,d].
        SDVariable qG = groupQueries(sd, p + ".q_g", qRope, dims);
        SDVariable qRawG = groupQueries(sd, p + ".q_raw_g", q, dims);
        SDVariable kH = toHeads(sd, p + ".k_h", kRope, b, s, nkv, d);
        SDVariable vH = toHeads(sd, p + ".v_h", v, b, s, nkv, d);

        // A_dot = softmax(RoPE(Q) RoPE(K)^T / sqrt(d) + causal mask) V, local to this segment
        // (when decoding, the keys/values are this segment's cached ones followed by the new tokens').
        SDVariable keys = cache == null ? kH : sd.concat(p + ".keys", 2, cache.keys(), kH);
        SDVariable values = cache == null ? vH : sd.concat(p + ".values", 2, cache.values(), vH);
        SDVariable scores = sd.mmul(p + ".scores", qG, sd.permute(keys, 0, 1, 3, 2)).mul(1.0 / Math.sqrt(d));
        SDVariable probs = sd.nn.softmax(p + ".probs", scores.add(ctx.bias()));      // [B,Hkv,g*S,S(+C)]
        SDVariable aDot = sd.mmul(p + ".a_dot", probs, values);                       // [B,Hkv,g*S,d]

        // A_mem = sigma(Q) M / (sigma(Q) z + eps), read before the update; Q, K before RoPE.
        SDVariable aMem = read(sd, p + ".a_mem", sigma(sd, p + ".sigma_q", qRawG), m, zCol, b, nkv, d);

        // A = sigmoid(g_h) A_mem + (1 - sigmoid(g_h)) A_dot, one gate per query head, mixed in the
        // concat layout [B*S, H*d] with the gate expanded to full size.
        SDVariable gateP = sd.reshape(sd.nn.sigmoid(p + ".gate_p", w.gate()), nh, 1);  // [H,1]
        SDVariable gateFull = expandRow(sd, p + ".gate_full",
                sd.reshape(expandColumn(sd, p + ".gate_hd", gateP, d), 1, (long) nh * d), (long) b * s);
        SDVariable aDot2d = concatHeads(sd, aDot, b, s, nh, d);                       // [B*S, H*d]
        SDVariable aMem2d = concatHeads(sd, aMem, b, s, nh, d);
        SDVariable a = aDot2d.add(p + ".mix", aMem2d.sub(aDot2d).mul(gateFull));

        // out = concat_h(A) W_o
        SDVariable out = sd.mmul(p + ".out", a, w.oProj(), false, true, false);       // [B*S, D]
        if (cache != null) {
            return new SDVariable[] {out};
        }

        // Memory write of this segment (padded positions zeroed out of sigma(K)).
        SDVariable maskK = expandColumn(sd, p + ".mask_k", ctx.tokenMask(), (long) nkv * d);
        SDVariable sK = toHeads(sd, p + ".sigma_k", sigma(sd, p + ".sigma_k_raw", k).mul(maskK), b, s, nkv, d);
        SDVariable[] mem = write(sd, p + ".mem", rule, sK, vH, m, zCol, b, nkv, d, mOutName, zOutName);
        return new SDVariable[] {out, mem[0], mem[1]};
    }

    /** {@code [B*S, n*d]} to {@code [B, n, S, d]}. */
    private static SDVariable toHeads(SameDiff sd, String name, SDVariable x, int b, int s, int n, int d) {
        return sd.permute(name, sd.reshape(x, b, s, n, d), 0, 2, 1, 3);
    }

    /** {@code [B, Hkv, g*S, d]} (= {@code [B, H, S, d]} in memory order) to {@code [B*S, H*d]}. */
    private static SDVariable concatHeads(SameDiff sd, SDVariable x, int b, int s, int nh, int d) {
        return sd.reshape(sd.permute(sd.reshape(x, b, nh, s, d), 0, 2, 1, 3), (long) b * s, (long) nh * d);
    }

    /** {@code [B*S, H*d]} to {@code [B, Hkv, g*S, d]} (query head {@code kv*g+j} at rows {@code j*S..}). */
    private static SDVariable groupQueries(SameDiff sd, String name, SDVariable x, Dims dims) {
        int b = dims.batch(), s = dims.seqLen(), nh = dims.numHeads(), d = dims.headDim();
        SDVariable heads = sd.permute(sd.reshape(x, b, s, nh, d), 0, 2, 1, 3);        // [B,H,S,d]
        return sd.reshape(name, heads, b, dims.numKvHeads(), (long) dims.group() * s, d);
    }
}
