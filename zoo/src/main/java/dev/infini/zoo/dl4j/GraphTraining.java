package dev.infini.zoo.dl4j;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.deeplearning4j.parallelism.ParallelWrapper;
import org.nd4j.linalg.dataset.api.DataSet;
import org.nd4j.linalg.dataset.api.DataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.ServiceLoader;
import java.util.function.IntConsumer;

/**
 * Training of the {@link InfiniGraph} form, the entry point of {@code train --engine graph}: on one
 * device ({@code workers <= 1}), data-parallel on the devices of one machine with DL4J's
 * {@link ParallelWrapper} ({@code workers > 1}), or on a Spark cluster ({@code sparkMaster != null},
 * through the {@code infini-spark} module found with {@link ServiceLoader}).
 */
public final class GraphTraining {
    private static final Logger log = LoggerFactory.getLogger(GraphTraining.class);

    private GraphTraining() {
    }

    /** How Spark distributes training (DL4J's two TrainingMasters). */
    public enum SparkMode {
        /** SharedTrainingMaster: threshold-encoded gradient sharing between workers (over Aeron). */
        SHARED,
        /** ParameterAveragingTrainingMaster: workers fit independently, parameters averaged on the driver. */
        AVERAGING;

        /** The mode when none is chosen, everywhere ({@code train --spark-mode}'s default too). */
        public static final SparkMode DEFAULT = AVERAGING;

        /** {@code shared} or {@code averaging} (any case), as {@code train --spark-mode} takes it. */
        public static SparkMode parse(String s) {
            for (SparkMode m : values()) {
                if (m.name().equalsIgnoreCase(s == null ? "" : s.trim())) {
                    return m;
                }
            }
            throw new IllegalArgumentException("--spark-mode must be averaging or shared, got " + s);
        }
    }

    /** Receives each recorded step's index (1-based) and its loss. */
    @FunctionalInterface
    public interface StepLoss {
        void accept(int step, double loss);
    }

    /** Training choices beside the model and the data. */
    public static final class Options {
        int workers = 1;
        String sparkMaster;
        SparkMode sparkMode = SparkMode.DEFAULT;
        int steps = Integer.MAX_VALUE;
        int averagingFrequency = 1;
        IntConsumer onStep = s -> { };
        StepLoss onLoss = (s, l) -> { };
        List<TrainingListener> listeners = List.of();

        /** ParallelWrapper workers on this machine (1: plain {@code fit}); with Spark: partitions/workers. */
        public Options workers(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("--workers must be at least 1, got " + n);
            }
            this.workers = n;
            return this;
        }

        /** A Spark master ({@code local[2]}, {@code spark://host:7077}, {@code yarn}); null: no Spark. */
        public Options sparkMaster(String master) { this.sparkMaster = master; return this; }
        public Options sparkMode(SparkMode m) { this.sparkMode = m; return this; }
        /** Stop after this many minibatches (all workers together). */
        public Options steps(int n) { this.steps = n; return this; }
        /** ParallelWrapper/parameter averaging: average every this many minibatches per worker. */
        public Options averagingFrequency(int n) { this.averagingFrequency = n; return this; }
        /** Called after each recorded step with its index. */
        public Options onStep(IntConsumer c) { this.onStep = c; return this; }
        /**
         * Called after each recorded step with its index and loss: on the calling thread with one worker, on the
         * workers' threads with ParallelWrapper, once per round on the driver with Spark.
         */
        public Options onLoss(StepLoss c) { this.onLoss = c; return this; }
        /**
         * More DL4J listeners on the trained network (with ParallelWrapper: on every worker's replica; with Spark:
         * sent to the workers through the TrainingMaster, so they must be serializable).
         */
        public Options listeners(TrainingListener... l) { this.listeners = List.of(l); return this; }

        /** Reports a recorded step to {@link #onStep} and {@link #onLoss}. */
        public void stepDone(int step, double loss) {
            onStep.accept(step);
            onLoss.accept(step, loss);
        }

