package dev.infini.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.infini.datasets.tokenize.Tokenizer;
import dev.infini.samediff.InfiniModel;
import dev.infini.cli.eval.Heatmap;
import dev.infini.cli.eval.PasskeyEval;
import dev.infini.samediff.hf.HfCheckpoint;
import dev.infini.cli.text.Tokenizers;
import dev.infini.cli.train.OutputPaths;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code infini passkey}: passkey retrieval accuracy per prompt length and key depth, as a table and a heatmap. */
@Command(name = "passkey", mixinStandardHelpOptions = true,
        description = "Passkey retrieval accuracy per length and depth: a table, a heatmap PNG and a JSON line.")
final class PasskeyCommand implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger(PasskeyCommand.class);

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Checkpoint directory.")
    Path model;

    @Option(names = "--lengths", paramLabel = "L,...", defaultValue = "1k,4k,16k,64k",
            description = "Sequence lengths in tokens, prompt and answer together as train's --seq-len, e.g. 1k,4k,16k,64k,1m or 3000 (default: ${DEFAULT-VALUE}).")
    String lengths;

    @Option(names = "--depths", paramLabel = "D,...", defaultValue = "0,0.25,0.5,0.75,1",
            description = "Depths of the key, 0 = start, 1 = end of the filler (default: ${DEFAULT-VALUE}).")
    String depths;

    @Option(names = "--trials", paramLabel = "N", defaultValue = "3",
            description = "Samples (random keys) per length and depth (default: ${DEFAULT-VALUE}).")
    int trials;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "1234",
            description = "Seed of the keys (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--out", paramLabel = "PNG", defaultValue = "passkey.png",
            description = "Heatmap image to write (default: ${DEFAULT-VALUE}).")
    Path out;

    @Mixin
    NonFiniteOption nonFinite;

    @Override
    public Integer call() throws Exception {
        int[] lens = PasskeyEval.parseLengths(lengths);
        double[] deps = PasskeyEval.parseDepths(depths);
        if (trials <= 0) {
            throw new IllegalArgumentException("--trials must be a positive integer, got " + trials);
        }
        OutputPaths.file("--out", out);
        InfiniModel m = HfCheckpoint.load(model, nonFinite.apply(new HfCheckpoint.Options()));
        Tokenizer tok = Tokenizers.require(model, m.config(), "passkey");
        long total = (long) lens.length * deps.length * trials;
        log.info("passkey: {} length(s) x {} depth(s) x {} trial(s), segment {}", lens.length, deps.length, trials,
                m.config().segmentSize());
        Progress progress = new Progress("passkey", total);
        long[] done = {0, 0};
        long t0 = System.nanoTime();
        PasskeyEval.Result r = PasskeyEval.run(m, tok, lens, deps, trials, seed, (len, depth, trial, s, answer, ok) -> {
            done[0]++;
            done[1] += len;
            log.debug("length {} depth {} trial {}: key {} answer '{}' {}", len, depth, trial, s.passkey(), answer,
                    ok ? "right" : "wrong");
            progress.update(done[0], done[1]);
        });
        progress.finish();
        double secs = (System.nanoTime() - t0) / 1e9;

        PrintStream o = System.out;
        StringBuilder head = new StringBuilder(String.format("%-8s", "length"));
        for (double d : deps) {
            head.append(String.format(" %7s", String.format("%.2f", d)));
        }
        o.println("passkey retrieval accuracy (%), rows: sequence length, columns: depth of the key; " + trials + " trial(s) each");
        o.println(head);
        for (int i = 0; i < lens.length; i++) {
            StringBuilder row = new StringBuilder(String.format("%-8s", PasskeyEval.lengthLabel(lens[i])));
            for (int j = 0; j < deps.length; j++) {
                row.append(String.format(" %7.1f", 100 * r.accuracy(i, j)));
            }
            o.println(row);
        }
        double meanDigits = r.meanDigitAccuracy();
        o.printf("mean accuracy %.1f%% (key digits right in place: %.1f%%, chance 10%%) over %d trials in %.1f s%n",
                100 * r.meanAccuracy(), 100 * meanDigits, total, secs);
        Heatmap.write(r, "Passkey retrieval: " + model.toAbsolutePath().normalize().getFileName(), out);
        o.println("heatmap written to " + out);

        ObjectMapper mapper = new ObjectMapper();
        ObjectNode json = mapper.createObjectNode();
        ArrayNode jl = json.putArray("lengths");
        for (int l : lens) {
            jl.add(l);
        }
        ArrayNode jd = json.putArray("depths");
        for (double d : deps) {
            jd.add(d);
        }
        json.put("trials", trials);
        putTable(json.putArray("accuracy"), lens.length, deps.length, r::accuracy);
        json.put("mean_accuracy", r.meanAccuracy());
        putTable(json.putArray("digit_accuracy"), lens.length, deps.length, r::digitAccuracy);
        json.put("mean_digit_accuracy", meanDigits);
        json.put("png", out.toString());
        o.println(json);
        o.flush();
        return 0;
    }

    /** A value per (length i, depth j). */
    private interface Cell {
        double at(int i, int j);
    }

    /** {@code table} filled with rows of lengths, columns of depths. */
    private static void putTable(ArrayNode table, int rows, int cols, Cell cell) {
        for (int i = 0; i < rows; i++) {
            ArrayNode row = table.addArray();
            for (int j = 0; j < cols; j++) {
                row.add(cell.at(i, j));
            }
        }
    }
}
