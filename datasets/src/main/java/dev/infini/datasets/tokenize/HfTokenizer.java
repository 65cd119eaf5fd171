package dev.infini.datasets.tokenize;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;

/**
 * A Hugging Face {@code tokenizer.json} (Gemma, Llama, Mistral, ...) through DJL's Rust binding
 * ({@code ai.djl.huggingface:tokenizers}), with truncation and padding off and without special tokens
 * added by the tokenizer (the pipeline adds BOS/EOS). The file may be gzipped ({@code .gz}).
 *
 * <p>BOS, EOS and PAD are found among the file's {@code added_tokens} by their usual names
 * ({@code <s>}/{@code <bos>}, {@code </s>}/{@code <eos>}, {@code <pad>}); PAD falls back to EOS.
 */
public final class HfTokenizer implements Tokenizer {
    private static final Logger log = LoggerFactory.getLogger(HfTokenizer.class);
    private static final List<String> BOS_NAMES = List.of("<s>", "<bos>", "<|begin_of_text|>", "<|startoftext|>");
    private static final List<String> EOS_NAMES = List.of("</s>", "<eos>", "<|end_of_text|>", "<|endoftext|>", "<|eot_id|>");
    private static final List<String> PAD_NAMES = List.of("<pad>", "<|pad|>", "[PAD]");

    private final HuggingFaceTokenizer tokenizer;
    private final Map<String, Integer> specialIds;
    private final int vocabSize;
    private final int bos;
    private final int eos;
    private final int pad;
    private final boolean prefixSpace;
    private final String fingerprint;
    private final String source;

    private HfTokenizer(HuggingFaceTokenizer tokenizer, JsonNode json, byte[] bytes, String source) {
        this.tokenizer = tokenizer;
        this.source = source;
        this.specialIds = new HashMap<>();
        int maxId = -1;
        for (JsonNode t : json.path("added_tokens")) {
            int id = t.path("id").asInt();
            specialIds.put(t.path("content").asText(), id);
            maxId = Math.max(maxId, id);
        }
        for (JsonNode id : json.path("model").path("vocab")) {
            maxId = Math.max(maxId, id.asInt());
        }
        if (maxId < 0) {
            throw new IllegalArgumentException("tokenizer file " + source + " has no model.vocab and no added_tokens");
        }
        this.vocabSize = maxId + 1;
        this.bos = find(BOS_NAMES, -1);
        this.eos = find(EOS_NAMES, -1);
        if (bos < 0 || eos < 0) {
            throw new IllegalArgumentException("tokenizer file " + source + " has no BOS or EOS token among its added_tokens "
                    + specialIds.keySet() + " (looked for " + BOS_NAMES + " and " + EOS_NAMES + ")");
        }
        this.pad = find(PAD_NAMES, eos);
        String norm = json.path("normalizer").toString() + json.path("pre_tokenizer").toString();
        this.prefixSpace = norm.contains("\"Prepend\"") || norm.contains("\"add_prefix_space\":true")
                || norm.contains("\"prepend_scheme\":\"always\"");
        this.fingerprint = "hf-" + sha256(bytes).substring(0, 24);
        log.info("loaded Hugging Face tokenizer {}: vocab {}, BOS {}, EOS {}, PAD {}", source, vocabSize, bos, eos, pad);
    }

    private int find(List<String> names, int fallback) {
        for (String n : names) {
            Integer id = specialIds.get(n);
            if (id != null) {
                return id;
            }
        }
        return fallback;
    }

    /** Loads a {@code tokenizer.json} or {@code tokenizer.json.gz} file. */
    public static HfTokenizer load(Path path) throws IOException {
        if (!Files.isRegularFile(path)) {
            throw new IOException("tokenizer file " + path + " does not exist or is not a file");
        }
        byte[] bytes = Files.readAllBytes(path);
        return load(bytes, path.toString());
    }

    /** Loads a tokenizer from a stream of {@code tokenizer.json} (gzipped or not); {@code name} is for messages. */
    public static HfTokenizer load(InputStream in, String name) throws IOException {
        return load(in.readAllBytes(), name);
    }

    private static HfTokenizer load(byte[] bytes, String name) throws IOException {
        if (bytes.length >= 2 && (bytes[0] & 0xFF) == 0x1F && (bytes[1] & 0xFF) == 0x8B) {
            try (InputStream gz = new GZIPInputStream(new ByteArrayInputStream(bytes))) {
                bytes = gz.readAllBytes();
            }
        }
        JsonNode json;
        try {
            json = new ObjectMapper().readTree(bytes);
        } catch (IOException e) {
            throw new IOException("tokenizer file " + name + " is not valid JSON: " + e.getMessage(), e);
        }
        Map<String, String> options = new HashMap<>();
        options.put("truncation", "false");
        options.put("padding", "false");
        options.put("addSpecialTokens", "false");
        HuggingFaceTokenizer tok;
        try {
            tok = HuggingFaceTokenizer.newInstance(new ByteArrayInputStream(bytes), options);
        } catch (RuntimeException e) {
            throw new IOException("tokenizer file " + name + " could not be loaded by the Hugging Face tokenizers library: "
                    + e.getMessage(), e);
        }
        return new HfTokenizer(tok, json, bytes, name);
    }

    @Override
    public int[] encode(String text) {
        long[] ids = tokenizer.encode(text, false, false).getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = (int) ids[i];
        }
        return out;
    }

    /** The tokens (vocabulary pieces) of {@code text}, for inspection. */
    public String[] pieces(String text) {
        return tokenizer.encode(text, false, false).getTokens();
    }

    @Override
    public String decode(int[] ids) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocabSize) {
                throw new IllegalArgumentException("token id " + ids[i] + " is outside the vocabulary [0, " + vocabSize + ") of " + source);
            }
            l[i] = ids[i];
        }
        return tokenizer.decode(l, true);
    }

    /** The id of a special (added) token such as {@code <unk>}, or -1. */
    public int specialId(String content) {
        return specialIds.getOrDefault(content, -1);
    }

    @Override
    public int vocabSize() {
        return vocabSize;
    }

    @Override
    public int bosId() {
        return bos;
    }

    @Override
    public int eosId() {
        return eos;
    }

    @Override
    public int padId() {
        return pad;
    }

    @Override
    public boolean addsPrefixSpace() {
        return prefixSpace;
    }

    @Override
    public String fingerprint() {
        return fingerprint;
    }

    @Override
    public void close() {
        tokenizer.close();
    }

    @Override
    public String toString() {
        return "HfTokenizer(" + source + ", vocab=" + vocabSize + ")";
    }

    static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
