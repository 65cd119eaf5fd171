package dev.infini.datasets.passkey;

import dev.infini.datasets.tokenize.Tokenizer;

import java.util.Random;

/**
 * The passkey retrieval task in the format of the Infini-attention paper (after Mohtashami and Jaggi, 2023):
 * <pre>
 * There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. I will quiz you
 * about the important information there. The grass is green. The sky is blue. The sun is yellow. Here we go.
 * There and back again. (filler, repeated) The pass key is 71432. Remember it. 71432 is the pass key.
 * (filler, repeated) What is the pass key? The pass key is
 * </pre>
 * and the answer is the key. Prompts have exactly the requested number of tokens: the filler is repeated and cut
 * at token granularity, the key sentence placed at the requested depth. The pieces are tokenized separately and
 * joined (with a space between them, or by the tokenizer's own word-boundary prefix), so the length is exact with
 * any tokenizer. Everything is deterministic by seed.
 */
public final class PasskeyTask {
    public static final String INTRO = "There is an important info hidden inside a lot of irrelevant text. "
            + "Find it and memorize it. I will quiz you about the important information there.";
    public static final String FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";
    public static final String KEY_SENTENCE = "The pass key is %s. Remember it. %s is the pass key.";
    public static final String QUESTION = "What is the pass key? The pass key is";

    private final Tokenizer tokenizer;
    private final boolean addBos;
    private final int[] intro;
    private final int[] filler;
    private final int[] question;

    /** With BOS at the start of every prompt. */
    public PasskeyTask(Tokenizer tokenizer) {
        this(tokenizer, true);
    }

    public PasskeyTask(Tokenizer tokenizer, boolean addBos) {
        this.tokenizer = tokenizer;
        this.addBos = addBos;
        this.intro = tokenizer.encode(INTRO);
        this.filler = piece(FILLER);
        this.question = piece(QUESTION);
    }

    /** A piece that follows other text: its leading space comes from the tokenizer or is added here. */
    private int[] piece(String text) {
        return tokenizer.encode(tokenizer.addsPrefixSpace() ? text : " " + text);
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /** The shortest prompt this tokenizer allows (no filler at all). */
    public int minLength() {
        return (addBos ? 1 : 0) + intro.length + piece(String.format(KEY_SENTENCE, "00000", "00000")).length + question.length;
    }

    /** A random 5-digit key (10000-99999) drawn from {@code seed}. */
    public static String passkey(long seed) {
        return Integer.toString(10000 + new Random(seed).nextInt(90000));
    }

    /** A sample with a key drawn from {@code seed}. */
    public PasskeySample sample(int lengthTokens, double depth, long seed) {
        return sample(lengthTokens, depth, passkey(seed));
    }

    /**
     * @param lengthTokens the prompt length in tokens (BOS included)
     * @param depth        0 = key right after the intro, 1 = right before the question
     * @param passkey      five digits
     */
    public PasskeySample sample(int lengthTokens, double depth, String passkey) {
        if (!passkey.matches("\\d{5}")) {
            throw new IllegalArgumentException("the pass key must be 5 digits, got \"" + passkey + "\"");
        }
        if (!(depth >= 0 && depth <= 1)) {
            throw new IllegalArgumentException("depth must be in [0, 1], got " + depth);
        }
        int[] key = piece(String.format(KEY_SENTENCE, passkey, passkey));
        int fixed = (addBos ? 1 : 0) + intro.length + key.length + question.length;
        if (lengthTokens < fixed) {
            throw new IllegalArgumentException("a passkey prompt of " + lengthTokens + " tokens is too short: with "
                    + tokenizer + " it needs at least " + fixed + " tokens without any filler");
        }
        int budget = lengthTokens - fixed;
        int before = (int) Math.round(depth * budget);
        int after = budget - before;
        int[] out = new int[lengthTokens];
        int p = 0;
        if (addBos) {
            out[p++] = tokenizer.bosId();
        }
        System.arraycopy(intro, 0, out, p, intro.length);
        p += intro.length;
        p = fill(out, p, before);
        int keyStart = p;
        System.arraycopy(key, 0, out, p, key.length);
        p += key.length;
        int keyEnd = p;
        p = fill(out, p, after);
        System.arraycopy(question, 0, out, p, question.length);
        p += question.length;
        if (p != lengthTokens) {
            throw new IllegalStateException("built " + p + " tokens instead of " + lengthTokens);
        }
        return new PasskeySample(out, piece(passkey), passkey, depth, keyStart, keyEnd);
    }

    private int fill(int[] out, int p, int n) {
        for (int i = 0; i < n; i++) {
            out[p++] = filler[i % filler.length];
        }
        return p;
    }

    /** The longest answer (in tokens) any 5-digit key can have with this tokenizer, over keys of one repeated digit. */
    public int maxAnswerLength() {
        int max = 0;
        for (int d = 0; d <= 9; d++) {
            max = Math.max(max, piece(String.valueOf(d).repeat(5)).length);
        }
        max = Math.max(max, piece("12345").length);
        return max;
    }
}
