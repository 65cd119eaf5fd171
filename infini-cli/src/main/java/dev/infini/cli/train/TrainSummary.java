package dev.infini.cli.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.file.Path;
import java.util.List;

/**
 * A training run's outcome; {@link #toJson()} is the one-line summary {@code train} prints last. {@code engine} is
 * what trained ({@code samediff}, {@code graph}, {@code graph+parallelwrapper}, {@code graph+spark-averaging},
 * {@code graph+spark-shared}); {@code kernel} what ran each segment ({@code fast}: the hand-written engine,
 * {@code samediff}: the SameDiff graph); {@code memoryGradient} is {@code full} or {@code truncated}.
 */
public record TrainSummary(long steps, double tokensPerSecond, double trainLoss, double valLoss, double valPpl,
                           double unigramPpl, double seconds, long parameters, String engine, String kernel, String memoryGradient,
                           String sample, Path runDir, List<double[]> losses) {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The one-line JSON summary. */
    public String toJson() {
        ObjectNode n = JSON.createObjectNode();
        n.put("steps", steps);
        n.put("tokens_per_s", Math.round(tokensPerSecond * 10) / 10.0);
        n.put("train_loss", round(trainLoss));
        n.put("val_loss", round(valLoss));
        n.put("val_ppl", round(valPpl));
        n.put("unigram_ppl", round(unigramPpl));
        n.put("seconds", Math.round(seconds * 10) / 10.0);
        n.put("parameters", parameters);
        n.put("engine", engine);
        n.put("kernel", kernel);
        n.put("memory_gradient", memoryGradient);
        n.put("out", runDir.toString());
        return n.toString();
    }

    private static double round(double v) {
        return Double.isFinite(v) ? Math.round(v * 10000) / 10000.0 : v;
    }
}
