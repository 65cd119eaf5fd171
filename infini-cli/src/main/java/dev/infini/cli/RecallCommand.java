package dev.infini.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.infini.cli.eval.RecallEval;
import dev.infini.datasets.recall.RecallTask;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryMode;
import dev.infini.samediff.hf.HfCheckpoint;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code infini recall}: associative-recall accuracy per gap, with the memory on, off or foreign. */
@Command(name = "recall", mixinStandardHelpOptions = true,
        description = {"Associative recall across segments (train --corpus recall): N key-value pairs in segment 0, "
                + "GAP filler segments, then the keys again; accuracy of the values per gap, as a table and a JSON line.",
                "Memory off (every segment starts from empty memory) and foreign (another sample's memory) are the "
                        + "controls: they should sit near chance (1/26 = 3.8%)."})
final class RecallCommand implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger(RecallCommand.class);

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Checkpoint directory (byte-level).")
    Path model;

    @Option(names = "--pairs", paramLabel = "N", defaultValue = "8", description = "Key-value pairs per sample (default: ${DEFAULT-VALUE}).")
    int pairs;

    @Option(names = "--gaps", paramLabel = "G,...", defaultValue = "0,1,2,4,8,16",
            description = "Filler segments between the pairs and the queries (default: ${DEFAULT-VALUE}).")
    String gaps;

    @Option(names = "--trials", paramLabel = "T", defaultValue = "100", description = "Samples per gap (default: ${DEFAULT-VALUE}).")
    int trials;

    @Option(names = "--memory", paramLabel = "on|off|foreign[,...]", defaultValue = "on",
            description = "What the segments read: on (their own memory), off (empty memory), foreign (another sample's); "
                    + "several give one column each, e.g. on,off,foreign (default: ${DEFAULT-VALUE}).")
    String memory;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "1234", description = "Seed of the samples (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--batch", paramLabel = "B", defaultValue = "50", description = "Samples run together (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--by-query", description = "Also print, for the first --memory mode, the accuracy at each query "
            + "position (1 = the first key asked) against the accuracy of naming one of the values not yet asked at random "
            + "(what reading the stored values without their keys reaches), and how often the answer is a stored value.")
    boolean byQuery;

    @Mixin
    NonFiniteOption nonFinite;

    @Override
    public Integer call() throws Exception {
        int[] g = RecallEval.parseGaps(gaps);
        if (trials < 1) {
            throw new IllegalArgumentException("--trials must be positive, got " + trials);
        }
        List<MemoryMode> modes = new ArrayList<>();
        for (String s : memory.split(",")) {
            modes.add(MemoryMode.parse(s));
        }
        InfiniModel m = HfCheckpoint.load(model, nonFinite.apply(new HfCheckpoint.Options()));
        if (m.config().vocabSize() < 256) {
            throw new IllegalArgumentException(model + ": recall needs a byte-level model (vocabulary >= 256), got "
                    + m.config().vocabSize());
        }
        RecallEval eval = new RecallEval(m, pairs, seed, batch);
        log.info("recall: {} pairs, gaps {}, {} trial(s), segment {}, memory {}", pairs, gaps, trials,
                m.config().segmentSize(), memory);
        Progress progress = new Progress("recall", (long) g.length * modes.size(), "gaps x modes");
        RecallEval.Result[][] res = new RecallEval.Result[modes.size()][g.length];
        long done = 0;
        for (int i = 0; i < g.length; i++) {
            for (int k = 0; k < modes.size(); k++) {
                res[k][i] = eval.evaluate(g[i], trials, modes.get(k));
                progress.update(++done, 0);
            }
        }
        progress.finish();
        print(g, modes, res, m.config().segmentSize());
        return 0;
    }

    private void print(int[] g, List<MemoryMode> modes, RecallEval.Result[][] res, int segment) {
        PrintStream out = System.out;
        StringBuilder head = new StringBuilder(String.format("%5s %8s", "gap", "tokens"));
        modes.forEach(md -> head.append(String.format(" %15s", "memory " + md.key())));
        out.println(head);
        for (int i = 0; i < g.length; i++) {
            StringBuilder row = new StringBuilder(String.format("%5d %8d", g[i], (g[i] + 2) * segment));
            for (int k = 0; k < modes.size(); k++) {
                row.append(String.format(Locale.ROOT, " %14.1f%%", 100 * res[k][i].accuracy()));
            }
            out.println(row);
        }
        out.printf(Locale.ROOT, "chance %.1f%%, %d pairs, %d trials per gap%n", 100 * RecallTask.CHANCE, pairs, trials);
        if (byQuery) {
            printByQuery(out, g, modes.get(0), res[0]);
        }
        ObjectMapper om = new ObjectMapper();
        ObjectNode json = om.createObjectNode();
        json.put("model", model.toString());
        json.put("pairs", pairs);
        json.put("trials", trials);
        json.put("segment", segment);
        json.put("seed", seed);
        ArrayNode ga = json.putArray("gaps");
        for (int x : g) {
            ga.add(x);
        }
        ObjectNode accuracy = json.putObject("accuracy");
        for (int k = 0; k < modes.size(); k++) {
            ArrayNode a = accuracy.putArray(modes.get(k).key());
            for (RecallEval.Result r : res[k]) {
                a.add(Math.round(r.accuracy() * 10000) / 10000.0);
            }
        }
        ObjectNode perQuery = json.putObject("by_query");
        ObjectNode stored = json.putObject("named_stored");
        for (int k = 0; k < modes.size(); k++) {
            ArrayNode q = perQuery.putArray(modes.get(k).key());
            ArrayNode st = stored.putArray(modes.get(k).key());
            for (RecallEval.Result r : res[k]) {
                ArrayNode row = q.addArray();
                for (int j = 0; j < pairs; j++) {
                    row.add(Math.round(r.accuracy(j) * 10000) / 10000.0);
                }
                st.add(Math.round(r.storedRate() * 10000) / 10000.0);
            }
        }
        ArrayNode guess = json.putArray("unasked_guess");
        for (RecallEval.Result r : res[0]) {
            guess.add(Math.round(r.unaskedGuessRate() * 10000) / 10000.0);
        }
        json.put("chance", RecallTask.CHANCE);
        out.println(json);
        out.flush();
    }

    /** Accuracy per query position for one memory mode, one column per gap, and the no-binding baseline. */
    private void printByQuery(PrintStream out, int[] g, MemoryMode mode, RecallEval.Result[] res) {
        out.printf("%nmemory %s, accuracy at each query position (1 = the first key asked):%n", mode.key());
        StringBuilder head = new StringBuilder(String.format("%5s", "query"));
        for (int x : g) {
            head.append(String.format(" %8s", "gap " + x));
        }
        head.append(String.format(" %14s", "unasked guess"));
        out.println(head);
        for (int j = 0; j < pairs; j++) {
            StringBuilder row = new StringBuilder(String.format("%5d", j + 1));
            for (RecallEval.Result r : res) {
                row.append(String.format(Locale.ROOT, " %7.1f%%", 100 * r.accuracy(j)));
            }
            row.append(String.format(Locale.ROOT, " %13.1f%%", 100.0 / (pairs - j)));
            out.println(row);
        }
        StringBuilder all = new StringBuilder(String.format("%5s", "all"));
        StringBuilder st = new StringBuilder(String.format("%5s", "named"));
        double guess = 0;
        for (RecallEval.Result r : res) {
            all.append(String.format(Locale.ROOT, " %7.1f%%", 100 * r.accuracy()));
            st.append(String.format(Locale.ROOT, " %7.1f%%", 100 * r.storedRate()));
            guess += r.unaskedGuessRate() / res.length;
        }
        out.println(all.append(String.format(Locale.ROOT, " %13.1f%%", 100 * guess)));
        out.println(st);
        out.println("\"unasked guess\": one of the values not yet asked at random (per position: distinct values; all: the "
                + "samples' own values), what knowing the stored values without their keys reaches; \"named\": answers "
                + "that are one of the sample's stored values.");
    }
}