        public int workers() { return workers; }
        public String sparkMaster() { return sparkMaster; }
        public SparkMode sparkMode() { return sparkMode; }
        public int steps() { return steps; }
        public int averagingFrequency() { return averagingFrequency; }
        public IntConsumer onStep() { return onStep; }
        public List<TrainingListener> listeners() { return listeners; }
    }

    /**
     * Mean next-token loss after each step (one entry per minibatch; per Spark round with Spark) and the number of
     * minibatches trained on (all workers together).
     */
    public record Result(List<Double> losses, String engine, long minibatches) {
        /** One loss per minibatch. */
        public Result(List<Double> losses, String engine) {
            this(losses, engine, losses.size());
        }
    }

    /** Implemented by {@code infini-spark}; registered in {@code META-INF/services}. */
    public interface SparkBackend {
        Result fit(ComputationGraph net, DataSetIterator data, Options options);
    }

    /** Trains {@code net} in place on {@code data} and returns the losses seen. */
    public static Result fit(ComputationGraph net, DataSetIterator data, Options o) {
        if (o.sparkMaster != null) {
            for (SparkBackend b : ServiceLoader.load(SparkBackend.class)) {
                return b.fit(net, data, o);
            }
            throw new IllegalStateException("--spark needs the infini-spark module on the classpath (run the "
                    + "spark-submit bundle, see docs/dl4j.md)");
        }
        DataSetIterator limited = new Limited(data, o.steps);
        List<Double> losses = Collections.synchronizedList(new ArrayList<>());
        if (o.workers <= 1) {
            List<TrainingListener> before = new ArrayList<>(net.getListeners() == null ? List.of() : net.getListeners());
            net.addListeners(o.listeners.toArray(new TrainingListener[0]));
            try {
                while (limited.hasNext()) {
                    net.fit(limited.next());
                    losses.add(net.score());
                    o.stepDone(losses.size(), net.score());
                }
            } finally {
                net.setListeners(before);
            }
            return new Result(losses, "graph");
        }
        BaseTrainingListener record = new BaseTrainingListener() {
            @Override
            public void iterationDone(Model model, int iteration, int epoch) {
                int step;
                synchronized (losses) {
                    losses.add(model.score());
                    step = losses.size();
                }
                o.stepDone(step, model.score());
            }
        };
        try (ParallelWrapper pw = new ParallelWrapper.Builder<>(net)
                .workers(o.workers)
                // ParallelWrapper sets its replicas' training workspace mode (ENABLED by default); keeping the
                // graph's own mode keeps training and inference modes equal (see SparkGraphTraining.useWorkspaces).
                .workspaceMode(net.getConfiguration().getTrainingWorkspaceMode())
                .prefetchBuffer(2 * o.workers)
                .averagingFrequency(o.averagingFrequency)
                .reportScoreAfterAveraging(true)
                .trainingMode(ParallelWrapper.TrainingMode.AVERAGING)
                .build()) {
            pw.setListeners(workerListeners(net, o.listeners, record));
            pw.fit(limited);
        } catch (Exception e) {
            if (e instanceof RuntimeException re) {
                throw re;
            }
            throw new IllegalStateException(e);
        }
        log.info("ParallelWrapper: {} workers, {} minibatches", o.workers, losses.size());
        return new Result(new ArrayList<>(losses), "graph+parallelwrapper");
    }

    /**
     * The listeners of ParallelWrapper's workers: {@code ParallelWrapper.setListeners} replaces whatever the replicas
     * would have had, so the listeners already on the network (a user's, e.g. DL4J's {@code StatsListener}) are
     * re-attached alongside the options' and the step recorder.
     */
    static List<TrainingListener> workerListeners(ComputationGraph net, List<TrainingListener> options,
                                                  TrainingListener record) {
        List<TrainingListener> all = new ArrayList<>(options);
        if (net.getListeners() != null) {
            for (TrainingListener l : net.getListeners()) {
                if (!all.contains(l)) {
                    all.add(l);
                }
            }
        }
        all.add(record);
        return all;
    }

    /** At most {@code limit} minibatches of another iterator. */
    static final class Limited implements DataSetIterator {
        private final DataSetIterator in;
        private final int limit;
        private int served;

        Limited(DataSetIterator in, int limit) {
            this.in = in;
            this.limit = limit;
        }

        @Override public boolean hasNext() { return served < limit && in.hasNext(); }
        @Override public org.nd4j.linalg.dataset.DataSet next() { served++; return (org.nd4j.linalg.dataset.DataSet) in.next(); }
        @Override public org.nd4j.linalg.dataset.DataSet next(int num) { return next(); }
        @Override public int inputColumns() { return in.inputColumns(); }
        @Override public int totalOutcomes() { return in.totalOutcomes(); }
        @Override public boolean resetSupported() { return in.resetSupported(); }
        @Override public boolean asyncSupported() { return false; }
        @Override public void reset() { in.reset(); served = 0; }
        @Override public int batch() { return in.batch(); }
        @Override public void setPreProcessor(DataSetPreProcessor p) { in.setPreProcessor(p); }
        @Override public DataSetPreProcessor getPreProcessor() { return in.getPreProcessor(); }
        @Override public List<String> getLabels() { return in.getLabels(); }
    }
}
