package dev.infini.samediff;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Map;

/**
 * The pieces the decoder graphs are made of, shared by the segment, unrolled and decode-step graphs
 * ({@link DecoderGraph}) and by the Deeplearning4j layers: embedding, decoder layer (RMSNorm,
 * {@link InfiniAttention}, MLP), LM head, the next-token loss, the memory placeholders, the surrogate
 * objective of per-segment back-propagation ({@link #memoryObjective}) and the unrolling of segments into
 * one graph ({@link #unroll}). Weights are read from the graph by their Hugging Face names ({@link TensorNames}).
 */
public final class DecoderBlocks {
    private DecoderBlocks() {
    }

    /** A SameDiff holding the model's weights as variables named after the Hugging Face tensors. */
    static SameDiff newGraph(InfiniConfig c, Map<String, INDArray> weights, int batch, int seqLen) {
        if (batch <= 0 || seqLen <= 0) {
            throw new IllegalArgumentException("batch and segment length must be positive, got " + batch + " x " + seqLen);
        }
        SameDiff sd = SameDiff.create();
        for (TensorNames.Spec spec : TensorNames.all(c)) {
            INDArray w = weights.get(spec.name());
            if (w == null) {
                throw new IllegalArgumentException("missing weight " + spec.name());
            }
            sd.var(spec.name(), w);
        }
        return sd;
    }

    /** {@code -sum(labels * log_softmax(logits))}: labels are one-hot rows, all-zero where nothing counts. */
    public static SDVariable nll(SameDiff sd, String name, SDVariable logits2d, SDVariable labels) {
        return sd.nn.logSoftmax(name + ".log_probs", logits2d).mul(labels).sum().neg(name);
    }

    /**
     * The decoder on one segment: embedding, every layer (Infini-attention and MLP) and the LM head.
     * Names of internal nodes start with {@code tag}; {@code mNext}/{@code zNext} name the memory out.
     *
     * @return logits {@code [B*S, V]}
     */
    static SDVariable segment(SameDiff sd, InfiniConfig c, String tag, int b, int s, DataType dtype,
                                      SDVariable ids, SDVariable mask, SDVariable[] m, SDVariable[] z,
                                      String[] mNext, String[] zNext, boolean oneHotEmbedding) {
        long n = (long) b * s;
        InfiniAttention.SegmentContext ctx = GraphTables.segmentContext(sd, c, tag, b, s, dtype, mask);
        SDVariable flatIds = sd.reshape(tag + "input_ids_flat", ids, n);
        SDVariable x = embed(sd, c, tag, flatIds, oneHotEmbedding, dtype);
        if (c.tokenShift()) {
            x = x.add(tag + "embed_shifted", previousTokens(sd, c, tag, flatIds, b, s, s, oneHotEmbedding, dtype));
        }
        for (int i = 0; i < c.numLayers(); i++) {
            x = decoderLayer(sd, c, tag + "layers." + i, i, b, s, ctx, x, m[i], z[i], mNext[i], zNext[i])[0];
        }
        return lmHead(sd, c, tag, x, n);                                                    // [B*S, V]
    }

    /**
     * Token embedding {@code [N, D]} of flat ids {@code [N]} from the variable {@link TensorNames#EMBED}
     * (Gemma scales by sqrt(D)). With {@code oneHot} it is one-hot x E (gather's gradient in M2.1 is
     * wrong for repeated ids and slow); otherwise a gather (no {@code [N, V]} one-hot, for inference).
     */
    public static SDVariable embed(SameDiff sd, InfiniConfig c, String tag, SDVariable flatIds, boolean oneHot,
                                   DataType dtype) {
        SDVariable x = oneHot
                ? sd.mmul(tag + "embed", sd.oneHot(tag + "input_one_hot", flatIds, c.vocabSize(), -1, 1.0, 0.0, dtype),
                        sd.getVariable(TensorNames.EMBED))
                : sd.gather(tag + "embed", sd.getVariable(TensorNames.EMBED), flatIds, 0);
        if (c.family() == ModelFamily.GEMMA) {
            x = x.mul(tag + "embed_scaled", embedScale(c));
        }
        return x;
    }

