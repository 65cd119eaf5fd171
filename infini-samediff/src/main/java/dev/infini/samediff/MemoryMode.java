package dev.infini.samediff;

import java.util.Locale;

/**
 * What memory each segment reads, for measuring what the memory carries ({@link SegmentRunner}).
 * <ul>
 *   <li>{@link #ON}: the memory written by the sequence's own earlier segments (the model as designed);</li>
 *   <li>{@link #OFF}: empty memory before every segment, so nothing passes between segments;</li>
 *   <li>{@link #FOREIGN}: the memory another sequence carried to the same segment, so a segment reads a memory of the
 *       right size and statistics but with someone else's content (a control that exposes any leak of information
 *       other than through the memory's content).</li>
 * </ul>
 */
public enum MemoryMode {
    ON, OFF, FOREIGN;

    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** {@code on}, {@code off} or {@code foreign}; anything else is an error naming the choices. */
    public static MemoryMode parse(String s) {
        for (MemoryMode m : values()) {
            if (m.key().equalsIgnoreCase(s.trim())) {
                return m;
            }
        }
        throw new IllegalArgumentException("memory mode must be on, off or foreign, got '" + s + "'");
    }
}
