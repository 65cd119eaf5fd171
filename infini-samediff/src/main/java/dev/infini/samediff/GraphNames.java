package dev.infini.samediff;

/**
 * Names of the inputs and outputs of the decoder graphs ({@link DecoderGraph}); the weights are named
 * after the Hugging Face tensors ({@link TensorNames}).
 *
 * <p>Segment graphs: in {@link #INPUT_IDS} {@code [B, S]} (int32), {@link #ATTENTION_MASK} {@code [B, S]}
 * (1 = token, 0 = padding) and, per layer {@code i}, {@link #memoryM(int)} {@code [B, Hkv, d, d]} and
 * {@link #memoryZ(int)} {@code [B, Hkv, d]} (the layouts of {@link MemoryState}); out {@link #LOGITS}
 * {@code [B, S, V]}, {@link #memoryMNext(int)} and {@link #memoryZNext(int)} (same shapes as the memory in).
 * Training graphs also take {@link #LABELS} {@code [B*S, V]} and the upstream memory gradients
 * {@link #memoryMGrad(int)}, {@link #memoryZGrad(int)} (shaped like the memory), and return {@link #NLL_SUM}
 * and the objective {@link #LOSS}.
 */
public final class GraphNames {
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
    /**
     * Decode-step graphs of {@code token_shift} models only: the id {@code [B]} (int32) of the token in the slot
     * before, any valid id at position 0 (where it is masked out).
     */
    public static final String STEP_PREV_ID = "step.prev_id";

    private GraphNames() {
    }

    /** Decode-step graphs: layer {@code i}'s cached RoPE'd keys of this segment {@code [B, Hkv, segment, d]}. */
    public static String cacheKeys(int layer) { return "cache." + layer + ".k"; }
    /** Decode-step graphs: layer {@code i}'s cached values of this segment {@code [B, Hkv, segment, d]}. */
    public static String cacheValues(int layer) { return "cache." + layer + ".v"; }
    /** Layer {@code i}'s RoPE'd keys {@code [B, Hkv, S, d]} of the tokens a graph ran on (segment and step graphs). */
    public static String layerKeys(int layer) { return "layers." + layer + ".attn.k_h"; }
    /** Layer {@code i}'s values {@code [B, Hkv, S, d]} of the tokens a graph ran on. */
    public static String layerValues(int layer) { return "layers." + layer + ".attn.v_h"; }

    /** Layer {@code i}'s memory {@code M [B, Hkv, d, d]} entering the segment. */
    public static String memoryM(int layer) { return "memory." + layer + ".M"; }
    /** Layer {@code i}'s normaliser {@code z [B, Hkv, d]} entering the segment. */
    public static String memoryZ(int layer) { return "memory." + layer + ".z"; }
    public static String memoryMNext(int layer) { return "memory." + layer + ".M.next"; }
    public static String memoryZNext(int layer) { return "memory." + layer + ".z.next"; }
    /** Upstream gradient of the objective with respect to {@link #memoryMNext(int)} (training graphs). */
    public static String memoryMGrad(int layer) { return "memory." + layer + ".M.next.grad"; }
    /** Upstream gradient of the objective with respect to {@link #memoryZNext(int)}, {@code [B, Hkv, d]}. */
    public static String memoryZGrad(int layer) { return "memory." + layer + ".z.next.grad"; }

    /** The incoming-memory placeholders of every layer, {@code M} then {@code z} per layer. */
    public static String[] memoryInputs(int layers) {
        String[] names = new String[2 * layers];
        for (int i = 0; i < layers; i++) {
            names[2 * i] = memoryM(i);
            names[2 * i + 1] = memoryZ(i);
        }
        return names;
    }
}
