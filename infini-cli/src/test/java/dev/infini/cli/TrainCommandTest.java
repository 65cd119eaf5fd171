package dev.infini.cli;

import dev.infini.zoo.dl4j.GraphTraining;
import dev.infini.cli.train.Engine;
import dev.infini.cli.train.TrainOptions;
import dev.infini.cli.train.TrainingCheckpoint;
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

    @Test
    @DisplayName("--resume DIR: the checkpoint's options are the base, only the flags given override them")
    void resumeOverridesOnlyTheFlagsGiven() throws Exception {
        TrainOptions saved = new TrainOptions();
        saved.steps = 300;
        saved.lr = 5e-4;
        saved.seqLen = 1024;
        saved.corpus = "sotu";
        saved.memoryGradient = dev.infini.samediff.train.MemoryGradient.TRUNCATED;
        Path ckpt = tmp.resolve("run").resolve(TrainingCheckpoint.DIR);
        java.nio.file.Files.createDirectories(ckpt);
        TrainingCheckpoint.State state = new TrainingCheckpoint.State();
        state.options = saved;
        java.nio.file.Files.writeString(ckpt.resolve(TrainingCheckpoint.STATE),
                new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(state));
        java.nio.file.Files.writeString(ckpt.resolve(TrainingCheckpoint.OPTIMIZER), "");
        // --seq-len 512 is the default value, given explicitly: it still overrides the checkpoint's 1024.
        TrainOptions o = parse("--resume", tmp.resolve("run").toString(), "--steps", "600", "--seq-len", "512");
        assertEquals(600, o.steps);
        assertEquals(512, o.seqLen);
        assertEquals(5e-4, o.lr);
        assertEquals("sotu", o.corpus);
        assertEquals(dev.infini.samediff.train.MemoryGradient.TRUNCATED, o.memoryGradient);
        assertEquals(tmp.resolve("run").toString(), o.out, "a resumed run writes into its own directory");
        assertEquals(tmp.resolve("elsewhere").toString(),
                parse("--resume", tmp.resolve("run").toString(), "--out", tmp.resolve("elsewhere").toString()).out);
    }

    @Test
    @DisplayName("closed choices take the lowercase names users type; help shows each default once")
    void enumsAndHelp() throws Exception {
        TrainOptions o = parse("--engine", "graph", "--memory-gradient", "full", "--memory-update", "delta");
        assertEquals(Engine.GRAPH, o.engine);
        assertEquals(dev.infini.samediff.MemoryUpdate.DELTA, o.memoryUpdate);
        assertEquals(dev.infini.samediff.train.MemoryGradient.TRUNCATED,
                parse("--memory-gradient", "truncated").memoryGradient);
        var e = assertThrows(CommandLine.ParameterException.class, () -> parse("--memory-gradient", "partial"));
        assertTrue(e.getMessage().contains("memory gradient must be 'full' or 'truncated'"), e.getMessage());
        String help = new CommandLine(new TrainCommand()).getUsageMessage();
        assertTrue(help.contains("Tokens per sequence (default: 512)."), help);
        assertTrue(help.contains("--max-bad-steps"), help);
        assertTrue(help.contains("moby-dick-book"), help);
    }
}
