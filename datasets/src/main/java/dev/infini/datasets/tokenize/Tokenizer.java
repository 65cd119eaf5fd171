package dev.infini.datasets.tokenize;

/**
 * Text to token ids and back. Implementations: {@link ByteTokenizer} (UTF-8 bytes, the default for
 * models trained from scratch here) and {@link HfTokenizer} (a Hugging Face {@code tokenizer.json}).
 *
 * <p>{@link #encode} never adds special tokens and never truncates; the pipeline adds BOS/EOS itself.
 */
public interface Tokenizer extends AutoCloseable {

    /** Token ids of {@code text}, without special tokens, never truncated. */
    int[] encode(String text);

    /** The text of {@code ids}; special tokens (BOS, EOS, PAD) are left out. */
    String decode(int[] ids);

    /** Number of ids: every id is in {@code [0, vocabSize())}. */
    int vocabSize();

    int bosId();

    int eosId();

    /** The id put in padded positions (they are masked out, so any valid id would do). */
    int padId();

    /**
     * True when the tokenizer itself puts a word boundary (a leading space, e.g. SentencePiece's
     * {@code ▁}) before every text it encodes, so pieces encoded separately join with spaces between them.
     */
    default boolean addsPrefixSpace() {
        return false;
    }

    /** A stable identity of this tokenizer and its vocabulary, used in cache keys. */
    String fingerprint();

    @Override
    default void close() {
    }
}
