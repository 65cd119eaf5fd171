package dev.infini.samediff.train;

import java.util.Locale;

/** How gradients treat the memory passed between segments. */
public enum MemoryGradient {
    /**
     * The reference code's way: the memory entering a segment is a constant, gradients stop at segment
     * boundaries, parameter gradients are summed over segments.
     */
    TRUNCATED,
    /**
     * The paper's way: exact back-propagation through the memory of every segment, with per-segment
     * recomputation (gradient checkpointing): the forward pass keeps only each segment's incoming memory.
     */
    FULL;

    public static MemoryGradient parse(String s) {
        for (MemoryGradient m : values()) {
            if (m.name().equalsIgnoreCase(s.trim())) {
                return m;
            }
        }
        throw new IllegalArgumentException("memory gradient must be 'full' or 'truncated', got '" + s + "'");
    }

    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }
}
