package dev.infini.cli.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.train.LrSchedule;
import dev.infini.samediff.train.MemoryGradient;
import dev.infini.zoo.dl4j.GraphTraining;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainOptionsTest {
    private static TrainOptions graph(Consumer<TrainOptions> change) {
        TrainOptions o = new TrainOptions();
        o.engine = Engine.GRAPH;
        change.accept(o);
        return o;
    }

    private static void assertRejected(TrainOptions o, String option) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, o::validate);
        assertTrue(e.getMessage().startsWith(option), "'" + e.getMessage() + "' names " + option);
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
    }

    @Test
    @DisplayName("options round-trip through a checkpoint's JSON, enums included")
    void roundTripThroughCheckpointJson() throws Exception {
        TrainOptions o = new TrainOptions();
        o.engine = Engine.GRAPH;
        o.memoryGradient = MemoryGradient.TRUNCATED;
        o.memoryUpdate = MemoryUpdate.DELTA;
        o.sparkMode = GraphTraining.SparkMode.SHARED;
        o.spark = "local[2]";
        o.workers = 3;
        o.hidden = 48;
        o.lr = 3e-4;
        o.corpus = "sotu";
        o.samplePrompt = "Call me";
        String json = TrainingCheckpoint.toJson(o);
        TrainOptions back = TrainingCheckpoint.optionsFromJson(json);
        assertEquals(Engine.GRAPH, back.engine);
        assertEquals(MemoryGradient.TRUNCATED, back.memoryGradient);
        assertEquals(MemoryUpdate.DELTA, back.memoryUpdate);
        assertEquals(GraphTraining.SparkMode.SHARED, back.sparkMode);
        assertEquals(48, back.hidden);
        assertEquals("sotu", back.corpus);
        ObjectMapper m = new ObjectMapper();
        assertEquals(m.readTree(json), m.readTree(TrainingCheckpoint.toJson(back)), "every field comes back");
        assertTrue(json.contains("\"engine\" : \"graph\""), json);
    }

    @Test
    @DisplayName("options written by earlier versions (lowercase names, string engine, null spark mode) still load")
    void earlierCheckpointsLoad() throws Exception {
        String old = "{\"preset\":\"tiny\",\"hidden\":null,\"corpus\":\"moby-dick\",\"seqLen\":512,\"segment\":256,"
                + "\"batch\":4,\"steps\":6,\"lr\":0.002,\"clip\":1.0,\"memoryGradient\":\"FULL\",\"memoryUpdate\":null,"
                + "\"seed\":42,\"out\":\"runs/x\",\"engine\":\"samediff\",\"workers\":1,\"spark\":null,\"sparkMode\":null,"
                + "\"someRemovedOption\":3}";
        TrainOptions o = TrainingCheckpoint.optionsFromJson(old);
        assertEquals(Engine.SAMEDIFF, o.engine);
        assertEquals(MemoryGradient.FULL, o.memoryGradient);
        assertNull(o.sparkMode);
        assertEquals(GraphTraining.SparkMode.AVERAGING, o.sparkModeOrDefault());
        assertEquals(6, o.steps);
        TrainOptions lower = TrainingCheckpoint.optionsFromJson("{\"engine\":\"graph\",\"memoryGradient\":\"full\","
                + "\"memoryUpdate\":\"delta\",\"sparkMode\":\"averaging\",\"spark\":\"local[2]\"}");
        assertEquals(Engine.GRAPH, lower.engine);
        assertEquals(MemoryGradient.FULL, lower.memoryGradient);
        assertEquals(MemoryUpdate.DELTA, lower.memoryUpdate);
        assertEquals(GraphTraining.SparkMode.AVERAGING, lower.sparkMode);
    }

    @Test
    @DisplayName("one Spark-mode default, averaging: the options' and GraphTraining's")
    void oneSparkModeDefault() {
        assertEquals(GraphTraining.SparkMode.AVERAGING, new TrainOptions().sparkModeOrDefault());
        assertEquals(GraphTraining.SparkMode.AVERAGING, new GraphTraining.Options().sparkMode());
    }

    @Test
    @DisplayName("the graph engine rejects what it cannot do with a one-line error naming the option")
    void graphEngineRejectsWhatItCannotDo() {
        assertRejected(graph(o -> o.memoryGradient = MemoryGradient.TRUNCATED), "--memory-gradient truncated");
        assertRejected(graph(o -> o.accumulation = 2), "--accumulation");
        assertRejected(graph(o -> {
            o.workers = 2;
            o.evalEvery = 25;
        }), "--eval-every 25");
        assertRejected(graph(o -> {
            o.workers = 2;
            o.checkpointEvery = 10;
        }), "--checkpoint-every 10");
        assertRejected(graph(o -> {
            o.spark = "local[2]";
            o.evalEvery = 5;
        }), "--eval-every 5");
    }

    @Test
    @DisplayName("the graph engine accepts the defaults on one worker, and several workers without mid-run validation")
    void graphEngineAcceptsWhatItHonours() {
        graph(o -> { }).validate();
        graph(o -> {
            o.workers = 2;
            o.evalEvery = 0;
            o.checkpointEvery = 0;
            o.clip = 0.5;
            o.warmup = 3;
        }).validate();
        graph(o -> {
            o.workers = 2;
            o.steps = 20;   // validation and checkpoints every 25 steps never come before the end
        }).validate();
        TrainOptions defaults = graph(o -> o.workers = 2);
        defaults.validate();
        assertEquals(0, defaults.evalEvery(), "several workers validate at the end by default");
        assertEquals(0, defaults.checkpointEvery());
        assertEquals(TrainOptions.DEFAULT_EVERY, graph(o -> { }).evalEvery(), "one worker validates every 25 steps");
        assertEquals(TrainOptions.DEFAULT_EVERY, new TrainOptions().checkpointEvery());
    }

    @Test
    @DisplayName("the samediff engine keeps its options and rejects the graph engine's")
    void samediffEngine() {
        new TrainOptions().validate();
        TrainOptions o = new TrainOptions();
        o.memoryGradient = MemoryGradient.TRUNCATED;
        o.accumulation = 4;
        o.validate();
        o.workers = 2;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, o::validate);
        assertTrue(e.getMessage().contains("need --engine graph"), e.getMessage());
    }

    @Test
    @DisplayName("the graph engine's ND4J schedule gives the samediff trainer's learning rate at each step")
    void scheduleReproducesLrSchedule() {
        LrSchedule lr = new LrSchedule(2e-3, 10, 100, 0.1);
        WarmupCosineSchedule s = new WarmupCosineSchedule(2e-3, 10, 100, 0.1);
        for (int i = 0; i < 120; i++) {
            assertEquals(lr.at(i + 1), s.valueAt(i, 0), 1e-15, "update " + i);
            assertEquals(10 * lr.at(i + 1), s.scaled(10).valueAt(i, 0), 1e-14, "gates, update " + i);
        }
        assertEquals(s.valueAt(42, 0), s.clone().valueAt(42, 0));
    }
}
