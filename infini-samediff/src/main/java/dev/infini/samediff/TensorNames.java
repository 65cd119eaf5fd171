package dev.infini.samediff;

import java.util.ArrayList;
import java.util.List;

/** Hugging Face tensor names of a Gemma/Llama decoder; the graph's variables carry exactly these names. */
public final class TensorNames {
    public static final String EMBED = "model.embed_tokens.weight";
    /**
     * The previous-token embedding {@code [V, D]} of a model with {@code token_shift} (beyond the paper; spec,
     * "Beyond the paper: token shift"): position {@code t > 0} of a segment adds {@code P[ids[t-1]]}, scaled like
     * the token embedding. Absent from models without it.
     */
    public static final String PREV_EMBED = "model.embed_prev_tokens.weight";
    public static final String FINAL_NORM = "model.norm.weight";
    public static final String LM_HEAD = "lm_head.weight";

    private TensorNames() {
    }

    public static String layer(int i, String suffix) {
        return "model.layers." + i + "." + suffix;
    }

    public static String inputNorm(int i) { return layer(i, "input_layernorm.weight"); }
    public static String postAttentionNorm(int i) { return layer(i, "post_attention_layernorm.weight"); }
    public static String qProj(int i) { return layer(i, "self_attn.q_proj.weight"); }
    public static String kProj(int i) { return layer(i, "self_attn.k_proj.weight"); }
    public static String vProj(int i) { return layer(i, "self_attn.v_proj.weight"); }
    public static String oProj(int i) { return layer(i, "self_attn.o_proj.weight"); }
    /** The per-head gate, {@code [1, H, 1, 1]} (the reference code's name and shape). */
    public static String gate(int i) { return layer(i, "self_attn.gate"); }
    public static String mlpGate(int i) { return layer(i, "mlp.gate_proj.weight"); }
    public static String mlpUp(int i) { return layer(i, "mlp.up_proj.weight"); }
    public static String mlpDown(int i) { return layer(i, "mlp.down_proj.weight"); }

    /** Every tensor of a model with this config, in checkpoint order, with its shape. */
    public static List<Spec> all(InfiniConfig c) {
        long d = c.hiddenSize(), hd = c.headDim(), nh = c.numHeads(), nkv = c.numKvHeads(), im = c.intermediateSize();
        List<Spec> out = new ArrayList<>();
        out.add(new Spec(EMBED, Kind.EMBEDDING, c.vocabSize(), d));
        if (c.tokenShift()) {
            out.add(new Spec(PREV_EMBED, Kind.EMBEDDING, c.vocabSize(), d));
        }
        for (int i = 0; i < c.numLayers(); i++) {
            out.add(new Spec(inputNorm(i), Kind.NORM, d));
            out.add(new Spec(qProj(i), Kind.LINEAR, nh * hd, d));
            out.add(new Spec(kProj(i), Kind.LINEAR, nkv * hd, d));
            out.add(new Spec(vProj(i), Kind.LINEAR, nkv * hd, d));
            out.add(new Spec(oProj(i), Kind.LINEAR, d, nh * hd));
            out.add(new Spec(gate(i), Kind.GATE, 1, nh, 1, 1));
            out.add(new Spec(postAttentionNorm(i), Kind.NORM, d));
            out.add(new Spec(mlpGate(i), Kind.LINEAR, im, d));
            out.add(new Spec(mlpUp(i), Kind.LINEAR, im, d));
            out.add(new Spec(mlpDown(i), Kind.LINEAR, d, im));
        }
        out.add(new Spec(FINAL_NORM, Kind.NORM, d));
        if (!c.tieWordEmbeddings()) {
            out.add(new Spec(LM_HEAD, Kind.LINEAR, c.vocabSize(), d));
        }
        return out;
    }

    /** What a tensor is, for initialisation and for optimiser rules (no weight decay on norms and gates). */
    public enum Kind { EMBEDDING, LINEAR, NORM, GATE }

    /** A tensor's name, kind and shape. */
    public record Spec(String name, Kind kind, long... shape) {
    }
}
