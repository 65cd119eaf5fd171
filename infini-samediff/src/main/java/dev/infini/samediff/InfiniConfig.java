package dev.infini.samediff;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Objects;

/**
 * The shape and hyper-parameters of an Infini-attention decoder, bound to the Hugging Face
 * {@code config.json} keys of the Gemma and Llama families plus {@code segment_size} and
 * {@code memory_update} (spec, "Config keys beside the HF ones"), and the opt-in {@code token_shift} (spec,
 * "Beyond the paper: token shift"; absent = false, as in every Gemma and Llama checkpoint).
 *
 * <p>Immutable; build one with {@link #builder(ModelFamily)} or read one with {@link #read(Path)}.
 * Every instance is validated: a missing or inconsistent key is an {@link InfiniConfigException}
 * that names the key.
 */
public final class InfiniConfig {
    private static final Logger log = LoggerFactory.getLogger(InfiniConfig.class);
    /** Pretty output; a key given twice in config.json is an error (Jackson keeps the last by default). */
    private static final ObjectMapper JSON = new ObjectMapper(JsonFactory.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build())
            .enable(SerializationFeature.INDENT_OUTPUT).enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    /** Largest values accepted, far above any published model; larger ones are typos or hostile input. */
    static final int MAX_VOCAB = 1 << 24, MAX_HIDDEN = 1 << 20, MAX_INTERMEDIATE = 1 << 22, MAX_LAYERS = 1 << 16,
            MAX_HEADS = 1 << 14, MAX_HEAD_DIM = 1 << 14, MAX_SEGMENT = 1 << 24;

    private final ModelFamily family;
    private final int vocabSize;
    private final int hiddenSize;
    private final int intermediateSize;
    private final int numLayers;
    private final int numHeads;
    private final int numKvHeads;
    private final int headDim;
    private final double rmsNormEps;
    private final double ropeTheta;
    private final boolean tieWordEmbeddings;
    private final int segmentSize;
    private final MemoryUpdate memoryUpdate;
    private final boolean tokenShift;
    private final int bosTokenId;
    private final int eosTokenId;
    private final int[] eosTokenIds;
    private final int padTokenId;
    private final int maxPositionEmbeddings;
    private final String hiddenAct;
    private final String torchDtype;

    private InfiniConfig(Builder b) {
        this.family = Objects.requireNonNull(b.family, "family");
        this.vocabSize = b.vocabSize;
        this.hiddenSize = b.hiddenSize;
        this.intermediateSize = b.intermediateSize;
        this.numLayers = b.numLayers;
        this.numHeads = b.numHeads;
        this.numKvHeads = b.numKvHeads > 0 ? b.numKvHeads : b.numHeads;
        this.headDim = b.headDim != null ? b.headDim : derivedHeadDim(b.hiddenSize, b.numHeads);
        this.rmsNormEps = b.rmsNormEps;
        this.ropeTheta = b.ropeTheta;
        this.tieWordEmbeddings = b.tieWordEmbeddings != null ? b.tieWordEmbeddings : family == ModelFamily.GEMMA;
        this.segmentSize = b.segmentSize;
        this.memoryUpdate = b.memoryUpdate;
        this.tokenShift = b.tokenShift;
        this.bosTokenId = b.bosTokenId;
        this.eosTokenIds = b.eosTokenIds != null ? b.eosTokenIds.clone() : new int[] {b.eosTokenId};
        this.eosTokenId = eosTokenIds.length > 0 ? eosTokenIds[0] : -1;
        this.padTokenId = b.padTokenId;
        this.maxPositionEmbeddings = b.maxPositionEmbeddings;
        this.hiddenAct = b.hiddenAct != null ? b.hiddenAct
                : (family == ModelFamily.GEMMA ? "gelu_pytorch_tanh" : "silu");
        this.torchDtype = b.torchDtype;
        validate();
    }

    /** hidden_size / num_attention_heads, for configs without head_dim (Llama); it must divide exactly. */
    private static int derivedHeadDim(int hidden, int heads) {
        if (heads > 0 && hidden > 0 && hidden % heads != 0) {
            throw new InfiniConfigException("head_dim", "config has no head_dim and hidden_size (" + hidden
                    + ") is not a multiple of num_attention_heads (" + heads + ")");
        }
        return heads > 0 ? hidden / heads : 0;
    }

