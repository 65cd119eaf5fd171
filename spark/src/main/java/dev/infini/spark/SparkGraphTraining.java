package dev.infini.spark;

import dev.infini.zoo.dl4j.GraphTraining;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.solvers.accumulation.encoding.threshold.AdaptiveThresholdAlgorithm;
import org.deeplearning4j.spark.api.RDDTrainingApproach;
import org.deeplearning4j.spark.api.TrainingMaster;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.deeplearning4j.spark.impl.repartitioner.NoOpRepartitioner;
import org.deeplearning4j.spark.parameterserver.training.SharedTrainingMaster;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.parameterserver.distributed.conf.VoidConfiguration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code train --engine graph --spark MASTER}: the {@link dev.infini.zoo.dl4j.InfiniGraph} form trained
 * with DL4J's Spark training masters: {@link SharedTrainingMaster} (gradient sharing, threshold-encoded
 * updates over Aeron; {@code SparkMode.SHARED}, {@code train --spark-mode shared}) or
 * {@link ParameterAveragingTrainingMaster} ({@code SparkMode.AVERAGING}, the command line's default). The minibatches of the
 * iterator are collected on the driver and parallelised into one partition per worker; each call of
 * {@code fit} on that RDD is one round, and one loss is recorded per round.
 */
public final class SparkGraphTraining implements GraphTraining.SparkBackend {
    private static final Logger log = LoggerFactory.getLogger(SparkGraphTraining.class);
    /** System property: number of passes over the collected minibatches (default 1). */
    public static final String ROUNDS = "infini.spark.rounds";
    /** System property: Aeron port of the shared training master's driver (controller), default 40123. */
    public static final String PORT = "infini.spark.port";
    /**
     * System property: Aeron port of each executor of the shared training master (default 40124); an executor whose
     * environment sets {@value WorkerPort#ENV} uses that instead (several executors on one host).
     */
    public static final String WORKER_PORT = "infini.spark.workerPort";
    /**
     * System property: initial threshold of the shared master's adaptive update encoding (default 1e-3; the DL4J
     * builder's default of 1e-4 learned several times slower in the local test).
     */
    public static final String THRESHOLD = "infini.spark.threshold";
    /** System property: trainer threads per executor of the shared training master (default 1). */
    public static final String WORKERS_PER_NODE = "infini.spark.workersPerNode";

    @Override
    public GraphTraining.Result fit(ComputationGraph net, DataSetIterator data, GraphTraining.Options o) {
        List<DataSet> batches = new ArrayList<>();
        int batchSize = 0;
        while (data.hasNext() && batches.size() < o.steps()) {
            DataSet ds = (DataSet) data.next();
            batchSize = Math.max(batchSize, ds.numExamples());
            batches.add(ds);
        }
        if (batches.isEmpty()) {
            throw new IllegalArgumentException("no training data");
        }
        int rounds = Integer.getInteger(ROUNDS, 1);
        SparkConf conf = new SparkConf().setAppName("infini-train").setMaster(o.sparkMaster());
        if (o.sparkMaster().startsWith("local")) {
            conf.set("spark.driver.host", "127.0.0.1").set("spark.driver.bindAddress", "127.0.0.1").set("spark.ui.enabled", "false");
        }
        ComputationGraphConfiguration graphConf = net.getConfiguration();
        WorkspaceMode training = graphConf.getTrainingWorkspaceMode(), inference = graphConf.getInferenceWorkspaceMode();
        if (o.sparkMode() == GraphTraining.SparkMode.SHARED) {
            useWorkspaces(graphConf);
        }
        JavaSparkContext sc = new JavaSparkContext(conf);
        try {
            TrainingMaster<?, ?> tm = trainingMaster(o, batchSize);
            SparkComputationGraph sparkNet = new SparkComputationGraph(sc, net, tm);
            if (!o.listeners().isEmpty()) {
                // Sent to the workers by both training masters (e.g. the trainer's global-norm clipping).
                sparkNet.setListeners(o.listeners());
            }
            JavaRDD<DataSet> rdd = sc.parallelize(batches, Math.max(1, o.workers()));
            List<Double> losses = new ArrayList<>();
            for (int r = 0; r < rounds; r++) {
                sparkNet.fit(rdd);
                // ParameterAveragingTrainingMaster reports through the Spark network, SharedTrainingMaster through the
                // driver's network (mean of the workers' last minibatch losses).
                double loss = o.sparkMode() == GraphTraining.SparkMode.SHARED ? sparkNet.getNetwork().score() : sparkNet.getScore();
                losses.add(loss);
                o.stepDone(losses.size(), loss);
                log.info("Spark {} round {}: loss {}", o.sparkMode(), r + 1, loss);
            }
            net.setParams(sparkNet.getNetwork().params());
            tm.deleteTempFiles(sc);
            return new GraphTraining.Result(losses, "graph+spark-" + o.sparkMode().name().toLowerCase(),
                    (long) batches.size() * rounds);
        } finally {
            sc.stop();
            graphConf.setTrainingWorkspaceMode(training);
            graphConf.setInferenceWorkspaceMode(inference);
        }
    }

    /**
     * Workspace modes for {@link SharedTrainingMaster}. Its worker ({@code SharedTrainingWrapper}, DL4J M2) sets the
     * replica's <em>training</em> workspace mode to ENABLED and offers no setting. DL4J M2.1's
     * {@code ComputationGraph.calcBackpropGradients} chooses the backward pass' workspaces by the <em>inference</em>
     * mode: with inference NONE it opens "scoped out" activation-gradient workspaces, which (while WS_ALL_LAYERS_ACT is
     * current) are WS_ALL_LAYERS_ACT itself, tagged, and sets their previous workspace to WS_ALL_LAYERS_ACT; when that
     * workspace then closes it makes itself current again, closed, and the next array the thread allocates (the
     * gradient-sharing encoder's buffer) is a "leaked workspace pointer". With both modes ENABLED the forward and
     * backward passes agree; the Infini layers give the same results in either mode (WorkspaceModeTest).
     */
    static void useWorkspaces(ComputationGraphConfiguration graphConf) {
        graphConf.setTrainingWorkspaceMode(WorkspaceMode.ENABLED);
        graphConf.setInferenceWorkspaceMode(WorkspaceMode.ENABLED);
    }

    static TrainingMaster<?, ?> trainingMaster(GraphTraining.Options o, int batchSize) {
        if (o.sparkMode() == GraphTraining.SparkMode.AVERAGING) {
            return new ParameterAveragingTrainingMaster.Builder(batchSize)
                    .batchSizePerWorker(batchSize)
                    .averagingFrequency(o.averagingFrequency())
                    .workerPrefetchNumBatches(0)
                    .rddTrainingApproach(RDDTrainingApproach.Direct)
                    .build();
        }
        VoidConfiguration voidConf = VoidConfiguration.builder()
                .unicastPort(Integer.getInteger(PORT, 40123))
                .portSupplier(new WorkerPort(Integer.getInteger(WORKER_PORT, 40124)))
                .networkMask(o.sparkMaster().startsWith("local") ? "127.0.0.0/8" : System.getProperty("infini.spark.networkMask", "10.0.0.0/8"))
                .controllerAddress(o.sparkMaster().startsWith("local") ? "127.0.0.1" : System.getProperty("infini.spark.controller"))
                .build();
        String export;
        try {
            export = System.getProperty("infini.spark.exportDir",
                    Files.createTempDirectory("infini-spark-export").toUri().toString());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return new SharedTrainingMaster.Builder(voidConf, batchSize)
                .thresholdAlgorithm(new AdaptiveThresholdAlgorithm(Double.parseDouble(System.getProperty(THRESHOLD, "1e-3"))))
                .batchSizePerWorker(batchSize)
                .workersPerNode(Integer.getInteger(WORKERS_PER_NODE, 1))
                .workerPrefetchNumBatches(0)
                // Keep the driver's partitions (one per --workers): the default repartitioner made one task per
                // minibatch here, each paying the worker's set-up.
                .repartitioner(new NoOpRepartitioner())
                .rddTrainingApproach(RDDTrainingApproach.Direct)
                .exportDirectory(export)
                .build();
    }
}