    /** The embeddings' scale: {@code sqrt(D)} for Gemma, else 1 (the token shift's table is scaled alike). */
    private static double embedScale(InfiniConfig c) {
        return c.family() == ModelFamily.GEMMA ? Math.sqrt(c.hiddenSize()) : 1.0;
    }

    /**
     * The token shift of a segment graph (beyond the paper; spec, "Beyond the paper: token shift"):
     * {@code [N, D]} whose row {@code r = b*T + t} is {@code P[ids[r-1]]} unless {@code t} starts a segment
     * ({@code t % segment == 0}), where it is zero; times sqrt(D) for Gemma ({@link TensorNames#PREV_EMBED};
     * {@code FastEmbedding} computes the same). The rows of {@code P[ids]} move down by one and the first row of
     * every segment is masked out. {@code t} is {@code S} in a segment graph, the whole sequence in the DL4J layer.
     */
    public static SDVariable previousTokens(SameDiff sd, InfiniConfig c, String tag, SDVariable flatIds, int b, int t,
                                            int segment, boolean oneHot, DataType dtype) {
        int n = b * t, dm = c.hiddenSize();
        SDVariable pe = oneHot                                                              // P[ids]  [N, D]
                ? sd.mmul(tag + "prev_embed", sd.oneHot(tag + "prev_one_hot", flatIds, c.vocabSize(), -1, 1.0, 0.0, dtype),
                        sd.getVariable(TensorNames.PREV_EMBED))
                : sd.gather(tag + "prev_embed", sd.getVariable(TensorNames.PREV_EMBED), flatIds, 0);
        if (n == 1) {                      // one position, the first of its segment: nothing added (P stays in the graph)
            return pe.mul(tag + "prev_embed_masked", 0.0);
        }
        SDVariable down = sd.concat(tag + "prev_embed_down", 0, sd.constant(tag + "prev_embed_zero",
                org.nd4j.linalg.factory.Nd4j.zeros(dtype, 1, dm)), sd.slice(tag + "prev_embed_head", pe, new int[] {0, 0},
                new int[] {n - 1, dm}));                                                   // row r = P[ids[r-1]]
        INDArray keep = org.nd4j.linalg.factory.Nd4j.ones(dtype, n, 1);
        for (int r = 0; r < n; r++) {
            if ((r % t) % segment == 0) {
                keep.putScalar(r, 0, 0.0);                                                 // no token before it
            }
        }
        return down.mul(tag + "prev_embed_masked", sd.constant(tag + "prev_embed_keep", keep.muli(embedScale(c))));
    }

    /**
     * The token shift of a decode step: {@code P[prevIds] * (pos > 0)}, times sqrt(D) for Gemma ({@code [B, D]}):
     * the previous token of the segment, none at its first slot.
     */
    static SDVariable previousToken(SameDiff sd, InfiniConfig c, SDVariable prevIds, SDVariable pos, DataType dtype) {
        SDVariable pe = sd.gather("step.prev_embed", sd.getVariable(TensorNames.PREV_EMBED), prevIds, 0);   // [B, D]
        SDVariable has = sd.reshape("step.has_prev", sd.castTo(sd.gt(pos, 0), dtype), -1, 1).mul(embedScale(c));     // [B, 1]
        return pe.mul("step.prev_embed_masked", has);
    }

    /** The attention of a layer on its normalised hidden states {@code h}; {@code p} prefixes its node names. */
    public interface LayerAttention {
        SDVariable apply(String p, InfiniAttention.Weights w, SDVariable h);
    }

    /**
     * Decoder layer {@code i} on one segment: {@code x += attn(input_norm(x)); x += mlp(post_norm(x))},
     * reading the weights of layer {@code i} by their Hugging Face names from {@code sd}.
     *
     * @param x {@code [B*S, D]}
     * @return {@code {x', M', z'}} with the memory named {@code mNext}, {@code zNext}
     */
    public static SDVariable[] decoderLayer(SameDiff sd, InfiniConfig c, String p, int i, int b, int s,
                                            InfiniAttention.SegmentContext ctx, SDVariable x, SDVariable m, SDVariable z,
                                            String mNext, String zNext) {
        InfiniAttention.Dims dims = new InfiniAttention.Dims(b, s, c.numHeads(), c.numKvHeads(), c.headDim());
        SDVariable[] mem = new SDVariable[2];
        SDVariable out = layer(sd, c, p, i, (long) b * s, x, (pa, w, h) -> {
            SDVariable[] r = InfiniAttention.apply(sd, pa, dims, c.memoryUpdate(), w, ctx, h, m, z, mNext, zNext);
            mem[0] = r[1];
            mem[1] = r[2];
            return r[0];
        });
        return new SDVariable[] {out, mem[0], mem[1]};
    }

