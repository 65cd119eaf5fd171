package dev.infini.datasets.recall;

import java.util.Random;

/**
 * Associative recall across segments, a task that only a memory can solve. Byte-level tokens (id = byte value); a
 * sample is {@code (gap + 2) x S} tokens, {@code S} the model's segment size:
 * <ul>
 *   <li>segment 0, the pairs: {@code N} pairs of three bytes, a key (a lowercase letter, the {@code N} keys
 *       distinct), its value (an uppercase letter drawn uniformly) and a space; the rest of the segment is filler;</li>
 *   <li>{@code gap} filler segments: digits {@code 0-9} drawn uniformly;</li>
 *   <li>the last segment, the queries: the {@code N} keys in a fresh random order, each written as key, value, space
 *       exactly as in the pairs segment; the rest filler.</li>
 * </ul>
 * Only the value bytes of the queries segment are scored. Local attention never sees segment 0 from the last
 * segment, so a value can only come through the memory; chance is 1/26. Everything is drawn from the {@link Random}
 * given, so a seed fixes a sample.
 */
public final class RecallTask {
    /** Probability of guessing a value without the memory. */
    public static final double CHANCE = 1.0 / 26;
    private static final int PAIR_BYTES = 3;

    private final int segment;

    /** @param segment the model's segment size {@code S}; at least 3 bytes (one pair) */
    public RecallTask(int segment) {
        if (segment < PAIR_BYTES) {
            throw new IllegalArgumentException("the segment size must be at least " + PAIR_BYTES + " to hold one pair, got " + segment);
        }
        this.segment = segment;
    }

    public int segment() {
        return segment;
    }

    /** The most pairs a segment holds: 26 keys, and three bytes per pair. */
    public int maxPairs() {
        return Math.min(26, segment / PAIR_BYTES);
    }

    /** Tokens of a sample with {@code gap} filler segments. */
    public int length(int gap) {
        return (gap + 2) * segment;
    }

    /** A sample of {@code pairs} pairs and {@code gap} filler segments drawn from {@code r}. */
    public RecallSample sample(int pairs, int gap, Random r) {
        if (pairs < 1 || pairs > maxPairs()) {
            throw new IllegalArgumentException("pairs must be in [1, " + maxPairs() + "] with segment " + segment + ", got " + pairs);
        }
        if (gap < 0) {
            throw new IllegalArgumentException("the gap (filler segments) must be >= 0, got " + gap);
        }
        int[] ids = new int[length(gap)];
        byte[] keys = distinctKeys(pairs, r);
        byte[] values = new byte[pairs];
        for (int i = 0; i < pairs; i++) {
            values[i] = (byte) ('A' + r.nextInt(26));
        }
        int p = writePairs(ids, 0, keys, values);
        fill(ids, p, segment, r);                                     // segment 0's filler
        fill(ids, segment, (gap + 1) * segment, r);                   // the gap segments
        int[] order = permutation(pairs, r);
        byte[] askedKeys = new byte[pairs];
        byte[] askedValues = new byte[pairs];
        int[] valuePositions = new int[pairs];
        int q = (gap + 1) * segment;
        for (int i = 0; i < pairs; i++) {
            askedKeys[i] = keys[order[i]];
            askedValues[i] = values[order[i]];
            valuePositions[i] = q + PAIR_BYTES * i + 1;
        }
        int end = writePairs(ids, q, askedKeys, askedValues);
        fill(ids, end, ids.length, r);
        return new RecallSample(ids, gap, askedKeys, askedValues, valuePositions);
    }

    private static int writePairs(int[] ids, int p, byte[] keys, byte[] values) {
        for (int i = 0; i < keys.length; i++) {
            ids[p++] = keys[i];
            ids[p++] = values[i];
            ids[p++] = ' ';
        }
        return p;
    }

    private static void fill(int[] ids, int from, int to, Random r) {
        for (int t = from; t < to; t++) {
            ids[t] = '0' + r.nextInt(10);
        }
    }

    private static byte[] distinctKeys(int n, Random r) {
        int[] letters = permutation(26, r);
        byte[] out = new byte[n];
        for (int i = 0; i < n; i++) {
            out[i] = (byte) ('a' + letters[i]);
        }
        return out;
    }

    /** A uniform random permutation of 0..n-1 (Fisher-Yates). */
    private static int[] permutation(int n, Random r) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) {
            a[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
        return a;
    }
}