    private void validate() {
        inRange("vocab_size", vocabSize, MAX_VOCAB);
        inRange("hidden_size", hiddenSize, MAX_HIDDEN);
        inRange("intermediate_size", intermediateSize, MAX_INTERMEDIATE);
        inRange("num_hidden_layers", numLayers, MAX_LAYERS);
        inRange("num_attention_heads", numHeads, MAX_HEADS);
        inRange("num_key_value_heads", numKvHeads, MAX_HEADS);
        inRange("head_dim", headDim, MAX_HEAD_DIM);
        inRange("segment_size", segmentSize, MAX_SEGMENT);
        positive("max_position_embeddings", maxPositionEmbeddings);
        if (numHeads % numKvHeads != 0) {
            throw new InfiniConfigException("num_key_value_heads", "num_attention_heads (" + numHeads
                    + ") must be a multiple of num_key_value_heads (" + numKvHeads + ")");
        }
        if (headDim % 2 != 0) {
            throw new InfiniConfigException("head_dim", "head_dim must be even for rotary embeddings, got " + headDim);
        }
        if (!(rmsNormEps > 0) || !Double.isFinite(rmsNormEps)) {
            throw new InfiniConfigException("rms_norm_eps", "rms_norm_eps must be a positive number, got " + rmsNormEps);
        }
        if (!(ropeTheta > 0) || !Double.isFinite(ropeTheta)) {
            throw new InfiniConfigException("rope_theta", "rope_theta must be a positive number, got " + ropeTheta);
        }
        activation(); // validates hidden_act
        tokenId("bos_token_id", bosTokenId);
        tokenId("pad_token_id", padTokenId);
        for (int id : eosTokenIds) {
            tokenId("eos_token_id", id);
        }
    }

    private void tokenId(String key, int id) {
        if (id < -1 || id >= vocabSize) {
            throw new InfiniConfigException(key, key + " = " + id + " is outside the vocabulary [0, " + vocabSize + ")");
        }
    }

    private static void inRange(String key, int v, int max) {
        positive(key, v);
        if (v > max) {
            throw new InfiniConfigException(key, key + " = " + v + " is larger than any model this project runs (at most "
                    + max + "): a typo or a corrupt config.json?");
        }
    }

    private static void positive(String key, int v) {
        if (v <= 0) {
            throw new InfiniConfigException(key, key + " must be a positive integer, got " + v);
        }
    }

    /** The MLP activation named by {@code hidden_activation}/{@code hidden_act}. */
    public Activation activation() {
        return Activation.parse(hiddenAct, family);
    }

    /** The MLP activations this project supports. */
    public enum Activation {
        /** GeLU with the tanh approximation (Gemma; HF {@code gelu_pytorch_tanh}). */
        GELU_TANH,
        /** SiLU / swish (Llama). */
        SILU;

        static Activation parse(String act, ModelFamily family) {
            switch (act) {
                case "gelu_pytorch_tanh":
                case "gelu_tanh":
                case "gelu_new":
                    return GELU_TANH;
                case "gelu":
                    // HF's Gemma runs "gelu" checkpoints with the tanh approximation (spec table).
                    if (family == ModelFamily.GEMMA) {
                        return GELU_TANH;
                    }
                    break;
                case "silu":
                case "swish":
                    return SILU;
                default:
                    break;
            }
            throw new InfiniConfigException("hidden_act", "unsupported hidden_act '" + act + "' for " + family.modelType()
                    + " (supported: gelu_pytorch_tanh, silu)");
        }
    }

    // ---------------------------------------------------------------- reading and writing config.json

    /** Reads {@code config.json} (or the {@code config.json} inside a directory). */
    public static InfiniConfig read(Path path) throws IOException {
        Path file = Files.isDirectory(path) ? path.resolve("config.json") : path;
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (NoSuchFileException | java.io.FileNotFoundException e) {
            throw new IOException("config file not found: " + file, e);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IOException("config file " + file + " is not valid JSON: " + e.getOriginalMessage(), e);
        }
        return fromJson(root);
    }

    /** Parses a config from JSON text. */
    public static InfiniConfig parse(String json) {
        try {
            return fromJson(JSON.readTree(json));
        } catch (IOException e) {
            throw new InfiniConfigException("config.json", "config is not valid JSON: " + e.getMessage());
        }
    }