    /**
     * The block structure shared by segment and decode-step graphs: {@code x += attention(input_norm(x));
     * x += mlp(post_norm(x))} on {@code n} rows.
     */
    static SDVariable layer(SameDiff sd, InfiniConfig c, String p, int i, long n, SDVariable x,
                                    LayerAttention attention) {
        SDVariable h = rmsNorm(sd, p + ".input_norm", x, sd.getVariable(TensorNames.inputNorm(i)), c, n);
        InfiniAttention.Weights w = new InfiniAttention.Weights(sd.getVariable(TensorNames.qProj(i)),
                sd.getVariable(TensorNames.kProj(i)), sd.getVariable(TensorNames.vProj(i)),
                sd.getVariable(TensorNames.oProj(i)), sd.getVariable(TensorNames.gate(i)));
        SDVariable x1 = x.add(p + ".resid_attn", attention.apply(p + ".attn", w, h));
        SDVariable h2 = rmsNorm(sd, p + ".post_norm", x1, sd.getVariable(TensorNames.postAttentionNorm(i)), c, n);
        return x1.add(p + ".resid_mlp", mlp(sd, p + ".mlp", h2, i, c));
    }

    /**
     * Final norm and LM head: logits {@code [N, V]} of hidden states {@code [N, D]}, the head being
     * {@link TensorNames#EMBED} when tied, else {@link TensorNames#LM_HEAD}.
     */
    public static SDVariable lmHead(SameDiff sd, InfiniConfig c, String tag, SDVariable x, long n) {
        SDVariable hf = rmsNorm(sd, tag + "final_norm", x, sd.getVariable(TensorNames.FINAL_NORM), c, n);
        SDVariable head = sd.getVariable(c.tieWordEmbeddings() ? TensorNames.EMBED : TensorNames.LM_HEAD);
        return sd.mmul(tag + "logits_2d", hf, head, false, true, false);
    }

    /**
     * RMSNorm in the graph's precision: {@code x / sqrt(mean(x^2) + eps) * (1 + w)} (Gemma) or {@code * w};
     * the per-row factor and the scale are expanded to {@code [N, D]} (see {@link InfiniAttention#ones}).
     */
    public static SDVariable rmsNorm(SameDiff sd, String name, SDVariable x, SDVariable w, InfiniConfig c, long n) {
        long d = c.hiddenSize();
        SDVariable ms = x.mul(x).mean(name + ".ms", true, 1);                         // [N,1]
        SDVariable inv = InfiniAttention.expandColumn(sd, name + ".inv", sd.math.rsqrt(ms.add(c.rmsNormEps())), d);
        SDVariable scale = c.family() == ModelFamily.GEMMA ? w.add(name + ".scale", 1.0) : w;
        SDVariable scaleFull = InfiniAttention.expandRow(sd, name + ".scale_full", sd.reshape(scale, 1, d), n);
        return x.mul(name + ".x_hat", inv).mul(name, scaleFull);
    }

    /** {@code down( act(gate(x)) * up(x) )} with GeLU-tanh (Gemma) or SiLU (Llama). */
    public static SDVariable mlp(SameDiff sd, String p, SDVariable x, int layer, InfiniConfig c) {
        SDVariable gate = sd.mmul(p + ".gate", x, sd.getVariable(TensorNames.mlpGate(layer)), false, true, false);
        SDVariable up = sd.mmul(p + ".up", x, sd.getVariable(TensorNames.mlpUp(layer)), false, true, false);
        SDVariable act;
        if (c.activation() == InfiniConfig.Activation.GELU_TANH) {
            // 0.5 x (1 + tanh( sqrt(2/pi) (x + 0.044715 x^3) ))
            SDVariable cube = gate.mul(gate).mul(gate);
            SDVariable inner = gate.add(cube.mul(0.044715)).mul(Math.sqrt(2.0 / Math.PI));
            act = gate.mul(sd.math.tanh(inner).add(1.0)).mul(p + ".act", 0.5);
        } else {
            act = gate.mul(p + ".act", sd.nn.sigmoid(gate));
        }
        return sd.mmul(p + ".down", act.mul(up), sd.getVariable(TensorNames.mlpDown(layer)), false, true, false);
    }

