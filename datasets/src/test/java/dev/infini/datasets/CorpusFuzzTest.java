package dev.infini.datasets;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.infini.datasets.corpus.Corpus;
import dev.infini.datasets.corpus.Document;
import dev.infini.datasets.corpus.DocumentRecordReader;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Malformed corpora from a fixed seed (random bytes, invalid UTF-8, NUL bytes, empty and blank files, JSONL with
 * missing, non-string, truncated or duplicated fields, empty folders, FIFOs, link loops): each must end in a clean
 * error or documents whose text is really in the input; no crash, no hang. Figures to stdout and target/fuzz.
 */
class CorpusFuzzTest {
    private static final long SEED = 20261203L;
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    Path tmp;

    private enum Outcome { CLEAN_ERROR, CORRECT, WRONG_SUCCESS, CRASH, HANG }

    private record Case(String what, Path path) {
    }

    @Test
    @DisplayName("120 malformed corpora end in a clean error or documents that are in the input")
    void malformedCorpora() throws Exception {
        Random rnd = new Random(SEED);
        List<Case> cases = new ArrayList<>();
        for (int i = 0; i < 60; i++) {
            cases.add(textCase(rnd, i));
        }
        for (int i = 0; i < 56; i++) {
            cases.add(jsonlCase(rnd, i));
        }
        cases.addAll(pathCases());
        int[] counts = new int[Outcome.values().length];
        List<String> bad = new ArrayList<>();
        ExecutorService pool = Executors.newSingleThreadExecutor(daemon());
        for (Case c : cases) {
            Future<Outcome> f = pool.submit(() -> run(c));
            Outcome o;
            try {
                o = f.get(20, TimeUnit.SECONDS);
            } catch (TimeoutException e) {
                f.cancel(true);
                pool.shutdownNow();
                pool = Executors.newSingleThreadExecutor(daemon());
                o = Outcome.HANG;
            }
            counts[o.ordinal()]++;
            if (o != Outcome.CLEAN_ERROR && o != Outcome.CORRECT) {
                bad.add(o + ": " + c.what());
            }
        }
        pool.shutdownNow();
        String json = String.format("{\"seed\":%d,\"cases\":%d,\"clean_errors\":%d,\"correct_results\":%d,"
                + "\"wrong_successes\":%d,\"crashes\":%d,\"hangs\":%d}", SEED, cases.size(), counts[0], counts[1], counts[2],
                counts[3], counts[4]);
        System.out.println("corpus fuzz: " + json);
        Files.createDirectories(Path.of("target", "fuzz"));
        Files.writeString(Path.of("target", "fuzz", "corpora.json"), json + "\n");
        assertTrue(bad.isEmpty(), bad.size() + " of " + cases.size() + " corpora went wrong: " + bad);
    }

    private static java.util.concurrent.ThreadFactory daemon() {
        return r -> {
            Thread t = new Thread(r, "corpus-fuzz");
            t.setDaemon(true);
            return t;
        };
    }

    private static Outcome run(Case c) {
        List<Document> docs = new ArrayList<>();
        try {
            DocumentRecordReader r = Corpus.fromPath(c.path()).newReader();
            while (r.hasNext()) {
                docs.add(r.nextDocument());
            }
        } catch (IllegalArgumentException | IllegalStateException | UncheckedIOException e) {
            return e.getMessage() != null && !e.getMessage().isBlank() ? Outcome.CLEAN_ERROR : Outcome.CRASH;
        } catch (Throwable t) {
            return Outcome.CRASH;
        }
        try {
            for (Document d : docs) {
                if (d.text().isEmpty() || !inInput(c.path(), d.text())) {
                    return Outcome.WRONG_SUCCESS;
                }
            }
            return Outcome.CORRECT;
        } catch (IOException e) {
            return Outcome.CRASH;
        }
    }

