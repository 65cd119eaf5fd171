package dev.infini.cli.train;

import java.io.IOException;
import java.util.function.Consumer;

/**
 * What trains a prepared run ({@code train --engine}): it writes the run's checkpoint and artifacts and returns the
 * summary. Options an engine cannot honour are rejected by {@link TrainOptions#validate()} before any work.
 */
public interface TrainingEngine {
    /** Trains, calling {@code progress} with a line after every step. */
    TrainSummary train(TrainingSetup setup, Consumer<String> progress) throws IOException;

    /** The engine of {@code --engine}. */
    static TrainingEngine of(Engine engine) {
        return switch (engine) {
            case SAMEDIFF -> new SameDiffEngine();
            case GRAPH -> new GraphEngine();
        };
    }
}
