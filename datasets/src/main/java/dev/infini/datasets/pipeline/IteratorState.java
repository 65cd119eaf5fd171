package dev.infini.datasets.pipeline;

/**
 * The position of a {@link TokenBlockIterator}: the epoch (which seeded shuffle) and the number of blocks of it
 * already returned, plus a key of the block plan so a state is never restored into a different plan.
 * {@link #encode()} / {@link #decode} give a one-line text form to store in a checkpoint.
 */
public record IteratorState(long epoch, long cursor, String planKey) {

    public IteratorState {
        if (epoch < 0 || cursor < 0) {
            throw new IllegalArgumentException("epoch and cursor must be >= 0, got " + epoch + ", " + cursor);
        }
    }

    public String encode() {
        return "v1;epoch=" + epoch + ";cursor=" + cursor + ";plan=" + planKey;
    }

    public static IteratorState decode(String s) {
        String[] parts = s.trim().split(";");
        if (parts.length != 4 || !parts[0].equals("v1") || !parts[1].startsWith("epoch=") || !parts[2].startsWith("cursor=")
                || !parts[3].startsWith("plan=")) {
            throw new IllegalArgumentException("not an iterator state: \"" + s + "\" (expected v1;epoch=N;cursor=N;plan=KEY)");
        }
        try {
            return new IteratorState(Long.parseLong(parts[1].substring(6)), Long.parseLong(parts[2].substring(7)),
                    parts[3].substring(5));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not an iterator state: \"" + s + "\": " + e.getMessage(), e);
        }
    }
}
