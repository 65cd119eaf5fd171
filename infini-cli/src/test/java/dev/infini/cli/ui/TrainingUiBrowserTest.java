package dev.infini.cli.ui;

import dev.infini.cli.InfiniCli;
import org.deeplearning4j.ui.api.UIServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code train --ui PORT} on a short run, its overview page loaded in a real headless browser (Debian's
 * {@code chromium}; {@code .ci/run} installs it): the score chart's iteration axis and the update count show the run's
 * steps. The screenshot lands in {@code target/training-ui.png} ({@code docs/training-ui.png} is one). Skipped only
 * where no chromium is installed.
 */
class TrainingUiBrowserTest {
    private static final int STEPS = 6;
    /** An x-axis tick label of a flot chart (the x axis's labels carry a max-width). */
    private static final Pattern X_TICK = Pattern.compile("flot-tick-label tickLabel\" style=\"[^\"]*max-width[^\"]*\">([0-9.]+)<");

    @TempDir
    static Path cache;
    @TempDir
    Path tmp;

    @BeforeAll
    static void isolatedTokenCache() {
        System.setProperty("infini.cache.dir", cache.toString());
    }

    @AfterEach
    void stopUi() throws Exception {
        UIServer.stopInstance();
    }

    /** The chromium executable on the PATH, or null. */
    static Path chromium() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            for (String name : List.of("chromium", "chromium-browser", "google-chrome")) {
                Path p = Paths.get(dir, name);
                if (Files.isExecutable(p)) {
                    return p;
                }
            }
        }
        return null;
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @Test
    @DisplayName("train --ui PORT: the DL4J UI overview in headless chromium charts the run's iterations and counts its updates")
    void overviewPageShowsTheRun() throws Exception {
        Path browser = chromium();
        assumeTrue(browser != null, "chromium is not installed (.ci/run installs it)");
        int port = freePort();
        AtomicInteger exit = new AtomicInteger(Integer.MIN_VALUE);
        Thread train = new Thread(() -> exit.set(InfiniCli.execute("train", "--preset", "tiny", "--hidden", "32",
                "--layers", "2", "--heads", "2", "--kv-heads", "1", "--head-dim", "16", "--intermediate", "64",
                "--seq-len", "64", "--segment", "16", "--batch", "2", "--steps", String.valueOf(STEPS), "--warmup", "2",
                "--eval-every", "0", "--val-batches", "1", "--sample-tokens", "8", "--out", tmp.resolve("run").toString(),
                "--ui", String.valueOf(port), "--ui-wait")), "train --ui");
        train.setDaemon(true);   // --ui-wait: it serves until the UI is stopped after the test
        train.start();
        String data = waitForUpdates(port, STEPS, train, exit);
        assertTrue(data.contains("InfiniModel"), data);

        String url = StatsFeed.overviewUrl(port);
        String dom = run(browser, "--dump-dom", url);
        Matcher m = Pattern.compile("id=\"totalParamUpdates\">(\\d+)<").matcher(dom);
        assertTrue(m.find(), "the performance table is on the page");
        assertEquals(STEPS, Integer.parseInt(m.group(1)), "Total Parameter Updates");
        List<Double> ticks = new ArrayList<>();
        for (Matcher t = X_TICK.matcher(dom); t.find(); ) {
            ticks.add(Double.parseDouble(t.group(1)));
        }
        assertTrue(ticks.size() >= 2, "the score chart has an iteration axis: " + ticks);
        double last = ticks.stream().mapToDouble(Double::doubleValue).max().orElseThrow();
        assertTrue(last >= STEPS - 1 && last <= STEPS, "the iteration axis runs to the run's " + STEPS + " steps: " + ticks);

        Path shot = Paths.get("target", "training-ui.png").toAbsolutePath();
        run(browser, "--window-size=1400,900", "--screenshot=" + shot, url);
        BufferedImage img = ImageIO.read(shot.toFile());
        assertEquals(1400, img.getWidth());
        assertTrue(distinctColors(img) > 50, "the screenshot shows a rendered page");
    }

    /** Polls the overview's data until it holds {@code steps} iterations (the run's updates reached the UI). */
    private static String waitForUpdates(int port, int steps, Thread train, AtomicInteger exit) throws Exception {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        String expected = "\"Total Parameter Updates\", \"" + steps + "\"";
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
        String body = "";
        while (System.nanoTime() < deadline) {
            if (!train.isAlive()) {
                fail("train --ui ended (exit " + exit.get() + ") before the UI showed " + steps + " updates: " + body);
            }
            try {
                body = http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port + "/train/overview/data"))
                        .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString()).body();
                if (body.contains(expected)) {
                    return body;
                }
            } catch (IOException notYet) {
                // the server is not listening yet
            }
            Thread.sleep(500);
        }
        return fail("the UI did not show " + steps + " updates in time: " + body);
    }

    /** Runs headless chromium on {@code url} (its own profile, as root without the sandbox) and returns its stdout. */
    private String run(Path browser, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(browser.toString(), "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--hide-scrollbars", "--virtual-time-budget=10000",
                "--user-data-dir=" + tmp.resolve("chromium-profile")));
        cmd.addAll(List.of(args));
        Path out = tmp.resolve("chromium.out");
        Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(tmp.resolve("chromium.err").toFile())
                .start();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("chromium did not finish in 120 s: " + cmd);
        }
        assertEquals(0, p.exitValue(), "chromium failed: " + Files.readString(tmp.resolve("chromium.err")));
        return Files.readString(out, StandardCharsets.UTF_8);
    }

    private static int distinctColors(BufferedImage img) {
        Set<Integer> colors = new HashSet<>();
        for (int y = 0; y < img.getHeight(); y += 3) {
            for (int x = 0; x < img.getWidth(); x += 3) {
                colors.add(img.getRGB(x, y));
            }
        }
        return colors.size();
    }
}