    /** A memory placeholder {@code M [B, Hkv, d, d]} (or its gradient) of one layer. */
    public static SDVariable memoryMPlaceholder(SameDiff sd, String name, InfiniConfig c, long batch, DataType dtype) {
        return sd.placeHolder(name, dtype, batch, c.numKvHeads(), c.headDim(), c.headDim());
    }

    /** A normaliser placeholder {@code z [B, Hkv, d]} (or its gradient) of one layer. */
    public static SDVariable memoryZPlaceholder(SameDiff sd, String name, InfiniConfig c, long batch, DataType dtype) {
        return sd.placeHolder(name, dtype, batch, c.numKvHeads(), c.headDim());
    }

    /**
     * The objective of one segment in per-segment back-propagation through memory:
     * {@code base + sum_i <M'_i, dM'_i> + <z'_i, dz'_i>}, where {@code dM'_i}, {@code dz'_i} are new
     * placeholders named {@code mGrad[i]}, {@code zGrad[i]} (shaped like the memory) holding the upstream
     * gradient of the loss of all later segments with respect to the memory this segment returns. Its gradient
     * with respect to parameters and incoming memory is this segment's share of the gradient of the loss over
     * all segments, which is what exact back-propagation through memory by per-segment recomputation chains
     * from the last segment to the first.
     *
     * @param base   this segment's own loss term (a scalar)
     * @param mNext  every layer's {@code M'} out of the segment; {@code zNext} every layer's {@code z'}
     */
    public static SDVariable memoryObjective(SameDiff sd, InfiniConfig c, long batch, DataType dtype, SDVariable base,
                                             SDVariable[] mNext, SDVariable[] zNext, String[] mGrad, String[] zGrad) {
        SDVariable objective = base;
        for (int i = 0; i < mNext.length; i++) {
            SDVariable gm = memoryMPlaceholder(sd, mGrad[i], c, batch, dtype);
            SDVariable gz = memoryZPlaceholder(sd, zGrad[i], c, batch, dtype);
            objective = objective.add(mNext[i].mul(gm).sum()).add(zNext[i].mul(gz).sum());
        }
        return objective;
    }

    /** One segment's part of an unrolled graph: its loss term and the memory it returns (per layer). */
    public record UnrolledTerm(SDVariable loss, SDVariable[] mNext, SDVariable[] zNext) {
    }

    /** Builds segment {@code k} of an unrolled graph, node names starting with {@code tag}, from the memory in. */
    public interface UnrolledSegment {
        UnrolledTerm build(int k, String tag, SDVariable[] m, SDVariable[] z);
    }

    /** The memory segment {@code k} of an unrolled graph reads, given what segment {@code k - 1} returned. */
    public interface MemoryCarry {
        SDVariable[][] next(int k, UnrolledTerm previous);
    }

    /**
     * {@code segments} segments in one graph, the memory flowing from each to the next inside the graph
     * (or as {@code carry} decides): the sum of their loss terms. Segment {@code k}'s node names start with
     * {@code seg<k>/}. A reference for the exactness of per-segment recomputation, and the non-checkpointed
     * form of the DL4J decoder layer; every segment's activations are alive together.
     *
     * @param m     memory entering the first segment, per layer; {@code z} likewise
     * @param carry null: each segment reads the memory the one before returned
     */
    public static SDVariable unroll(int segments, SDVariable[] m, SDVariable[] z, UnrolledSegment segment,
                                    MemoryCarry carry) {
        SDVariable total = null;
        for (int k = 0; k < segments; k++) {
            UnrolledTerm t = segment.build(k, "seg" + k + "/", m, z);
            total = total == null ? t.loss() : total.add(t.loss());
            if (k + 1 < segments) {
                SDVariable[][] next = carry == null ? new SDVariable[][] {t.mNext(), t.zNext()} : carry.next(k + 1, t);
                m = next[0];
                z = next[1];
            }
        }
        return total;
    }
}
