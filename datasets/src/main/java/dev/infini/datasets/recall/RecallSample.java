package dev.infini.datasets.recall;

/**
 * One associative-recall sample (see {@link RecallTask} for the format).
 *
 * @param ids            the {@code (gap + 2) x segment} byte ids
 * @param gap            filler segments between the pairs segment and the queries segment
 * @param keys           the keys in the order they are asked (lowercase letters)
 * @param values         the value of each asked key (uppercase letters), in the same order
 * @param valuePositions where each asked value sits in {@code ids} (all in the last segment); the model predicts it
 *                       from the key at {@code valuePositions[i] - 1}
 */
public record RecallSample(int[] ids, int gap, byte[] keys, byte[] values, int[] valuePositions) {
    /** The sample as text (every id is a printable ASCII byte). */
    public String text() {
        StringBuilder sb = new StringBuilder(ids.length);
        for (int id : ids) {
            sb.append((char) id);
        }
        return sb.toString();
    }
}
