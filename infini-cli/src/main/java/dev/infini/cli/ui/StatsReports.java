package dev.infini.cli.ui;

import dev.infini.cli.train.TrainListener;
import org.bytedeco.javacpp.Pointer;
import org.deeplearning4j.core.storage.StatsStorageRouter;
import org.deeplearning4j.ui.model.stats.StatsListener;
import org.deeplearning4j.ui.model.stats.impl.SbeStatsInitializationReport;
import org.deeplearning4j.ui.model.stats.impl.SbeStatsReport;
import org.deeplearning4j.ui.model.storage.impl.SbeStorageMetaData;
import org.nd4j.linalg.factory.Nd4j;

import java.lang.management.ManagementFactory;
import java.util.Map;
import java.util.UUID;

/**
 * The SameDiff engine's feed of the DL4J UI: the records DL4J's {@link StatsListener} writes for a network it trains,
 * written from this project's {@link TrainListener} events. At the start: the storage metadata and a
 * {@link SbeStatsInitializationReport} (software, hardware, and the model: {@code InfiniModel}, its
 * {@code config.json}, layers, parameters); after every step a {@link SbeStatsReport} (iteration, score = the
 * training loss, learning rate, run time, examples and minibatches per second, JVM and off-heap memory), under
 * DL4J's type id so that the UI's overview page draws the score chart and the performance table. Per-parameter
 * histograms and update ratios are not written (the model is not a DL4J network).
 */
final class StatsReports implements TrainListener {
    static final String MODEL_CLASS = "dev.infini.samediff.InfiniModel";

    private final StatsStorageRouter router;
    private final String session = UUID.randomUUID().toString();
    private final String worker = ManagementFactory.getRuntimeMXBean().getName() + "_0";
    private long startMillis;
    private long lastTimestamp;
    private int seqLen = 1;
    private long firstStep;

    StatsReports(StatsStorageRouter router) {
        this.router = router;
    }

    /** A strictly increasing timestamp: the storage keys updates by it, so two in the same millisecond would collide. */
    private long timestamp() {
        lastTimestamp = Math.max(System.currentTimeMillis(), lastTimestamp + 1);
        return lastTimestamp;
    }

    @Override
    public void started(Start s) {
        startMillis = System.currentTimeMillis();
        seqLen = Math.max(1, s.seqLen());
        firstStep = s.firstStep();
        long ts = timestamp();
        router.putStorageMetaData(new SbeStorageMetaData(ts, session, StatsListener.TYPE_ID, worker,
                SbeStatsInitializationReport.class, SbeStatsReport.class));
        SbeStatsInitializationReport init = new SbeStatsInitializationReport();
        init.reportIDs(session, StatsListener.TYPE_ID, worker, ts);
        Runtime rt = Runtime.getRuntime();
        init.reportSoftwareInfo(System.getProperty("os.arch"), System.getProperty("os.name"),
                System.getProperty("java.vm.name"), System.getProperty("java.version"),
                System.getProperty("java.specification.version"), Nd4j.getBackend().getClass().getName(),
                Nd4j.dataType().toString(), hostName(), worker, Map.of("engine", s.engine()));
        init.reportHardwareInfo(rt.availableProcessors(), 0, rt.maxMemory(), Pointer.maxBytes(), new long[0],
                new String[0], worker);
        init.reportModelInfo(MODEL_CLASS, s.config(), new String[0], s.layers(), s.parameters());
        router.putStaticInfo(init);
    }

    @Override
    public void stepped(Step s) {
        SbeStatsReport r = new SbeStatsReport();
        long ts = timestamp();
        r.reportIDs(session, StatsListener.TYPE_ID, worker, ts);
        r.reportIterationCount((int) s.step());
        r.reportStatsCollectionDurationMS(0);
        r.reportScore(s.loss());
        r.reportLearningRates(Map.of("all", s.learningRate()));
        double seconds = Math.max((ts - startMillis) / 1000.0, 1e-3);
        long steps = s.step() - firstStep;
        r.reportPerformance(ts - startMillis, (long) (s.tokens() / seqLen), s.step(), s.tokensPerSecond() / seqLen,
                steps / seconds);
        Runtime rt = Runtime.getRuntime();
        r.reportMemoryUse(rt.totalMemory() - rt.freeMemory(), rt.maxMemory(), Pointer.totalBytes(), Pointer.maxBytes(),
                new long[0], new long[0]);
        router.putUpdate(r);
    }

    private static String hostName() {
        String n = ManagementFactory.getRuntimeMXBean().getName();
        int at = n.indexOf('@');
        return at >= 0 ? n.substring(at + 1) : n;
    }
}
