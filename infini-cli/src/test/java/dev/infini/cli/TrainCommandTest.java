package dev.infini.cli;

import dev.infini.zoo.dl4j.GraphTraining;
import dev.infini.cli.train.Engine;
import dev.infini.cli.train.TrainOptions;
import dev.infini.cli.train.Trainer;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code train}'s distributed-training flags reach the options and are checked before any work. */
class TrainCommandTest {
    @TempDir
    Path tmp;

    static TrainOptions parse(String... args) throws Exception {
        TrainCommand c = new TrainCommand();
        new CommandLine(c).parseArgs(args);
        return c.options();
    }

    @Test
    @DisplayName("--spark MASTER --spark-mode shared|averaging select the Spark TrainingMaster (default averaging)")
    void sparkModeFlag() throws Exception {
        TrainOptions shared = parse("--engine", "graph", "--spark", "yarn", "--workers", "4", "--spark-mode", "shared");
        assertEquals(Engine.GRAPH, shared.engine);
        assertEquals("yarn", shared.spark);
        assertEquals(4, shared.workers);
        assertEquals(GraphTraining.SparkMode.SHARED, shared.sparkModeOrDefault());
        assertEquals(GraphTraining.SparkMode.AVERAGING,
                parse("--engine", "graph", "--spark", "local[2]", "--spark-mode", "AVERAGING").sparkModeOrDefault());
        TrainOptions plain = parse("--engine", "graph", "--spark", "local[2]");
        assertNull(plain.sparkMode);
        assertEquals(GraphTraining.SparkMode.AVERAGING, plain.sparkModeOrDefault());
    }

    @Test
    @DisplayName("a bad --spark-mode, or --spark-mode without --spark, is an error naming the flag")
    void badSparkMode() throws Exception {
        // The value is checked while parsing, before any options object exists.
        Exception bogus = assertThrows(CommandLine.ParameterException.class, () -> parse("--engine", "graph", "--spark",
                "local[2]", "--spark-mode", "ring", "--out", tmp.resolve("a").toString()));
        assertTrue(bogus.getMessage().contains("--spark-mode must be averaging or shared"), bogus.getMessage());
        TrainOptions noSpark = parse("--engine", "graph", "--spark-mode", "shared", "--out", tmp.resolve("b").toString());
        var e = assertThrows(IllegalArgumentException.class, () -> new Trainer(noSpark, null).run());
        assertTrue(e.getMessage().contains("--spark-mode needs --spark"), e.getMessage());
    }
}
