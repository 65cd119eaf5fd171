package dev.infini.cli.train;

import dev.infini.cli.ui.StatsFeed;

import java.io.IOException;

/**
 * What trains a prepared run ({@code train --engine}): it writes the run's checkpoint and artifacts and returns the
 * summary. Options an engine cannot honour are rejected by {@link TrainOptions#validate()} before any work.
 */
public interface TrainingEngine {
    /**
     * Trains, reporting to {@code listener} (start, each step, each validation; {@link Trainer} reports the end). With
     * {@code stats} (the DL4J UI's feed of {@code --ui} or {@code --stats-file}; null without either), the engine feeds
     * the UI its own way: the graph engine through DL4J's {@code StatsListener}, the SameDiff engine through
     * {@link StatsFeed#listener}.
     */
    TrainSummary train(TrainingSetup setup, TrainListener listener, StatsFeed stats) throws IOException;

    /** The engine of {@code --engine}. */
    static TrainingEngine of(Engine engine) {
        return switch (engine) {
            case SAMEDIFF -> new SameDiffEngine();
            case GRAPH -> new GraphEngine();
        };
    }
}
