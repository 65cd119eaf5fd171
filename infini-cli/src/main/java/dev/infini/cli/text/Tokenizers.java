package dev.infini.cli.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.infini.datasets.tokenize.ByteTokenizer;
import dev.infini.datasets.tokenize.HfTokenizer;
import dev.infini.datasets.tokenize.Tokenizer;
import dev.infini.samediff.InfiniConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/** The tokenizer that goes with a model directory. */
public final class Tokenizers {
    /** The Hugging Face tokenizer file looked for next to a model's {@code config.json}. */
    public static final String TOKENIZER_JSON = "tokenizer.json";
    /**
     * Hugging Face's tokenizer settings file; for a model of the byte tokenizer, its description
     * ({@link #byteDescription()}: {@code "infini_tokenizer": "byte"}), which checkpoints of byte-level runs hold.
     */
    public static final String TOKENIZER_CONFIG = "tokenizer_config.json";
    private static final String BYTE_KEY = "infini_tokenizer";
    private static final ObjectMapper JSON = new ObjectMapper();

    private Tokenizers() {
    }

    /**
     * {@code tokenizer.json} in {@code dir} if there is one (it must fit the model's vocabulary), else the byte
     * tokenizer when {@code tokenizer_config.json} describes it or the model's vocabulary is the byte tokenizer's
     * ({@value ByteTokenizer#VOCAB_SIZE}), else none: such a model takes and gives token ids only.
     */
    public static Optional<Tokenizer> forModel(Path dir, InfiniConfig config) throws IOException {
        Path file = dir.resolve(TOKENIZER_JSON);
        if (Files.isRegularFile(file)) {
            HfTokenizer tok = HfTokenizer.load(file);
            if (tok.vocabSize() > config.vocabSize()) {
                tok.close();
                throw new IOException(file + " has " + tok.vocabSize() + " tokens but the model's vocab_size is only "
                        + config.vocabSize());
            }
            return Optional.of(tok);
        }
        if (describesByteTokenizer(dir.resolve(TOKENIZER_CONFIG))) {
            if (config.vocabSize() < ByteTokenizer.VOCAB_SIZE) {
                throw new IOException(dir.resolve(TOKENIZER_CONFIG) + " names the byte tokenizer (" + ByteTokenizer.VOCAB_SIZE
                        + " ids) but the model's vocab_size is only " + config.vocabSize());
            }
            return Optional.of(new ByteTokenizer());
        }
        if (config.vocabSize() == ByteTokenizer.VOCAB_SIZE) {
            return Optional.of(new ByteTokenizer());
        }
        return Optional.empty();
    }

    /**
     * The {@code tokenizer_config.json} of a byte-level model: ids 0-255 are UTF-8 bytes, then BOS, EOS, PAD and one
     * reserved id. Its {@code tokenizer_class} is no class Hugging Face transformers knows, so that it refuses the
     * file rather than guessing.
     */
    public static ObjectNode byteDescription() {
        ObjectNode n = JSON.createObjectNode();
        n.put(BYTE_KEY, "byte");
        n.put("tokenizer_class", "InfiniByteTokenizer");
        n.put("description", "UTF-8 bytes: ids 0-255 are the bytes of the text, " + ByteTokenizer.BOS + " BOS, "
                + ByteTokenizer.EOS + " EOS, " + ByteTokenizer.PAD + " PAD, " + ByteTokenizer.RESERVED + " reserved");
        n.put("vocab_size", ByteTokenizer.VOCAB_SIZE);
        n.put("bos_token_id", ByteTokenizer.BOS);
        n.put("eos_token_id", ByteTokenizer.EOS);
        n.put("pad_token_id", ByteTokenizer.PAD);
        return n;
    }

    private static boolean describesByteTokenizer(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            return false;
        }
        JsonNode n;
        try {
            n = JSON.readTree(file.toFile());
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IOException(file + " is not valid JSON: " + e.getOriginalMessage(), e);
        }
        return n != null && "byte".equals(n.path(BYTE_KEY).asText());
    }

    /** As {@link #forModel}, for commands that cannot work on ids alone. */
    public static Tokenizer require(Path dir, InfiniConfig config, String command) throws IOException {
        return forModel(dir, config).orElseThrow(() -> new IllegalArgumentException(command + " needs a tokenizer: "
                + dir + " has no " + TOKENIZER_JSON + " and vocab_size " + config.vocabSize()
                + " is not the byte tokenizer's " + ByteTokenizer.VOCAB_SIZE));
    }

    /**
     * The end-of-sequence id to stop generating at: the tokenizer's when there is one, else the config's.
     */
    public static int eosId(Optional<Tokenizer> tokenizer, InfiniConfig config) {
        return tokenizer.map(Tokenizer::eosId).orElse(config.eosTokenId());
    }
}
