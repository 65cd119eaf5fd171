package dev.infini.cli.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.infini.datasets.tokenize.Tokenizer;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.decode.Sampler;
import dev.infini.samediff.decode.StreamingDecoder;
import dev.infini.samediff.train.SegmentGradients;
import dev.infini.samediff.train.TrainBatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedWriter;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The files a run leaves beside its checkpoint, whatever the engine: {@code metrics.jsonl} (one JSON line per step
 * and per validation), {@code loss.png} (train and validation loss with the unigram baseline) and
 * {@code sample.txt}; and the measurements they need (validation loss, the unigram baseline, the sample).
 */
public final class RunArtifacts implements Closeable {
    private static final Logger log = LoggerFactory.getLogger(RunArtifacts.class);
    static final ObjectMapper JSON = new ObjectMapper();

    private final Path runDir;
    private final TrainOptions o;
    private final BufferedWriter metrics;

    /** What the end of a run measured. */
    public record Final(double unigramPpl, String sample) {
    }

    /**
     * Opens {@code metrics.jsonl} of {@code runDir} for appending: emptied for a new run, cut back to the checkpoint's
     * step for a resumed one (lines of steps after it were written by a run stopped before its next checkpoint).
     */
    public RunArtifacts(Path runDir, TrainOptions o, long resumedStep) throws IOException {
        this.runDir = runDir;
        this.o = o;
        Path file = runDir.resolve("metrics.jsonl");
        rewriteMetrics(file, resumedStep);
        this.metrics = Files.newBufferedWriter(file, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    /** Appends one line to metrics.jsonl (flushed, so that a killed run keeps it). */
    public void metric(ObjectNode line) throws IOException {
        metrics.write(line.toString());
        metrics.newLine();
        metrics.flush();
    }

    /** A new metrics line. */
    public static ObjectNode line() {
        return JSON.createObjectNode();
    }

    /** Writes loss.png and sample.txt of the trained model. */
    public Final finish(InfiniModel model, Tokenizer tok, TrainingData data, List<double[]> trainLoss,
                        List<double[]> valLoss, String title) throws IOException {
        double unigram = unigramPerplexity(data.validation(), model.config().vocabSize());
        LossCurve.write(runDir.resolve("loss.png"), title, trainLoss, valLoss, Math.log(unigram),
                String.format("unigram baseline (ppl %.1f)", unigram));
        String sample = sample(model, tok, data.samplePrompt());
        Files.writeString(runDir.resolve("sample.txt"), sample + "\n");
        return new Final(unigram, sample);
    }

    @Override
    public void close() throws IOException {
        metrics.close();
    }

    private static void rewriteMetrics(Path metrics, long step) throws IOException {
        if (step == 0) {
            Files.deleteIfExists(metrics);
            return;
        }
        if (Files.exists(metrics)) {
            List<String> keep = new ArrayList<>();
            for (String l : Files.readAllLines(metrics)) {
                if (JSON.readTree(l).path("step").asLong() <= step) {
                    keep.add(l);
                }
            }
            Files.write(metrics, keep);
        }
    }

    /** Mean next-token loss of the validation batches (loss-mask weighted). */
    public static double validationLoss(SegmentGradients eval, List<TrainBatch> set) {
        double nll = 0, n = 0;
        for (TrainBatch b : set) {
            SegmentGradients.Result r = eval.evaluate(b);
            nll += r.nllSum();
            n += r.tokens();
        }
        return nll / Math.max(n, 1);
    }

    /** Perplexity of the validation labels under their own unigram distribution (the baseline to beat). */
    static double unigramPerplexity(List<TrainBatch> set, int vocab) {
        double[] counts = new double[vocab];
        double n = 0;
        for (TrainBatch b : set) {
            int[] labels = b.labels().reshape(-1).toIntVector();
            float[] mask = b.lossMask().reshape(-1).toFloatVector();
            for (int i = 0; i < labels.length; i++) {
                if (mask[i] != 0) {
                    counts[labels[i]]++;
                    n++;
                }
            }
        }
        double h = 0;
        for (double cnt : counts) {
            if (cnt > 0) {
                h -= cnt / n * Math.log(cnt / n);
            }
        }
        return Math.exp(h);
    }

    private String sample(InfiniModel model, Tokenizer tok, int[] defaultPrompt) {
        if (o.sampleTokens <= 0) {
            return "";
        }
        int[] prompt = o.samplePrompt != null ? tok.encode(o.samplePrompt) : defaultPrompt;
        int[] out = new StreamingDecoder(model).generate(prompt, o.sampleTokens, new Sampler(0.8, 40, 0.95, o.seed)
                        .limitedTo(tok.vocabSize()), tok.eosId(), t -> { });
        String text = tok.decode(prompt) + tok.decode(out);
        log.info("sample:\n{}", text.length() > 600 ? "..." + text.substring(text.length() - 600) : text);
        return text;
    }

    /** Mean of the last {@code n} points' values (the summary's train loss). */
    static double recentMean(List<double[]> pts, int n) {
        double s = 0;
        int k = 0;
        for (int i = Math.max(0, pts.size() - n); i < pts.size(); i++) {
            s += pts.get(i)[1];
            k++;
        }
        return k == 0 ? Double.NaN : s / k;
    }

    /** A duration for the progress line: {@code 42s}, {@code 3m07s}, {@code ?}. */
    static String eta(double seconds) {
        if (!Double.isFinite(seconds)) {
            return "?";
        }
        long s = Math.round(seconds);
        return s >= 60 ? (s / 60) + "m" + String.format("%02d", s % 60) + "s" : s + "s";
    }
}