    /** The document's text is in the file: a substring of a text file, the text field of a JSONL line. */
    private static boolean inInput(Path p, String text) throws IOException {
        Set<String> texts = new HashSet<>();
        List<Path> files = Files.isDirectory(p) ? Files.walk(p).filter(Files::isRegularFile).toList() : List.of(p);
        for (Path f : files) {
            String content = new String(Files.readAllBytes(f), StandardCharsets.UTF_8);
            if (!f.toString().endsWith(".jsonl")) {
                if (content.contains(text)) {
                    return true;
                }
                continue;
            }
            for (String line : content.split("\n")) {
                try {
                    JsonNode n = JSON.readTree(line);
                    if (n != null && n.path("text").isTextual()) {
                        texts.add(n.get("text").textValue());
                    }
                } catch (IOException ignored) {
                    // not a JSON line: holds no document
                }
            }
        }
        return texts.contains(text);
    }

    private Case textCase(Random rnd, int i) throws IOException {
        Path f = tmp.resolve("t" + i + ".txt");
        byte[] good = ("Call me Ishmael. " + "Some years ago\u2014never mind how long\u2014".repeat(1 + rnd.nextInt(4)))
                .getBytes(StandardCharsets.UTF_8);
        String what;
        byte[] b;
        switch (i % 6) {
            case 0 -> { b = new byte[rnd.nextInt(200)]; rnd.nextBytes(b); what = "random bytes"; }
            case 1 -> { b = good.clone(); b[rnd.nextInt(b.length)] = (byte) (0x80 + rnd.nextInt(0x80)); what = "one invalid UTF-8 byte"; }
            case 2 -> { b = new byte[0]; what = "empty file"; }
            case 3 -> { b = " \n\t\n ".getBytes(StandardCharsets.UTF_8); what = "blank file"; }
            case 4 -> { b = good.clone(); b[rnd.nextInt(b.length)] = 0; what = "a NUL byte"; }
            default -> { b = java.util.Arrays.copyOf(good, rnd.nextInt(good.length)); what = "UTF-8 cut mid-character"; }
        }
        Files.write(f, b);
        return new Case("text: " + what, f);
    }

    private Case jsonlCase(Random rnd, int i) throws IOException {
        Path f = tmp.resolve("j" + i + ".jsonl");
        String[] lines = {"{\"text\":\"a whale\"}", "{\"txt\":\"no field\"}", "{\"text\":3}", "{\"text\":null}",
                "{\"text\":{\"a\":1}}", "{\"text\":\"cut", "{\"text\":\"one\",\"text\":\"two\"}", "", "[1,2]", "\"text\"",
                "{\"text\":\"\"}", "{\"text\":\"\\ud800\"}", "\u00ff\u00fe"};
        StringBuilder sb = new StringBuilder();
        int n = 1 + rnd.nextInt(5);
        List<String> used = new ArrayList<>();
        for (int k = 0; k < n; k++) {
            String l = lines[rnd.nextInt(lines.length)];
            used.add(l);
            sb.append(l).append('\n');
        }
        byte[] b = sb.toString().getBytes(StandardCharsets.ISO_8859_1);
        Files.write(f, b);
        return new Case("jsonl: " + used, f);
    }

    private List<Case> pathCases() throws IOException, InterruptedException {
        List<Case> out = new ArrayList<>();
        out.add(new Case("empty folder", Files.createDirectories(tmp.resolve("empty"))));
        Path hidden = Files.createDirectories(tmp.resolve("hidden"));
        Files.writeString(hidden.resolve(".secret.txt"), "hidden text");
        out.add(new Case("folder of hidden files", hidden));
        Path loop = tmp.resolve("loop.txt");
        Files.createSymbolicLink(loop, loop);
        out.add(new Case("symbolic link loop", loop));
        Path fifo = tmp.resolve("fifo.txt");
        if (new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor() == 0) {
            out.add(new Case("FIFO", fifo));
        }
        return out;
    }
}
