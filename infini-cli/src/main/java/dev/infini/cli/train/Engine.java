package dev.infini.cli.train;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

import java.util.Locale;

/** What trains ({@code train --engine}): this project's SameDiff trainer or the DL4J ComputationGraph form. */
public enum Engine {
    /** Exact per-segment gradients through the memory, AdamW, the NaN guard, resume ({@link SameDiffEngine}). */
    SAMEDIFF,
    /** The DL4J {@code ComputationGraph} form: plain fit, ParallelWrapper or Spark ({@link GraphEngine}). */
    GRAPH;

    /** The name users type and checkpoints hold. */
    @JsonValue
    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** {@code samediff} or {@code graph} (any case); anything else is an error naming the value. */
    @JsonCreator
    public static Engine parse(String s) {
        for (Engine e : values()) {
            if (e.key().equalsIgnoreCase(s == null ? "" : s.trim())) {
                return e;
            }
        }
        throw new IllegalArgumentException("--engine must be samediff or graph, got " + s);
    }

    @Override
    public String toString() {
        return key();
    }
}
