package dev.infini.samediff;

import java.util.Locale;

/** How a segment is written into the compressive memory (spec: "linear" and "delta"). */
public enum MemoryUpdate {
    /** {@code M <- M + sigma(K)^T V}. */
    LINEAR,
    /** {@code M <- M + sigma(K)^T (V - sigma(K) M / (sigma(K) z + eps))}. */
    DELTA;

    /** The value used in {@code config.json} and on the command line. */
    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Parses {@code "linear"} or {@code "delta"}; anything else is an error naming the value. */
    public static MemoryUpdate parse(String s) {
        if (s != null) {
            for (MemoryUpdate m : values()) {
                if (m.key().equalsIgnoreCase(s.trim())) {
                    return m;
                }
            }
        }
        throw new InfiniConfigException("memory_update", "memory_update must be 'linear' or 'delta', got '" + s + "'");
    }
}
