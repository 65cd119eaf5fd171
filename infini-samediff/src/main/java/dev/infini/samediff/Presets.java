package dev.infini.samediff;


import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Named model shapes: the one preset table of the project, used by {@code ./infini train --preset}, the benchmarks
 * and the DL4J zoo models. {@code micro}, {@code micro-llama}, {@code tiny}, {@code tiny-llama} and {@code small} use
 * the byte-level vocabulary (260 ids) and are meant for training from scratch on a CPU ({@code micro*} for tests and
 * quick examples); the others are the shapes of published Hugging Face checkpoints (Llama 3.2's {@code rope_scaling}
 * is not modelled: plain RoPE with its {@code rope_theta}).
 */
public final class Presets {
    /** Byte-level vocabulary: 256 bytes + BOS, EOS, PAD, one reserved id (see datasets' ByteTokenizer). */
    public static final int BYTE_VOCAB = 260;

    private static final Map<String, InfiniConfig> PRESETS = new LinkedHashMap<>();

    static {
        // ~0.1M parameters: 2 layers of hidden 64, segment 32 (tests, notebooks, the zoo's default).
        PRESETS.put("micro", byteLevel(ModelFamily.GEMMA).hiddenSize(64).intermediateSize(128).numLayers(2)
                .numHeads(4).numKvHeads(1).headDim(16).segmentSize(32).build());
        PRESETS.put("micro-llama", byteLevel(ModelFamily.LLAMA).hiddenSize(64).intermediateSize(128).numLayers(2)
                .numHeads(4).numKvHeads(2).headDim(16).segmentSize(32).tieWordEmbeddings(false).build());
        // ~3.9M parameters: 4 layers of hidden 256, multi-query attention with head_dim 64.
        PRESETS.put("tiny", byteLevel(ModelFamily.GEMMA).hiddenSize(256).intermediateSize(1024).numLayers(4)
                .numHeads(4).numKvHeads(1).headDim(64).segmentSize(256).build());
        // ~13M parameters.
        PRESETS.put("small", byteLevel(ModelFamily.GEMMA).hiddenSize(512).intermediateSize(2048).numLayers(4)
                .numHeads(8).numKvHeads(1).headDim(64).segmentSize(256).build());
        PRESETS.put("tiny-llama", byteLevel(ModelFamily.LLAMA).hiddenSize(256).intermediateSize(768).numLayers(4)
                .numHeads(4).numKvHeads(2).headDim(64).segmentSize(256).tieWordEmbeddings(true).build());
        PRESETS.put("gemma-2b", gemma().hiddenSize(2048).intermediateSize(16384).numLayers(18).numHeads(8)
                .numKvHeads(1).build());
        PRESETS.put("gemma-7b", gemma().hiddenSize(3072).intermediateSize(24576).numLayers(28).numHeads(16)
                .numKvHeads(16).build());
        PRESETS.put("llama-3.2-1b", InfiniConfig.builder(ModelFamily.LLAMA).vocabSize(128256).hiddenSize(2048)
                .intermediateSize(8192).numLayers(16).numHeads(32).numKvHeads(8).headDim(64).ropeTheta(500000)
                .rmsNormEps(1e-5).tieWordEmbeddings(true).bosTokenId(128000).eosTokenId(128001).padTokenId(-1)
                .maxPositionEmbeddings(131072).segmentSize(2048).build());
        PRESETS.put("tinyllama-1.1b", InfiniConfig.builder(ModelFamily.LLAMA).vocabSize(32000).hiddenSize(2048)
                .intermediateSize(5632).numLayers(22).numHeads(32).numKvHeads(4).headDim(64).ropeTheta(10000)
                .rmsNormEps(1e-5).tieWordEmbeddings(false).bosTokenId(1).eosTokenId(2).padTokenId(-1)
                .maxPositionEmbeddings(2048).segmentSize(2048).build());
    }

    private Presets() {
    }

    private static InfiniConfig.Builder byteLevel(ModelFamily family) {
        // BOS 256, EOS 257, PAD 258, as the byte tokenizer assigns them.
        return InfiniConfig.builder(family).vocabSize(BYTE_VOCAB).bosTokenId(256).eosTokenId(257).padTokenId(258)
                .maxPositionEmbeddings(1 << 20);
    }

    private static InfiniConfig.Builder gemma() {
        return InfiniConfig.builder(ModelFamily.GEMMA).vocabSize(256000).headDim(256).ropeTheta(10000).rmsNormEps(1e-6)
                .tieWordEmbeddings(true).bosTokenId(2).eosTokenId(1).padTokenId(0).maxPositionEmbeddings(8192)
                .segmentSize(2048);
    }

    /** The preset's config; an unknown name is an error listing the known ones. */
    public static InfiniConfig get(String name) {
        InfiniConfig c = PRESETS.get(name.toLowerCase(Locale.ROOT));
        if (c == null) {
            throw new IllegalArgumentException("unknown preset '" + name + "' (known: " + String.join(", ", PRESETS.keySet()) + ")");
        }
        return c;
    }

    public static Iterable<String> names() {
        return PRESETS.keySet();
    }
}
