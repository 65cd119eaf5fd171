package dev.infini.datasets.tokenize;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Byte-level tokenizer: ids 0-255 are the UTF-8 bytes of the text; then {@link #BOS} = 256,
 * {@link #EOS} = 257, {@link #PAD} = 258 and one reserved id 259, so {@link #vocabSize()} = 260.
 * Every string round-trips exactly; decoding invalid byte sequences yields U+FFFD.
 */
public final class ByteTokenizer implements Tokenizer {
    public static final int BOS = 256;
    public static final int EOS = 257;
    public static final int PAD = 258;
    public static final int RESERVED = 259;
    public static final int VOCAB_SIZE = 260;

    @Override
    public int[] encode(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            ids[i] = bytes[i] & 0xFF;
        }
        return ids;
    }

    @Override
    public String decode(int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(ids.length);
        for (int id : ids) {
            if (id < 0 || id >= VOCAB_SIZE) {
                throw new IllegalArgumentException("token id " + id + " is outside the byte vocabulary [0, " + VOCAB_SIZE + ")");
            }
            if (id < 256) {
                out.write(id);
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    @Override
    public int vocabSize() {
        return VOCAB_SIZE;
    }

    @Override
    public int bosId() {
        return BOS;
    }

    @Override
    public int eosId() {
        return EOS;
    }

    @Override
    public int padId() {
        return PAD;
    }

    @Override
    public String fingerprint() {
        return "byte-utf8-v1";
    }

    @Override
    public String toString() {
        return "ByteTokenizer(vocab=" + VOCAB_SIZE + ")";
    }
}
