package dev.infini.datasets.passkey;

import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One passkey retrieval example.
 *
 * @param promptIds the prompt: [BOS] intro, filler, the key sentence, filler, the question; exactly the
 *                  requested length
 * @param answerIds the answer's tokens (the key, as it continues "The pass key is")
 * @param passkey   the 5-digit key
 * @param depth     where the key sentence sits in the filler, 0 (right after the intro) to 1 (right before the question)
 * @param keyStart  index in {@code promptIds} of the first token of the key sentence
 * @param keyEnd    index after its last token
 */
public record PasskeySample(int[] promptIds, int[] answerIds, String passkey, double depth, int keyStart, int keyEnd) {
    private static final Pattern FIVE_DIGITS = Pattern.compile("\\d{5}");

    /** Prompt followed by the answer: the sequence to train on. */
    public int[] trainingIds() {
        int[] out = Arrays.copyOf(promptIds, promptIds.length + answerIds.length);
        System.arraycopy(answerIds, 0, out, promptIds.length, answerIds.length);
        return out;
    }

    /** True when the first 5-digit number in a model's continuation is the key. */
    public boolean isCorrect(String generated) {
        Matcher m = FIVE_DIGITS.matcher(generated);
        return m.find() && m.group().equals(passkey);
    }

    /**
     * Key digits a continuation gets right in place (0-5): its first five digit characters, after any leading
     * spaces, compared position by position with the key.
     */
    public int digitsCorrect(String generated) {
        String g = generated.stripLeading();
        int right = 0;
        for (int i = 0; i < passkey.length() && i < g.length(); i++) {
            if (g.charAt(i) == passkey.charAt(i)) {
                right++;
            }
        }
        return right;
    }

    public int length() {
        return promptIds.length;
    }
}
