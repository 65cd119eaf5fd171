package dev.infini.samediff;

import java.util.Locale;

/**
 * The decoder families this project builds, keyed by Hugging Face's {@code model_type}. An exported checkpoint says
 * {@code infini-gemma}/{@code infini-llama} with the architecture {@code InfiniGemmaForCausalLM}/
 * {@code InfiniLlamaForCausalLM}, so that a tool that does not know Infini-attention refuses it instead of silently
 * dropping the memory; the plain types ({@code gemma}, {@code llama}, {@code mistral}) are read too.
 */
public enum ModelFamily {
    /** Gemma: embedding scaled by sqrt(hidden), RMSNorm with (1 + w), GeLU-tanh MLP, tied head. */
    GEMMA("gemma", "Gemma"),
    /** Llama (and Mistral without its sliding window): plain embedding, RMSNorm with w, SiLU MLP, usually untied. */
    LLAMA("llama", "Llama");

    /** Prefix of the model types this project writes. */
    public static final String INFINI_PREFIX = "infini-";
    private final String modelType;
    private final String className;

    ModelFamily(String modelType, String className) {
        this.modelType = modelType;
        this.className = className;
    }

    /** The plain Hugging Face {@code model_type} of the family ({@code gemma}, {@code llama}). */
    public String modelType() {
        return modelType;
    }

    /** The {@code model_type} this project writes: {@code infini-gemma}, {@code infini-llama}. */
    public String infiniModelType() {
        return INFINI_PREFIX + modelType;
    }

    /** The architecture name this project writes: {@code InfiniGemmaForCausalLM}, {@code InfiniLlamaForCausalLM}. */
    public String infiniArchitecture() {
        return "Infini" + className + "ForCausalLM";
    }

    /**
     * The family for a {@code model_type}: {@code gemma}, {@code llama}, {@code mistral} (the Llama architecture) or
     * the {@code infini-} forms; an unknown type is an error that lists the known ones.
     */
    public static ModelFamily fromModelType(String modelType) {
        if (modelType != null) {
            String t = modelType.toLowerCase(Locale.ROOT);
            if (t.startsWith(INFINI_PREFIX)) {
                t = t.substring(INFINI_PREFIX.length());
            }
            if (t.equals("mistral")) {
                return LLAMA;
            }
            for (ModelFamily f : values()) {
                if (f.modelType.equals(t)) {
                    return f;
                }
            }
        }
        throw new InfiniConfigException("model_type", "unsupported model_type '" + modelType
                + "' (supported: gemma, llama, mistral, infini-gemma, infini-llama)");
    }
}
