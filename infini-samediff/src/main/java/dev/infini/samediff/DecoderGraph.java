package dev.infini.samediff;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

import static dev.infini.samediff.GraphNames.*;

/**
 * The whole decoder for one segment as one SameDiff graph, for a fixed batch size and segment length
 * ({@link #build}); also the same decoder unrolled over several segments ({@link #buildUnrolled}, a
 * reference) and the graph of one decoding step ({@link #buildStep}). Inputs and outputs are named by
 * {@link GraphNames}; the pieces come from {@link DecoderBlocks} and the constant tables from
 * {@link GraphTables}. Gradients are run by {@link dev.infini.samediff.runtime.GraphRuntime}.
 *
 * <p>Variables carry the Hugging Face tensor names ({@link TensorNames}), so import and export are
 * name lookups. The weights are the model's own arrays, shared by every graph of that model.
 */
public final class DecoderGraph {
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
     * <p>With {@code withLoss} the graph also takes {@link GraphNames#LABELS} and, per layer, the upstream
     * gradients {@link GraphNames#memoryMGrad(int)}/{@link GraphNames#memoryZGrad(int)} of the memory it
     * returns, and defines {@link GraphNames#NLL_SUM} (summed negative log-likelihood of the label rows) and
     * the objective {@code LOSS = NLL_SUM + sum_i <M'_i, dM'_i> + <z'_i, dz'_i>}
     * ({@link DecoderBlocks#memoryObjective}).
     */
    public static DecoderGraph build(InfiniConfig c, Map<String, INDArray> weights, int batch, int seqLen,
                                     DataType dtype, boolean withLoss) {
        SameDiff sd = DecoderBlocks.newGraph(c, weights, batch, seqLen);
        int nl = c.numLayers();
        SDVariable ids = sd.placeHolder(INPUT_IDS, DataType.INT32, batch, seqLen);
        SDVariable mask = sd.placeHolder(ATTENTION_MASK, dtype, batch, seqLen);
        SDVariable[][] mem = memoryPlaceholders(sd, c, batch, dtype, "");
        String[] mNext = new String[nl], zNext = new String[nl], mGrad = new String[nl], zGrad = new String[nl];
        for (int i = 0; i < nl; i++) {
            mNext[i] = memoryMNext(i);
            zNext[i] = memoryZNext(i);
            mGrad[i] = memoryMGrad(i);
            zGrad[i] = memoryZGrad(i);
        }
        SDVariable logits2d = DecoderBlocks.segment(sd, c, "", batch, seqLen, dtype, ids, mask, mem[0], mem[1],
                mNext, zNext, withLoss);
        sd.reshape(LOGITS, logits2d, batch, seqLen, c.vocabSize());
        if (withLoss) {
            SDVariable labels = sd.placeHolder(LABELS, dtype, (long) batch * seqLen, c.vocabSize());
            SDVariable nll = DecoderBlocks.nll(sd, NLL_SUM, logits2d, labels);
            SDVariable[] mOut = new SDVariable[nl], zOut = new SDVariable[nl];
            for (int i = 0; i < nl; i++) {
                mOut[i] = sd.getVariable(mNext[i]);
                zOut[i] = sd.getVariable(zNext[i]);
            }
            sd.identity(LOSS, DecoderBlocks.memoryObjective(sd, c, batch, dtype, nll, mOut, zOut, mGrad, zGrad));
            sd.setLossVariables(LOSS);
        }
        return new DecoderGraph(c, sd, batch, seqLen, dtype, withLoss);
    }

    /** Every layer's memory placeholders {@code {M[], z[]}}, named {@code prefix + memoryM(i)} etc. */
    private static SDVariable[][] memoryPlaceholders(SameDiff sd, InfiniConfig c, int batch, DataType dtype,
                                                     String prefix) {
        SDVariable[] m = new SDVariable[c.numLayers()], z = new SDVariable[c.numLayers()];
        for (int i = 0; i < m.length; i++) {
            m[i] = DecoderBlocks.memoryMPlaceholder(sd, prefix + memoryM(i), c, batch, dtype);
            z[i] = DecoderBlocks.memoryZPlaceholder(sd, prefix + memoryZ(i), c, batch, dtype);
        }
        return new SDVariable[][] {m, z};
    }

    /**
     * One graph unrolled over {@code segments} segments, the memory flowing from each to the next inside
     * the graph: in {@code input_ids.k}, {@code attention_mask.k}, {@code labels.k} per segment k and
     * the initial memory; out {@link GraphNames#NLL_SUM} over all segments. A reference for the exactness of
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
        SameDiff sd = DecoderBlocks.newGraph(c, weights, batch, seqLen);
        int nl = c.numLayers();
        SDVariable[][] mem0 = memoryPlaceholders(sd, c, batch, dtype, "");
        SDVariable total = DecoderBlocks.unroll(segments, mem0[0], mem0[1], (k, tag, m, z) -> {
            SDVariable ids = sd.placeHolder(INPUT_IDS + "." + k, DataType.INT32, batch, seqLen);
            SDVariable mask = sd.placeHolder(ATTENTION_MASK + "." + k, dtype, batch, seqLen);
            String[] mNext = new String[nl], zNext = new String[nl];
            for (int i = 0; i < nl; i++) {
                mNext[i] = tag + memoryMNext(i);
                zNext[i] = tag + memoryZNext(i);
            }
            SDVariable logits2d = DecoderBlocks.segment(sd, c, tag, batch, seqLen, dtype, ids, mask, m, z,
                    mNext, zNext, true);
            SDVariable labels = sd.placeHolder(LABELS + "." + k, dtype, (long) batch * seqLen, c.vocabSize());
            SDVariable nll = DecoderBlocks.nll(sd, tag + NLL_SUM, logits2d, labels);
            SDVariable[] mOut = new SDVariable[nl], zOut = new SDVariable[nl];
            for (int i = 0; i < nl; i++) {
                mOut[i] = sd.getVariable(mNext[i]);
                zOut[i] = sd.getVariable(zNext[i]);
            }
            return new DecoderBlocks.UnrolledTerm(nll, mOut, zOut);
        }, detached ? (k, prev) -> memoryPlaceholders(sd, c, batch, dtype, "seg" + k + "/") : null);
        sd.identity(NLL_SUM, total);
        sd.setLossVariables(NLL_SUM);
        return new DecoderGraph(c, sd, batch, seqLen, dtype, true);
    }

    /**
     * The graph of one decoding step: one new token per row at position {@link GraphNames#STEP_POSITION} of
     * its segment, attending over that segment's cached keys/values ({@link GraphNames#cacheKeys},
     * {@link GraphNames#cacheValues}, a fixed {@code segment_size} slots, those at and after the position
     * masked out) and reading the memory of the earlier segments ({@link GraphNames#memoryM},
     * {@link GraphNames#memoryZ}) with {@link InfiniAttention#step}. Out: {@link GraphNames#LOGITS}
     * {@code [B, V]} and, per layer, the new token's key and value ({@link GraphNames#layerKeys},
     * {@link GraphNames#layerValues}, {@code [B, Hkv, 1, d]}) for the caller to put in the cache.
     * The memory is not updated here: the caller runs the segment graph once the segment is full.
     */
    public static DecoderGraph buildStep(InfiniConfig c, Map<String, INDArray> weights, int batch, DataType dtype) {
        int s = c.segmentSize();
        SameDiff sd = DecoderBlocks.newGraph(c, weights, batch, 1);
        int nl = c.numLayers(), nkv = c.numKvHeads(), hd = c.headDim(), nh = c.numHeads();
        SDVariable ids = sd.placeHolder(STEP_INPUT_ID, DataType.INT32, batch);
        SDVariable pos = sd.placeHolder(STEP_POSITION, DataType.INT32, batch);
        SDVariable[][] mem = memoryPlaceholders(sd, c, batch, dtype, "");
        InfiniAttention.KvCache[] caches = new InfiniAttention.KvCache[nl];
        for (int i = 0; i < nl; i++) {
            caches[i] = new InfiniAttention.KvCache(sd.placeHolder(cacheKeys(i), dtype, batch, nkv, s, hd),
                    sd.placeHolder(cacheValues(i), dtype, batch, nkv, s, hd));
        }
        InfiniAttention.SegmentContext ctx = GraphTables.stepContext(sd, c, batch, dtype, pos);
        InfiniAttention.Dims dims = new InfiniAttention.Dims(batch, 1, nh, nkv, hd);
        SDVariable x = DecoderBlocks.embed(sd, c, "", ids, false, dtype);
        if (c.tokenShift()) {
            SDVariable prev = sd.placeHolder(STEP_PREV_ID, DataType.INT32, batch);
            x = x.add("embed_shifted", DecoderBlocks.previousToken(sd, c, prev, pos, dtype));
        }
        for (int i = 0; i < nl; i++) {
            final int layer = i;
            x = DecoderBlocks.layer(sd, c, "layers." + i, i, batch, x, (p, w, h) ->
                    InfiniAttention.step(sd, p, dims, w, ctx, h, mem[0][layer], mem[1][layer], caches[layer]));
        }
        SDVariable logits2d = DecoderBlocks.lmHead(sd, c, "", x, batch);
        sd.identity(LOGITS, logits2d);                                                      // [B, V]
        return new DecoderGraph(c, sd, batch, 1, dtype, false);
    }

    /** Names of the trainable variables (the Hugging Face tensors). */
    public List<String> parameterNames() {
        List<String> out = new ArrayList<>();
        for (TensorNames.Spec spec : TensorNames.all(config)) {
            out.add(spec.name());
        }
        return Collections.unmodifiableList(out);
    }

    /** The placeholders whose gradients training asks for: every layer's incoming memory (empty without loss). */
    public String[] gradientPlaceholders() {
        return withLoss ? memoryInputs(config.numLayers()) : new String[0];
    }

    public SameDiff sameDiff() { return sd; }
    public InfiniConfig config() { return config; }
    public int batch() { return batch; }
    public int seqLen() { return seqLen; }
    public DataType dtype() { return dtype; }
    public boolean withLoss() { return withLoss; }
}
