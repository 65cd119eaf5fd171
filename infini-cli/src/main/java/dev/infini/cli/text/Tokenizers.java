package dev.infini.cli.text;

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

    private Tokenizers() {
    }

    /**
     * {@code tokenizer.json} in {@code dir} if there is one (it must fit the model's vocabulary), else the byte
     * tokenizer when the model's vocabulary is the byte tokenizer's ({@value ByteTokenizer#VOCAB_SIZE}), else none:
     * such a model takes and gives token ids only.
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
        if (config.vocabSize() == ByteTokenizer.VOCAB_SIZE) {
            return Optional.of(new ByteTokenizer());
        }
        return Optional.empty();
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
