package dev.infini.samediff;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * The whole decoder for one segment as one SameDiff graph, for a fixed batch size and segment length.
 *
 * <p>In: {@link #INPUT_IDS} {@code [B, S]} (int32), {@link #ATTENTION_MASK} {@code [B, S]} (1 = token,
 * 0 = padding) and, per layer {@code i}, {@link #memoryM(int)} {@code [B, Hkv, d, d]} and
 * {@link #memoryZ(int)} {@code [B, Hkv, d, 1]} (a column; {@link MemoryState} holds {@code [B, Hkv, d]}).
 * Training graphs also take {@link #LABELS} {@code [B*S, V]}: one-hot next-token targets with all-zero
 * rows at positions that do not count, and upstream memory gradients (see {@link #build}).
 * <br>Out: {@link #LOGITS} {@code [B, S, V]}, {@link #memoryMNext(int)}, {@link #memoryZNext(int)} and,
 * in training graphs, {@link #NLL_SUM} and the objective {@link #LOSS}.
 *
 * <p>Variables carry the Hugging Face tensor names ({@link TensorNames}), so import and export are
 * name lookups. The weights are the model's own arrays, shared by every graph of that model.
 */
public final class DecoderGraph {
    public static final String INPUT_IDS = "input_ids";
    public static final String ATTENTION_MASK = "attention_mask";
    public static final String LOGITS = "logits";
    public static final String LABELS = "labels";
    public static final String LOSS = "loss";
    public static final String NLL_SUM = "nll_sum";
    /** Decode-step graphs: the new token's id {@code [B]} (int32). */
    public static final String STEP_INPUT_ID = "step.input_id";
    /** Decode-step graphs: the new token's position within its segment {@code [B]} (int32, 0-based). */
    public static final String STEP_POSITION = "step.position";
    /** Decode-step graphs: layer {@code i}'s cached RoPE'd keys of this segment {@code [B, Hkv, segment, d]}. */
    public static String cacheKeys(int layer) { return "cache." + layer + ".k"; }
    /** Decode-step graphs: layer {@code i}'s cached values of this segment {@code [B, Hkv, segment, d]}. */
    public static String cacheValues(int layer) { return "cache." + layer + ".v"; }
    /** Layer {@code i}'s RoPE'd keys {@code [B, Hkv, S, d]} of the tokens a graph ran on (segment and step graphs). */
    public static String layerKeys(int layer) { return "layers." + layer + ".attn.k_h"; }
    /** Layer {@code i}'s values {@code [B, Hkv, S, d]} of the tokens a graph ran on. */
    public static String layerValues(int layer) { return "layers." + layer + ".attn.v_h"; }

    public static String memoryM(int layer) { return "memory." + layer + ".M"; }
    public static String memoryZ(int layer) { return "memory." + layer + ".z"; }
    public static String memoryMNext(int layer) { return "memory." + layer + ".M.next"; }
    public static String memoryZNext(int layer) { return "memory." + layer + ".z.next"; }
    /** Upstream gradient of the objective with respect to {@link #memoryMNext(int)} (training graphs). */
    public static String memoryMGrad(int layer) { return "memory." + layer + ".M.next.grad"; }
    public static String memoryZGrad(int layer) { return "memory." + layer + ".z.next.grad"; }

    private final InfiniConfig config;
    private final SameDiff sd;
    private final int batch;
    private final int seqLen;
    private final DataType dtype;
    private final boolean withLoss;

    private DecoderGraph(InfiniConfig config, SameDiff sd, int batch, int seqLen, DataType dtype, boolean withLoss) {
        this.config = config;
        this.sd = sd;
        this.batch = batch;
        this.seqLen = seqLen;
        this.dtype = dtype;
        this.withLoss = withLoss;
    }

    /**
     * Builds the graph. {@code weights} maps every name of {@link TensorNames#all} to an array of
     * {@code dtype}; the graph uses those arrays themselves, not copies.
     *
     * <p>With {@code withLoss} the graph also takes {@link #LABELS} and, per layer, the upstream gradients
     * {@link #memoryMGrad(int)}/{@link #memoryZGrad(int)} of the memory it returns, and defines
     * {@link #NLL_SUM} (summed negative log-likelihood of the label rows) and the objective
     * {@code LOSS = NLL_SUM + sum_i <M'_i, dM'_i> + <z'_i, dz'_i>}: its gradient with respect to
     * parameters and incoming memory is this segment's share of the gradient of a loss over all
     * segments, which is what exact back-propagation through memory by per-segment recomputation
     * chains from the last segment to the first.
     */
    public static DecoderGraph build(InfiniConfig c, Map<String, INDArray> weights, int batch, int seqLen,
                                     DataType dtype, boolean withLoss) {
        SameDiff sd = newGraph(c, weights, batch, seqLen);
        int nl = c.numLayers(), nkv = c.numKvHeads(), hd = c.headDim();
        SDVariable ids = sd.placeHolder(INPUT_IDS, DataType.INT32, batch, seqLen);
        SDVariable mask = sd.placeHolder(ATTENTION_MASK, dtype, batch, seqLen);
        SDVariable[] m = new SDVariable[nl], z = new SDVariable[nl];
        String[] mNext = new String[nl], zNext = new String[nl];
        for (int i = 0; i < nl; i++) {
            m[i] = sd.placeHolder(memoryM(i), dtype, batch, nkv, hd, hd);
            z[i] = sd.placeHolder(memoryZ(i), dtype, batch, nkv, hd, 1);
            mNext[i] = memoryMNext(i);
            zNext[i] = memoryZNext(i);
        }
        SDVariable logits2d = segment(sd, c, "", batch, seqLen, dtype, ids, mask, m, z, mNext, zNext, withLoss);
        sd.reshape(LOGITS, logits2d, batch, seqLen, c.vocabSize());
        if (withLoss) {
            SDVariable labels = sd.placeHolder(LABELS, dtype, (long) batch * seqLen, c.vocabSize());
            SDVariable objective = nll(sd, NLL_SUM, logits2d, labels);
            for (int i = 0; i < nl; i++) {
                SDVariable gm = sd.placeHolder(memoryMGrad(i), dtype, batch, nkv, hd, hd);
                SDVariable gz = sd.placeHolder(memoryZGrad(i), dtype, batch, nkv, hd, 1);
                objective = objective.add(sd.getVariable(mNext[i]).mul(gm).sum())
                        .add(sd.getVariable(zNext[i]).mul(gz).sum());
            }
            sd.identity(LOSS, objective);
            sd.setLossVariables(LOSS);
        }
        return new DecoderGraph(c, sd, batch, seqLen, dtype, withLoss);
    }

    /**
     * One graph unrolled over {@code segments} segments, the memory flowing from each to the next inside
     * the graph: in {@code input_ids.k}, {@code attention_mask.k}, {@code labels.k} per segment k and
     * the initial memory; out {@link #NLL_SUM} over all segments. A reference for the exactness of
     * per-segment recomputation; too big for long sequences, which is why training does not use it.
     */
    public static DecoderGraph buildUnrolled(InfiniConfig c, Map<String, INDArray> weights, int batch, int seqLen,
                                             int segments, DataType dtype) {
        return buildUnrolled(c, weights, batch, seqLen, segments, dtype, false);
    }

    /**
     * As {@link #buildUnrolled(InfiniConfig, Map, int, int, int, DataType)}; with {@code detached} every
     * segment after the first reads its memory from placeholders {@code k/memory.i.M}, {@code k/memory.i.z}
     * instead of from the segment before, so no gradient crosses a segment boundary.
     */
    public static DecoderGraph buildUnrolled(InfiniConfig c, Map<String, INDArray> weights, int batch, int seqLen,
                                             int segments, DataType dtype, boolean detached) {
        SameDiff sd = newGraph(c, weights, batch, seqLen);
        int nl = c.numLayers(), nkv = c.numKvHeads(), hd = c.headDim();
        SDVariable[] m = new SDVariable[nl], z = new SDVariable[nl];
        for (int i = 0; i < nl; i++) {
            m[i] = sd.placeHolder(memoryM(i), dtype, batch, nkv, hd, hd);
            z[i] = sd.placeHolder(memoryZ(i), dtype, batch, nkv, hd, 1);
        }
        SDVariable total = null;
        for (int k = 0; k < segments; k++) {
            String tag = "seg" + k + "/";
            SDVariable ids = sd.placeHolder(INPUT_IDS + "." + k, DataType.INT32, batch, seqLen);
            SDVariable mask = sd.placeHolder(ATTENTION_MASK + "." + k, dtype, batch, seqLen);
            String[] mNext = new String[nl], zNext = new String[nl];
            for (int i = 0; i < nl; i++) {
                mNext[i] = tag + memoryMNext(i);
                zNext[i] = tag + memoryZNext(i);
            }
            SDVariable logits2d = segment(sd, c, tag, batch, seqLen, dtype, ids, mask, m, z, mNext, zNext, true);
            SDVariable labels = sd.placeHolder(LABELS + "." + k, dtype, (long) batch * seqLen, c.vocabSize());
            SDVariable nll = nll(sd, tag + NLL_SUM, logits2d, labels);
            total = total == null ? nll : total.add(nll);
            for (int i = 0; i < nl && k + 1 < segments; i++) {
                String next = "seg" + (k + 1) + "/";
                m[i] = detached ? sd.placeHolder(next + memoryM(i), dtype, batch, nkv, hd, hd) : sd.getVariable(mNext[i]);
                z[i] = detached ? sd.placeHolder(next + memoryZ(i), dtype, batch, nkv, hd, 1) : sd.getVariable(zNext[i]);
            }
        }
        sd.identity(NLL_SUM, total);
        sd.setLossVariables(NLL_SUM);
        return new DecoderGraph(c, sd, batch, seqLen, dtype, true);
    }

    /**
     * The graph of one decoding step: one new token per row at position {@link #STEP_POSITION} of its
     * segment, attending over that segment's cached keys/values ({@link #cacheKeys}, {@link #cacheValues},
     * a fixed {@code segment_size} slots, those at and after the position masked out) and reading the memory
     * of the earlier segments ({@link #memoryM}, {@link #memoryZ}) with {@link InfiniAttention#step}.
     * Out: {@link #LOGITS} {@code [B, V]} and, per layer, the new token's key and value
     * ({@link #layerKeys}, {@link #layerValues}, {@code [B, Hkv, 1, d]}) for the caller to put in the cache.
     * The memory is not updated here: the caller runs the segment graph once the segment is full.
     */
    public static DecoderGraph buildStep(InfiniConfig c, Map<String, INDArray> weights, int batch, DataType dtype) {
        int s = c.segmentSize();
        SameDiff sd = newGraph(c, weights, batch, 1);
        int nl = c.numLayers(), nkv = c.numKvHeads(), hd = c.headDim(), nh = c.numHeads();
        SDVariable ids = sd.placeHolder(STEP_INPUT_ID, DataType.INT32, batch);
        SDVariable pos = sd.placeHolder(STEP_POSITION, DataType.INT32, batch);
        SDVariable[] m = new SDVariable[nl], z = new SDVariable[nl];
        InfiniAttention.KvCache[] caches = new InfiniAttention.KvCache[nl];
        for (int i = 0; i < nl; i++) {
            m[i] = sd.placeHolder(memoryM(i), dtype, batch, nkv, hd, hd);
            z[i] = sd.placeHolder(memoryZ(i), dtype, batch, nkv, hd, 1);
            caches[i] = new InfiniAttention.KvCache(sd.placeHolder(cacheKeys(i), dtype, batch, nkv, s, hd),
                    sd.placeHolder(cacheValues(i), dtype, batch, nkv, s, hd));
        }
        // Rows of full-segment tables picked by position: RoPE angles and the key bias
        // (cache slots before the position and the token itself visible, the rest masked).
        double[][] angles = ropeAngles(s, hd, c.ropeTheta());
        SDVariable bias = sd.reshape("step.bias", sd.gather(sd.constant("step.bias_table", stepBias(s, dtype)), pos, 0),
                batch, 1, 1, s + 1);
        InfiniAttention.SegmentContext ctx = new InfiniAttention.SegmentContext(null, bias,
                sd.gather(sd.constant("rope.cos_q", ropeTable(angles, 1, nh, true, dtype)), pos, 0),
                sd.gather(sd.constant("rope.sin_q", ropeTable(angles, 1, nh, false, dtype)), pos, 0),
                sd.gather(sd.constant("rope.cos_k", ropeTable(angles, 1, nkv, true, dtype)), pos, 0),
                sd.gather(sd.constant("rope.sin_k", ropeTable(angles, 1, nkv, false, dtype)), pos, 0),
                sd.constant("rope.rotate_half", rotateHalf(hd, dtype)));
        InfiniAttention.Dims dims = new InfiniAttention.Dims(batch, 1, nh, nkv, hd);
        SDVariable x = embed(sd, c, "", ids, false, dtype);
        for (int i = 0; i < nl; i++) {
            final int layer = i;
            x = layer(sd, c, "layers." + i, i, batch, x, (p, w, h) ->
                    InfiniAttention.step(sd, p, dims, w, ctx, h, m[layer], z[layer], caches[layer]));
        }
        SDVariable logits2d = lmHead(sd, c, "", x, batch);
        sd.identity(LOGITS, logits2d);                                                      // [B, V]
        return new DecoderGraph(c, sd, batch, 1, dtype, false);
    }

    /** {@code [S, S+1]}: row p is 0 for cache slots {@code < p} and for the new token (last column), MASKED elsewhere. */
    static INDArray stepBias(int s, DataType dtype) {
        float[] t = new float[s * (s + 1)];
        for (int p = 0; p < s; p++) {
            for (int j = p; j < s; j++) {
                t[p * (s + 1) + j] = (float) InfiniAttention.MASKED;
            }
        }
        return Nd4j.create(t, new long[] {s, s + 1}).castTo(dtype);
    }

    /** A SameDiff holding the model's weights as variables named after the Hugging Face tensors. */
    private static SameDiff newGraph(InfiniConfig c, Map<String, INDArray> weights, int batch, int seqLen) {
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
    private static SDVariable segment(SameDiff sd, InfiniConfig c, String tag, int b, int s, DataType dtype,
                                      SDVariable ids, SDVariable mask, SDVariable[] m, SDVariable[] z,
                                      String[] mNext, String[] zNext, boolean oneHotEmbedding) {
        long n = (long) b * s;
        InfiniAttention.SegmentContext ctx = segmentContext(sd, c, tag, b, s, dtype, mask);
        SDVariable x = embed(sd, c, tag, sd.reshape(tag + "input_ids_flat", ids, n), oneHotEmbedding, dtype);
        for (int i = 0; i < c.numLayers(); i++) {
            x = decoderLayer(sd, c, tag + "layers." + i, i, b, s, ctx, x, m[i], z[i], mNext[i], zNext[i])[0];
        }
        return lmHead(sd, c, tag, x, n);                                                    // [B*S, V]
    }

    /**
     * What the layers of one segment share: padding mask, causal+padding bias, RoPE tables (positions
     * 0..S-1). Constants are created once per graph and shape.
     *
     * @param mask {@code [B, S]}, 1 for a token, 0 for padding
     */
    public static InfiniAttention.SegmentContext segmentContext(SameDiff sd, InfiniConfig c, String tag, int b, int s,
                                                                DataType dtype, SDVariable mask) {
        int hd = c.headDim(), nh = c.numHeads(), nkv = c.numKvHeads(), g = c.groupSize();
        long n = (long) b * s;
        String shape = "." + b + "x" + s;
        SDVariable tokenMask = sd.reshape(tag + "token_mask", mask, n, 1);
        // Padded keys: (mask - 1) * 1e9 in every query row, expanded by [B, Hkv*g*S, 1] x [B, 1, S], except
        // on the diagonal: a padded query still sees itself, so a segment of nothing but padding has no row
        // that is masked everywhere (libnd4j's softmax turns such a row into NaN); its outputs are ignored.
        SDVariable padRow = sd.reshape(mask.sub(1.0).mul(-InfiniAttention.MASKED), b, 1, s);
        SDVariable onesCol = constant(sd, "ones.pad_rows" + shape, () -> Nd4j.ones(dtype, b, (long) nkv * g * s, 1));
        SDVariable offDiagonal = constant(sd, "off_diagonal" + shape, () -> offDiagonal(b, nkv, g, s, dtype));
        SDVariable padBias = sd.reshape(sd.mmul(onesCol, padRow), b, nkv, (long) g * s, s).mul(offDiagonal);
        SDVariable bias = constant(sd, "causal_bias" + shape, () -> causalBias(b, nkv, g, s, dtype)).add(tag + "attn_bias", padBias);
        double[][] angles = ropeAngles(s, hd, c.ropeTheta());
        return new InfiniAttention.SegmentContext(tokenMask, bias,
                constant(sd, "rope.cos_q" + shape, () -> ropeTable(angles, b, nh, true, dtype)),
                constant(sd, "rope.sin_q" + shape, () -> ropeTable(angles, b, nh, false, dtype)),
                constant(sd, "rope.cos_k" + shape, () -> ropeTable(angles, b, nkv, true, dtype)),
                constant(sd, "rope.sin_k" + shape, () -> ropeTable(angles, b, nkv, false, dtype)),
                constant(sd, "rope.rotate_half", () -> rotateHalf(hd, dtype)));
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
            x = x.mul(tag + "embed_scaled", Math.sqrt(c.hiddenSize()));
        }
        return x;
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
    private static SDVariable layer(SameDiff sd, InfiniConfig c, String p, int i, long n, SDVariable x,
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

    private static SDVariable constant(SameDiff sd, String name, java.util.function.Supplier<INDArray> value) {
        return sd.hasVariable(name) ? sd.getVariable(name) : sd.constant(name, value.get());
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

    /** {@code [B, Hkv, g*S, S]}: 0 on and below the diagonal of each query head's block, MASKED above. */
    static INDArray causalBias(int b, int nkv, int g, int s, DataType dtype) {
        float[] block = new float[g * s * s];
        for (int j = 0; j < g; j++) {
            for (int r = 0; r < s; r++) {
                for (int col = r + 1; col < s; col++) {
                    block[(j * s + r) * s + col] = (float) InfiniAttention.MASKED;
                }
            }
        }
        return perBatchAndKvHead(block, b, nkv, g, s, dtype);
    }

    /** {@code [B, Hkv, g*S, S]}: 0 where a query row meets its own key, 1 elsewhere. */
    static INDArray offDiagonal(int b, int nkv, int g, int s, DataType dtype) {
        float[] block = new float[g * s * s];
        java.util.Arrays.fill(block, 1f);
        for (int j = 0; j < g; j++) {
            for (int r = 0; r < s; r++) {
                block[(j * s + r) * s + r] = 0f;
            }
        }
        return perBatchAndKvHead(block, b, nkv, g, s, dtype);
    }

    /** One {@code [g*S, S]} block repeated to {@code [B, Hkv, g*S, S]}. */
    private static INDArray perBatchAndKvHead(float[] block, int b, int nkv, int g, int s, DataType dtype) {
        INDArray one = Nd4j.create(block, new long[] {1, 1, (long) g * s, s}).castTo(dtype);
        return one.repeat(0, b).repeat(1, nkv).reshape(b, nkv, (long) g * s, s).dup();
    }

    /** Rotary angles {@code [S, d]}: position t times {@code theta^(-2i/d)} for {@code i = j mod d/2}. */
    static double[][] ropeAngles(int s, int hd, double theta) {
        double[][] a = new double[s][hd];
        for (int t = 0; t < s; t++) {
            for (int j = 0; j < hd; j++) {
                int i = j % (hd / 2);
                a[t][j] = t * Math.pow(theta, -2.0 * i / hd);
            }
        }
        return a;
    }

    /** Full-size table {@code [B*S, heads*d]} of cos or sin, so no broadcasting multiply is needed. */
    static INDArray ropeTable(double[][] angles, int b, int heads, boolean cos, DataType dtype) {
        int s = angles.length, hd = angles[0].length;
        double[] out = new double[b * s * heads * hd];
        int k = 0;
        for (int bi = 0; bi < b; bi++) {
            for (int t = 0; t < s; t++) {
                for (int h = 0; h < heads; h++) {
                    for (int j = 0; j < hd; j++) {
                        out[k++] = cos ? Math.cos(angles[t][j]) : Math.sin(angles[t][j]);
                    }
                }
            }
        }
        return Nd4j.create(out, new long[] {(long) b * s, (long) heads * hd}, DataType.DOUBLE).castTo(dtype);
    }

    /** {@code R [d, d]} with {@code x R = rotate_half(x) = concat(-x[d/2:], x[:d/2])}. */
    static INDArray rotateHalf(int hd, DataType dtype) {
        INDArray r = Nd4j.zeros(DataType.DOUBLE, hd, hd);
        int half = hd / 2;
        for (int j = 0; j < half; j++) {
            r.putScalar(j + half, j, -1.0);
            r.putScalar(j, j + half, 1.0);
        }
        return r.castTo(dtype);
    }

    private SameDiff gradFn;

    /** Held while System.out is swapped: workers build their gradient functions on several threads at once. */
    private static final Object STDOUT_LOCK = new Object();

    /**
     * {@code sd.createGradFunction(inputs)} without its output: M2.1 prints a line per differentiated op to
     * System.out, and stdout belongs to the tools' own output. Callers on several threads (ParallelWrapper and
     * Spark workers) take turns, so each puts back the real stream.
     */
    public static void createGradFunction(SameDiff sd, String... inputs) {
        synchronized (STDOUT_LOCK) {
            java.io.PrintStream stdout = System.out;
            System.setOut(new java.io.PrintStream(java.io.OutputStream.nullOutputStream()));
            try {
                if (inputs.length == 0) {
                    sd.createGradFunction();
                } else {
                    sd.createGradFunction(inputs);
                }
            } finally {
                System.setOut(stdout);
            }
        }
    }

    /**
     * Outputs and gradients of {@link #LOSS} in one pass. The gradient function is built once (with the
     * incoming memory among the variables that get gradients) and run with its array cache on; calling
     * {@code calculateGradients} instead turns that cache off on every call, which on this CPU cost
     * several GB of resident memory and unsteady step times.
     *
     * @param outputs forward outputs wanted (e.g. {@link #NLL_SUM}, the memory out)
     * @param wrt     parameters and/or memory inputs ({@link #memoryM(int)}, {@link #memoryZ(int)})
     * @return outputs and gradients by variable name: new arrays owned by the caller (the session does not
     *         reuse them), which may release them as soon as it is done with them
     */
    public synchronized Map<String, INDArray> outputsAndGradients(Map<String, INDArray> placeholders,
                                                                  List<String> outputs, List<String> wrt) {
        if (!withLoss) {
            throw new IllegalStateException("this graph has no loss; build it with withLoss = true");
        }
        if (gradFn == null) {
            String[] memory = new String[2 * config.numLayers()];
            for (int i = 0; i < config.numLayers(); i++) {
                memory[2 * i] = memoryM(i);
                memory[2 * i + 1] = memoryZ(i);
            }
            createGradFunction(sd, memory);
            gradFn = sd.getFunction("grad");
            gradFn.setEnableCache(true);
        }
        List<String> names = new ArrayList<>(outputs);
        Map<String, String> gradOf = new java.util.HashMap<>();
        for (String w : wrt) {
            SDVariable g = sd.getVariable(w).getGradient();
            if (g != null) {
                names.add(g.name());
                gradOf.put(g.name(), w);
            }
        }
        Map<String, INDArray> res = gradFn.output(placeholders, names);
        Map<String, INDArray> out = new java.util.HashMap<>();
        for (String o : outputs) {
            out.put(o, res.get(o));
        }
        gradOf.forEach((g, w) -> out.put(w, res.get(g)));
        return out;
    }

    /** Drops this graph's (and its gradient function's) execution sessions; see {@link InfiniModel#releaseSessions}. */
    public synchronized void releaseSessions() {
        sd.getSessions().clear();
        if (gradFn != null) {
            gradFn.getSessions().clear();
        }
    }

    /** Names of the trainable variables (the Hugging Face tensors). */
    public List<String> parameterNames() {
        List<String> out = new ArrayList<>();
        for (TensorNames.Spec spec : TensorNames.all(config)) {
            out.add(spec.name());
        }
        return Collections.unmodifiableList(out);
    }

    public SameDiff sameDiff() { return sd; }
    public InfiniConfig config() { return config; }
    public int batch() { return batch; }
    public int seqLen() { return seqLen; }
    public DataType dtype() { return dtype; }
    public boolean withLoss() { return withLoss; }
}
