package dev.infini.cli.train;

import dev.infini.cli.ui.StatsFeed;
import dev.infini.samediff.train.LrSchedule;
import org.deeplearning4j.core.storage.Persistable;
import org.deeplearning4j.core.storage.StatsStorage;
import org.deeplearning4j.ui.model.stats.StatsListener;
import org.deeplearning4j.ui.model.stats.api.StatsInitializationReport;
import org.deeplearning4j.ui.model.stats.api.StatsReport;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainListenerTest {
    @TempDir
    static Path cache;
    @TempDir
    Path tmp;

    @BeforeAll
    static void isolatedTokenCache() {
        System.setProperty("infini.cache.dir", cache.toString());
    }

    /** Every event a run sends, in order. */
    static final class Recorder implements TrainListener {
        final List<Start> starts = new ArrayList<>();
        final List<Step> steps = new ArrayList<>();
        final List<Validation> validations = new ArrayList<>();
        final List<TrainSummary> ends = new ArrayList<>();

        @Override public void started(Start s) { starts.add(s); }
        @Override public void stepped(Step s) { steps.add(s); }
        @Override public void validated(Validation v) { validations.add(v); }
        @Override public void finished(TrainSummary s) { ends.add(s); }
    }

    /** The DL4J UI records of the one session in a stats file: its static report and its updates, oldest first. */
    private static List<Persistable> statsOf(Path file, List<StatsInitializationReport> init) throws IOException {
        StatsStorage st = StatsFeed.fileStorage(file);
        try {
            assertEquals(1, st.listSessionIDs().size(), "one run, one session");
            String session = st.listSessionIDs().get(0);
            assertEquals(List.of(StatsListener.TYPE_ID), st.listTypeIDsForSession(session));
            List<Persistable> updates = new ArrayList<>();
            for (String worker : st.listWorkerIDsForSession(session)) {
                Persistable p = st.getStaticInfo(session, StatsListener.TYPE_ID, worker);
                if (p != null) {
                    init.add((StatsInitializationReport) p);
                }
                updates.addAll(st.getAllUpdatesAfter(session, StatsListener.TYPE_ID, worker, 0));
            }
            return updates;
        } finally {
            st.close();
        }
    }

    @Test
    @DisplayName("samediff engine: start, every step (loss, lr, gradient norm, tokens/s, gates, memory norms), each "
            + "validation and the end reach the listener; --stats-file holds the DL4J UI records of each step")
    void sameDiffEngineEvents() throws IOException {
        TrainOptions o = TrainerTest.small(tmp.resolve("sd"), 5);
        o.evalEvery = 2;
        o.statsFile = tmp.resolve("sd/stats.dl4j").toString();
        Recorder r = new Recorder();
        TrainSummary summary = new Trainer(o, null).addListener(r).run();

        assertEquals(1, r.starts.size());
        assertEquals("samediff", r.starts.get(0).engine());
        assertEquals(2, r.starts.get(0).layers());
        assertEquals(List.of(1L, 2L, 3L, 4L, 5L), r.steps.stream().map(TrainListener.Step::step).toList());
        LrSchedule schedule = new LrSchedule(o.lr, o.warmup, o.steps, o.minLrRatio);
        for (TrainListener.Step s : r.steps) {
            assertTrue(Double.isFinite(s.loss()) && !s.skipped(), "step " + s.step());
            assertEquals(schedule.at(s.step()), s.learningRate(), 1e-15);
            assertTrue(s.gradNorm() > 0 && Double.isFinite(s.gradNorm()));
            assertTrue(s.tokensPerSecond() > 0 && s.tokens() == s.step() * o.batch * o.seqLen, "tokens " + s.tokens());
            assertEquals(2, s.gates().length);
            assertEquals(2, s.gates()[0].length, "one gate per query head");
            assertTrue(s.gates()[1][1] > 0 && s.gates()[1][1] < 1);
            assertEquals(2, s.memoryNorms().length);
            assertTrue(s.memoryNorms()[0] > 0, "memory written by the segments");
        }
        assertEquals(List.of(2L, 4L, 5L), r.validations.stream().map(TrainListener.Validation::step).toList());
        assertEquals(summary.valLoss(), r.validations.get(2).loss(), 1e-12);
        assertEquals(List.of(summary), r.ends);

        List<StatsInitializationReport> init = new ArrayList<>();
        List<Persistable> updates = statsOf(Path.of(o.statsFile), init);
        assertEquals("dev.infini.samediff.InfiniModel", init.get(0).getModelClassName());
        assertEquals(summary.parameters(), init.get(0).getModelNumParams());
        assertEquals(5, updates.size());
        for (int i = 0; i < 5; i++) {
            StatsReport u = (StatsReport) updates.get(i);
            assertEquals(i + 1, u.getIterationCount());
            assertEquals(r.steps.get(i).loss(), u.getScore(), 1e-12, "the UI's score is the step's loss");
        }
    }

    @Test
    @DisplayName("graph engine with --workers 2: the listener hears every step and the end validation, and DL4J's "
            + "StatsListener fills --stats-file through ParallelWrapper")
    void graphEngineEventsSurviveParallelWrapper() throws IOException {
        TrainOptions o = TrainerTest.small(tmp.resolve("graph"), 4);
        o.engine = Engine.GRAPH;
        o.workers = 2;
        o.checkpointEvery = 0;
        o.statsFile = tmp.resolve("graph/stats.dl4j").toString();
        Recorder r = new Recorder();
        TrainSummary summary = new Trainer(o, null).addListener(r).run();

        assertEquals("graph", r.starts.get(0).engine());
        assertEquals(summary.steps(), r.steps.size());
        assertTrue(r.steps.size() >= 4, "every worker step: " + r.steps.size());
        TrainListener.Step last = r.steps.get(r.steps.size() - 1);
        assertEquals(2, last.gates().length);
        assertEquals(0, last.memoryNorms().length, "the graph's layers keep their memory inside");
        assertTrue(Double.isFinite(last.gradNorm()) && last.gradNorm() > 0, "norm " + last.gradNorm());
        assertEquals(summary.steps(), r.validations.get(r.validations.size() - 1).step());
        assertEquals(1, r.ends.size());

        List<StatsInitializationReport> init = new ArrayList<>();
        List<Persistable> updates = statsOf(Path.of(o.statsFile), init);
        assertNotNull(init.get(0));
        assertTrue(init.get(0).getModelClassName().endsWith("ComputationGraph"), init.get(0).getModelClassName());
        assertEquals(2, init.size(), "each ParallelWrapper worker's StatsListener reported itself");
        assertEquals(summary.steps(), updates.size(), "DL4J's StatsListener wrote every worker step");
    }
}
