package dev.infini.spark;

import dev.infini.zoo.dl4j.GraphTraining;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Both TrainingMasters on a real Spark standalone cluster of separate JVMs on this machine (loopback only): a master,
 * two workers with 1 core each, and the tool submitted with {@code SparkSubmit} in client mode, training the micro
 * model for 3 rounds of 8 minibatches on 2 executors. Runs in {@code mvn verify} (failsafe, after {@code package}:
 * it needs {@code target/infini-spark.jar} and {@code target/lib}); {@code -DskipITs} leaves it out.
 */
class StandaloneClusterIT {
    private static final Path TARGET = Path.of(System.getProperty("infini.spark.target", "target")).toAbsolutePath();
    private static final Path DIR = TARGET.resolve("standalone-it");
    private static final int ROUNDS = 3;
    private static StandaloneCluster cluster;

    @BeforeAll
    static void startCluster() throws IOException, InterruptedException {
        deleteTree(DIR);
        long t0 = System.nanoTime();
        cluster = StandaloneCluster.start(TARGET, DIR, 2, Duration.ofMinutes(3));
        System.out.printf("standalone cluster %s: master + 2 workers up in %.1f s (logs in %s)%n", cluster.masterUrl(),
                (System.nanoTime() - t0) / 1e9, DIR);
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
    }

    @ParameterizedTest
    @EnumSource(GraphTraining.SparkMode.class)
    @DisplayName("spark-submit to a standalone master with two worker JVMs: both executors train, round losses fall, the run ends with its summary")
    void trainsOnTwoExecutors(GraphTraining.SparkMode mode) throws IOException, InterruptedException {
        String name = mode.name().toLowerCase();
        Map<Path, String> before = cluster.executorLogs();
        StandaloneCluster.Submission s = cluster.submit("submit-" + name, driverFlags(), submitArgs(name), Duration.ofMinutes(6));
        List<Double> losses = roundLosses(s.output(), mode);
        System.out.printf("standalone %s: exit %d in %.1f s, round losses %s%n", mode, s.exitCode(), s.wall().toMillis() / 1e3, losses);
        assertEquals(0, s.exitCode(), "SparkSubmit failed; its output:\n" + tail(s.output()));
        assertEquals(ROUNDS, losses.size(), "one loss per round: " + losses);
        // A round's loss is the workers' last minibatches (noisy): some later round beats the first, and the
        // validation loss ends well below an untrained byte model's ln(260) = 5.56.
        assertTrue(losses.subList(1, ROUNDS).stream().anyMatch(l -> l < losses.get(0)), "round losses " + losses);
        String summary = s.output().lines().filter(l -> l.startsWith("{\"steps\"")).reduce((a, b) -> b).orElse("");
        assertTrue(summary.contains("\"engine\":\"graph+spark-" + name + "\""), "summary line: " + summary);
        Matcher val = Pattern.compile("\"val_loss\":([0-9.]+)").matcher(summary);
        assertTrue(val.find() && Double.parseDouble(val.group(1)) < Math.log(260) - 0.5, "summary line: " + summary);

        Map<Path, String> fresh = new HashMap<>(cluster.executorLogs());
        fresh.keySet().removeAll(before.keySet());
        assertEquals(2, fresh.size(), "one executor per worker: " + fresh.keySet());
        assertEquals(2, fresh.keySet().stream().map(p -> p.getName(0)).distinct().count(), "executors on both workers: " + fresh.keySet());
        for (Map.Entry<Path, String> e : fresh.entrySet()) {
            assertTrue(e.getValue().contains("Finished task"), e.getKey() + " ran no task:\n" + tail(e.getValue()));
            if (mode == GraphTraining.SparkMode.SHARED) {
                assertTrue(e.getValue().contains("Initializing transport [127.0.0.1:"), e.getKey() + " started no Aeron transport");
            }
        }
    }

    private static List<String> driverFlags() {
        return List.of("-D" + SparkGraphTraining.ROUNDS + "=" + ROUNDS,
                "-Dinfini.spark.controller=" + StandaloneCluster.LOOPBACK, "-Dinfini.spark.networkMask=127.0.0.0/8",
                "-D" + SparkGraphTraining.PORT + "=" + StandaloneCluster.freeUdpPort());
    }

    private static List<String> submitArgs(String mode) {
        return List.of("--class", "dev.infini.cli.InfiniCli", TARGET.resolve("infini-spark.jar").toString(),
                "train", "--engine", "graph", "--spark", cluster.masterUrl(), "--spark-mode", mode, "--workers", "2",
                "--preset", "micro", "--seq-len", "32", "--segment", "16", "--batch", "2", "--steps", "8",
                "--lr", "1e-2", "--warmup", "0", "--val-batches", "2", "--out", DIR.resolve("run-" + mode).toString());
    }

    static List<Double> roundLosses(String output, GraphTraining.SparkMode mode) {
        Matcher m = Pattern.compile("Spark " + mode + " round \\d+: loss (\\S+)").matcher(output);
        List<Double> losses = new ArrayList<>();
        while (m.find()) {
            losses.add(Double.parseDouble(m.group(1)));
        }
        return losses;
    }

    private static String tail(String text) {
        List<String> lines = text.lines().toList();
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path f : (Iterable<Path>) files.sorted((a, b) -> b.getNameCount() - a.getNameCount())::iterator) {
                Files.delete(f);
            }
        }
    }
}
