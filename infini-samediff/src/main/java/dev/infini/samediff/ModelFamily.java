package dev.infini.samediff;

import java.util.Locale;

/** The decoder families this project builds, keyed by Hugging Face's {@code model_type}. */
public enum ModelFamily {
    /** Gemma: embedding scaled by sqrt(hidden), RMSNorm with (1 + w), GeLU-tanh MLP, tied head. */
    GEMMA("gemma"),
    /** Llama: plain embedding, RMSNorm with w, SiLU MLP, usually an untied head. */
    LLAMA("llama");

    private final String modelType;

    ModelFamily(String modelType) {
        this.modelType = modelType;
    }

    /** The value of {@code model_type} in {@code config.json}. */
    public String modelType() {
        return modelType;
    }

    /** The family for a {@code model_type}; an unknown type is an error that lists the known ones. */
    public static ModelFamily fromModelType(String modelType) {
        if (modelType != null) {
            String t = modelType.toLowerCase(Locale.ROOT);
            for (ModelFamily f : values()) {
                if (f.modelType.equals(t)) {
                    return f;
                }
            }
        }
        throw new InfiniConfigException("model_type", "unsupported model_type '" + modelType
                + "' (supported: gemma, llama)");
    }
}