    /** Binds the Hugging Face keys of a parsed {@code config.json}. */
    public static InfiniConfig fromJson(JsonNode root) {
        if (root == null || !root.isObject()) {
            throw new InfiniConfigException("config.json", "config.json must hold a JSON object");
        }
        String modelType = requireText(root, "model_type");
        ModelFamily family = ModelFamily.fromModelType(modelType);
        if (root.hasNonNull("sliding_window")) {
            log.info("config.json: model_type {} with sliding_window {}: the window is ignored (attention is local to a "
                    + "segment and reads the compressive memory instead)", modelType, root.get("sliding_window"));
        }
        Builder b = builder(family)
                .vocabSize(requireInt(root, "vocab_size"))
                .hiddenSize(requireInt(root, "hidden_size"))
                .intermediateSize(requireInt(root, "intermediate_size"))
                .numLayers(requireInt(root, "num_hidden_layers"))
                .numHeads(requireInt(root, "num_attention_heads"))
                .numKvHeads(optInt(root, "num_key_value_heads", requireInt(root, "num_attention_heads")))
                .rmsNormEps(optDouble(root, "rms_norm_eps", 1e-6))
                .ropeTheta(optDouble(root, "rope_theta", 10000.0))
                .segmentSize(optInt(root, "segment_size", 2048))
                .maxPositionEmbeddings(optInt(root, "max_position_embeddings", 8192))
                .bosTokenId(optInt(root, "bos_token_id", family == ModelFamily.GEMMA ? 2 : 1))
                .padTokenId(optInt(root, "pad_token_id", family == ModelFamily.GEMMA ? 0 : -1));
        if (root.hasNonNull("head_dim")) {
            b.headDim(requireInt(root, "head_dim")); // 0 or negative is an error, never replaced by hidden / heads
        }
        JsonNode eos = root.get("eos_token_id");
        if (eos != null && eos.isArray()) {
            b.eosTokenIds(intList("eos_token_id", eos)); // Llama 3: several end tokens
        } else {
            b.eosTokenId(optInt(root, "eos_token_id", family == ModelFamily.GEMMA ? 1 : 2));
        }
        if (root.hasNonNull("memory_update")) {
            b.memoryUpdate(MemoryUpdate.parse(requireText(root, "memory_update")));
        }
        if (root.hasNonNull("token_shift")) {
            JsonNode t = root.get("token_shift");
            if (!t.isBoolean()) {
                throw new InfiniConfigException("token_shift", "token_shift must be true or false, got " + t);
            }
            b.tokenShift(t.booleanValue());
        }
        if (root.hasNonNull("tie_word_embeddings")) {
            JsonNode t = root.get("tie_word_embeddings");
            if (!t.isBoolean()) {
                throw new InfiniConfigException("tie_word_embeddings", "tie_word_embeddings must be true or false, got " + t);
            }
            b.tieWordEmbeddings(t.booleanValue());
        }
        // Gemma checkpoints carry hidden_activation beside a legacy hidden_act; it wins when present.
        if (root.hasNonNull("hidden_activation")) {
            b.hiddenAct(requireText(root, "hidden_activation"));
        } else if (root.hasNonNull("hidden_act")) {
            b.hiddenAct(requireText(root, "hidden_act"));
        }
        if (root.hasNonNull("torch_dtype")) {
            b.torchDtype(root.get("torch_dtype").asText());
        }
        if (root.hasNonNull("rope_scaling")) {
            throw new InfiniConfigException("rope_scaling", "rope_scaling is not supported (got " + root.get("rope_scaling") + ")");
        }
        for (String key : new String[] {"attention_bias", "mlp_bias"}) {
            if (root.hasNonNull(key) && root.get(key).asBoolean(false)) {
                throw new InfiniConfigException(key, key + " = true is not supported (projections have no bias)");
            }
        }
        return b.build();
    }

