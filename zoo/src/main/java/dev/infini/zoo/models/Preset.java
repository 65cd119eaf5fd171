package dev.infini.zoo.models;

import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.ModelFamily;

/**
 * Model shapes of the zoo. The large presets are the published Hugging Face shapes (for
 * {@code init()} from scratch, or to check a checkpoint); TINY is a byte-level model that trains on a CPU.
 * Llama 3.2's {@code rope_scaling} ("llama3") is not modelled: plain RoPE with its {@code rope_theta}.
 */
public enum Preset {
    TINY,
    GEMMA_2B,
    GEMMA_7B,
    LLAMA_3_2_1B,
    TINYLLAMA_1_1B;

    /** The config of this preset for a family (TINY exists in both; the others have one family). */
    public InfiniConfig.Builder builder(ModelFamily family) {
        InfiniConfig.Builder b = InfiniConfig.builder(family);
        return switch (this) {
            case TINY -> b.vocabSize(260).hiddenSize(64).intermediateSize(128).numLayers(2).numHeads(4)
                    .numKvHeads(family == ModelFamily.GEMMA ? 1 : 2).headDim(16).segmentSize(32)
                    .bosTokenId(256).eosTokenId(257).padTokenId(258).tieWordEmbeddings(family == ModelFamily.GEMMA);
            case GEMMA_2B -> gemma(b).hiddenSize(2048).intermediateSize(16384).numLayers(18).numHeads(8).numKvHeads(1);
            case GEMMA_7B -> gemma(b).hiddenSize(3072).intermediateSize(24576).numLayers(28).numHeads(16).numKvHeads(16);
            case LLAMA_3_2_1B -> b.vocabSize(128256).hiddenSize(2048).intermediateSize(8192).numLayers(16).numHeads(32)
                    .numKvHeads(8).headDim(64).ropeTheta(500000).rmsNormEps(1e-5).tieWordEmbeddings(true)
                    .bosTokenId(128000).eosTokenId(128001).padTokenId(-1).maxPositionEmbeddings(131072).segmentSize(2048);
            case TINYLLAMA_1_1B -> b.vocabSize(32000).hiddenSize(2048).intermediateSize(5632).numLayers(22).numHeads(32)
                    .numKvHeads(4).headDim(64).ropeTheta(10000).rmsNormEps(1e-5).tieWordEmbeddings(false)
                    .bosTokenId(1).eosTokenId(2).padTokenId(-1).maxPositionEmbeddings(2048).segmentSize(2048);
        };
    }

    private static InfiniConfig.Builder gemma(InfiniConfig.Builder b) {
        return b.vocabSize(256000).headDim(256).ropeTheta(10000).rmsNormEps(1e-6).tieWordEmbeddings(true)
                .bosTokenId(2).eosTokenId(1).padTokenId(0).maxPositionEmbeddings(8192).segmentSize(2048);
    }

    /** The family a preset belongs to (null for TINY, which exists in both). */
    public ModelFamily family() {
        return switch (this) {
            case TINY -> null;
            case GEMMA_2B, GEMMA_7B -> ModelFamily.GEMMA;
            case LLAMA_3_2_1B, TINYLLAMA_1_1B -> ModelFamily.LLAMA;
        };
    }
}