    private static String requireText(JsonNode root, String key) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            throw new InfiniConfigException(key, "config.json is missing required key '" + key + "'");
        }
        if (!n.isTextual()) {
            throw new InfiniConfigException(key, key + " must be a string, got " + n);
        }
        return n.textValue();
    }

    private static int requireInt(JsonNode root, String key) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            throw new InfiniConfigException(key, "config.json is missing required key '" + key + "'");
        }
        return asInt(key, n);
    }

    private static int[] intList(String key, JsonNode list) {
        if (list.isEmpty()) {
            throw new InfiniConfigException(key, key + " must be an integer or a non-empty list of integers, got []");
        }
        int[] out = new int[list.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = asInt(key, list.get(i));
        }
        return out;
    }

    private static int optInt(JsonNode root, String key, int dflt) {
        JsonNode n = root.get(key);
        return n == null || n.isNull() ? dflt : asInt(key, n);
    }

    private static int asInt(String key, JsonNode n) {
        if (!n.canConvertToInt() || !(n.isIntegralNumber() || (n.isNumber() && n.asDouble() == Math.rint(n.asDouble())))) {
            throw new InfiniConfigException(key, key + " must be an integer, got " + n);
        }
        return n.asInt();
    }

    private static double optDouble(JsonNode root, String key, double dflt) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            return dflt;
        }
        if (!n.isNumber()) {
            throw new InfiniConfigException(key, key + " must be a number, got " + n);
        }
        return n.asDouble();
    }

    /** The Hugging Face {@code config.json} of this model, with the Infini-attention keys. */
    public ObjectNode toJson() {
        ObjectNode o = JSON.createObjectNode();
        // Infini names, so that a plain transformers install refuses the checkpoint instead of dropping the memory.
        o.putArray("architectures").add(family.infiniArchitecture());
        o.put("model_type", family.infiniModelType());
        o.put("vocab_size", vocabSize);
        o.put("hidden_size", hiddenSize);
        o.put("intermediate_size", intermediateSize);
        o.put("num_hidden_layers", numLayers);
        o.put("num_attention_heads", numHeads);
        o.put("num_key_value_heads", numKvHeads);
        o.put("head_dim", headDim);
        o.put("rms_norm_eps", rmsNormEps);
        o.put("rope_theta", ropeTheta);
        o.put("max_position_embeddings", maxPositionEmbeddings);
        o.put("hidden_act", hiddenAct);
        if (family == ModelFamily.GEMMA) {
            o.put("hidden_activation", hiddenAct);
        }
        o.put("tie_word_embeddings", tieWordEmbeddings);
        o.put("bos_token_id", bosTokenId);
        if (eosTokenIds.length == 1) {
            o.put("eos_token_id", eosTokenId);
        } else {
            var list = o.putArray("eos_token_id");
            Arrays.stream(eosTokenIds).forEach(list::add);
        }
        o.put("pad_token_id", padTokenId);
        o.put("torch_dtype", torchDtype == null ? "float32" : torchDtype);
        o.put("segment_size", segmentSize);
        o.put("memory_update", memoryUpdate.key());
        if (tokenShift) {
            o.put("token_shift", true);     // written only when on: plain checkpoints keep plain configs
        }
        return o;
    }

    /** Writes {@link #toJson()} to a file. */
    public void write(Path file) throws IOException {
        Files.writeString(file, JSON.writeValueAsString(toJson()) + "\n");
    }

    // ---------------------------------------------------------------- accessors

    public ModelFamily family() { return family; }
    public int vocabSize() { return vocabSize; }
    public int hiddenSize() { return hiddenSize; }
    public int intermediateSize() { return intermediateSize; }
    public int numLayers() { return numLayers; }
    public int numHeads() { return numHeads; }
    public int numKvHeads() { return numKvHeads; }
    public int headDim() { return headDim; }
    /** Query heads per KV head: query head {@code h} reads KV head {@code h / groupSize()}. */
    public int groupSize() { return numHeads / numKvHeads; }
    public double rmsNormEps() { return rmsNormEps; }
    public double ropeTheta() { return ropeTheta; }
    public boolean tieWordEmbeddings() { return tieWordEmbeddings; }
    public int segmentSize() { return segmentSize; }
    public MemoryUpdate memoryUpdate() { return memoryUpdate; }
    /**
     * Whether each position also adds a learnt embedding of the token before it in its segment
     * ({@link TensorNames#PREV_EMBED}; spec, "Beyond the paper: token shift"). Off in every imported checkpoint.
     */
    public boolean tokenShift() { return tokenShift; }
    public int bosTokenId() { return bosTokenId; }
    /** The end-of-sequence id (the first of {@link #eosTokenIds}). */
    public int eosTokenId() { return eosTokenId; }
    /** Every end-of-sequence id ({@code eos_token_id} may be a list, as in Llama 3). */
    public int[] eosTokenIds() { return eosTokenIds.clone(); }
    public int padTokenId() { return padTokenId; }
    public int maxPositionEmbeddings() { return maxPositionEmbeddings; }
    public String hiddenAct() { return hiddenAct; }
    /** The checkpoint's {@code torch_dtype}, or null. */
    public String torchDtype() { return torchDtype; }

    /** A builder holding this config's values, to derive a variant. */
    public Builder toBuilder() {
        return builder(family).vocabSize(vocabSize).hiddenSize(hiddenSize).intermediateSize(intermediateSize)
                .numLayers(numLayers).numHeads(numHeads).numKvHeads(numKvHeads).headDim(headDim)
                .rmsNormEps(rmsNormEps).ropeTheta(ropeTheta).tieWordEmbeddings(tieWordEmbeddings)
                .segmentSize(segmentSize).memoryUpdate(memoryUpdate).tokenShift(tokenShift).bosTokenId(bosTokenId)
                .eosTokenIds(eosTokenIds).padTokenId(padTokenId).maxPositionEmbeddings(maxPositionEmbeddings)
                .hiddenAct(hiddenAct).torchDtype(torchDtype);
    }

    /** The same model with another segment length. */
    public InfiniConfig withSegmentSize(int s) {
        return toBuilder().segmentSize(s).build();
    }

    /** The same model with another memory update rule. */
    public InfiniConfig withMemoryUpdate(MemoryUpdate m) {
        return toBuilder().memoryUpdate(m).build();
    }

    /** Number of parameters (tied head counted once). */
    public long parameterCount() {
        long d = hiddenSize;
        long attn = d * numHeads * headDim * 2 + 2L * d * numKvHeads * headDim + numHeads;
        long mlp = 3L * d * intermediateSize;
        long layer = attn + mlp + 2 * d;
        return (long) vocabSize * d * ((tieWordEmbeddings ? 1 : 2) + (tokenShift ? 1 : 0)) + numLayers * layer + d;
    }

    @Override
    public String toString() {
        return family.modelType() + "(vocab=" + vocabSize + ", hidden=" + hiddenSize + ", layers=" + numLayers
                + ", heads=" + numHeads + "/" + numKvHeads + ", head_dim=" + headDim + ", intermediate="
                + intermediateSize + ", segment=" + segmentSize + ", memory_update=" + memoryUpdate.key() + (tokenShift ? ", token_shift" : "") + ")";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof InfiniConfig && toJson().equals(((InfiniConfig) o).toJson());
    }

    @Override
    public int hashCode() {
        return toJson().hashCode();
    }

    public static Builder builder(ModelFamily family) {
        return new Builder(family);
    }

    /** Builder with the family's defaults for the optional keys. */
    public static final class Builder {
        private final ModelFamily family;
        private int vocabSize;
        private int hiddenSize;
        private int intermediateSize;
        private int numLayers;
        private int numHeads;
        private int numKvHeads;
        private Integer headDim;
        private double rmsNormEps = 1e-6;
        private double ropeTheta = 10000.0;
        private Boolean tieWordEmbeddings;
        private int segmentSize = 2048;
        private MemoryUpdate memoryUpdate = MemoryUpdate.LINEAR;
        private boolean tokenShift;
        private int bosTokenId;
        private int eosTokenId;
        private int[] eosTokenIds;
        private int padTokenId;
        private int maxPositionEmbeddings = 8192;
        private String hiddenAct;
        private String torchDtype;

        private Builder(ModelFamily family) {
            this.family = family;
            this.bosTokenId = family == ModelFamily.GEMMA ? 2 : 1;
            this.eosTokenId = family == ModelFamily.GEMMA ? 1 : 2;
            this.padTokenId = family == ModelFamily.GEMMA ? 0 : -1;
        }

        public Builder vocabSize(int v) { this.vocabSize = v; return this; }
        public Builder hiddenSize(int v) { this.hiddenSize = v; return this; }
        public Builder intermediateSize(int v) { this.intermediateSize = v; return this; }
        public Builder numLayers(int v) { this.numLayers = v; return this; }
        public Builder numHeads(int v) { this.numHeads = v; return this; }
        public Builder numKvHeads(int v) { this.numKvHeads = v; return this; }
        /** The head size; without it, hidden_size / num_attention_heads. */
        public Builder headDim(int v) { this.headDim = v; return this; }
        public Builder rmsNormEps(double v) { this.rmsNormEps = v; return this; }
        public Builder ropeTheta(double v) { this.ropeTheta = v; return this; }
        public Builder tieWordEmbeddings(boolean v) { this.tieWordEmbeddings = v; return this; }
        public Builder segmentSize(int v) { this.segmentSize = v; return this; }
        public Builder memoryUpdate(MemoryUpdate v) { this.memoryUpdate = Objects.requireNonNull(v); return this; }
        /** Opt-in, beyond the paper: adds {@link TensorNames#PREV_EMBED} (default false). */
        public Builder tokenShift(boolean v) { this.tokenShift = v; return this; }
        public Builder bosTokenId(int v) { this.bosTokenId = v; return this; }
        public Builder eosTokenId(int v) { this.eosTokenId = v; this.eosTokenIds = null; return this; }
        /** Several end-of-sequence ids (the first is {@link InfiniConfig#eosTokenId}). */
        public Builder eosTokenIds(int... v) { this.eosTokenIds = v.clone(); return this; }
        public Builder padTokenId(int v) { this.padTokenId = v; return this; }
        public Builder maxPositionEmbeddings(int v) { this.maxPositionEmbeddings = v; return this; }
        public Builder hiddenAct(String v) { this.hiddenAct = v; return this; }
        public Builder torchDtype(String v) { this.torchDtype = v; return this; }

        public InfiniConfig build() {
            return new InfiniConfig(this);
        }
    }
}
