package dev.infini.tests;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.infini.cli.InfiniCli;
import dev.infini.cli.train.TrainingCheckpoint;
import dev.infini.samediff.hf.HfCheckpoint;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code ./infini train} as a separate process, killed with SIGKILL again and again (inside each window of a
 * checkpoint write, held open by the test hook, and at random moments), resumed each time: every kill leaves a
 * checkpoint that loads, a second run on the locked directory is refused naming the first, and the run that
 * finishes has per-step losses, gradient norms and final weights bit-identical to an uninterrupted one.
 */
class TrainingCrashTest {
    private static final String HOOK = "[checkpoint-hook] ";
    private static final List<String> ARGS = List.of("--hidden", "32", "--layers", "2", "--heads", "2", "--kv-heads", "1",
            "--head-dim", "16", "--intermediate", "64", "--seq-len", "64", "--segment", "16", "--batch", "2",
            "--steps", "12", "--warmup", "2", "--eval-every", "4", "--val-batches", "1", "--checkpoint-every", "2",
            "--keep-checkpoints", "2", "--sample-tokens", "0");
    @TempDir
    Path tmp;

    /** Where each killed process is stopped: a phase of a checkpoint write at a step, or a random moment. */
    private record Kill(String pauseAt, int afterStep) {
    }

    @Test
    @DisplayName("kill -9 at random points and inside checkpoint writes: every kill leaves a loadable checkpoint, resume is bit-identical")
    void killedTrainingResumesBitIdentically() throws Exception {
        System.setProperty("infini.cache.dir", tmp.resolve("cache").toString());
        Path ref = tmp.resolve("reference"), run = tmp.resolve("killed");
        List<String> refArgs = new ArrayList<>(List.of("train"));
        refArgs.addAll(ARGS);
        refArgs.addAll(List.of("--out", ref.toString()));
        assertEquals(0, InfiniCli.execute(refArgs.toArray(new String[0])), "uninterrupted run");

        Random random = new Random(17);
        List<Kill> kills = List.of(new Kill("written@2", 0), new Kill("renamed@2", 0), new Kill("synced@4", 0),
                new Kill("retiring@2", 0), new Kill(null, 6 + random.nextInt(2)), new Kill("linked@10", 0),
                new Kill(null, 10 + random.nextInt(2)));
        int survived = 0;
        boolean lockChecked = false;
        for (Kill k : kills) {
            Process p = start(run, k.pauseAt());
            LinkedBlockingQueue<String> hooks = hookLines(p);
            String reached = k.pauseAt() != null ? awaitLine(hooks, k.pauseAt(), p)
                    : awaitStep(hooks, k.afterStep(), p, random);
            if (!lockChecked && k.pauseAt() != null && k.pauseAt().startsWith("synced")) {
                assertSecondRunRefused(run, p.pid());
                lockChecked = true;
            }
            p.destroyForcibly();   // SIGKILL
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "killed process ended");
            survived += latestLoads(run, reached) ? 1 : 0;
        }
        Process last = start(run, null);
        hookLines(last);
        assertTrue(last.waitFor(120, TimeUnit.SECONDS), "the last run finishes");
        assertEquals(0, last.exitValue(), "the last run succeeds");
        assertEquals(kills.size(), survived, "every kill left a run directory that resumes");
        assertTrue(lockChecked, "the lock was tried while a run held it");
        assertEquals(metric(ref, "loss"), metric(run, "loss"), "per-step losses");
        assertEquals(metric(ref, "grad_norm"), metric(run, "grad_norm"), "per-step gradient norms");
        for (String f : List.of("model.safetensors", "optimizer.safetensors")) {
            assertArrayEquals(Files.readAllBytes(ref.resolve("checkpoint-12").resolve(f)),
                    Files.readAllBytes(run.resolve("checkpoint-12").resolve(f)), f + " of the last step");
        }
        System.out.printf("crash test: %d kills survived (%d inside checkpoint writes); the resumed run is bit-identical "
                + "to the uninterrupted one (%d step losses and gradient norms, weights, optimizer moments)%n", survived,
                kills.stream().filter(k -> k.pauseAt() != null).count(), metric(ref, "loss").size());
    }

    /** Starts {@code infini train} (resuming when the directory holds a checkpoint), stopping at {@code pauseAt}. */
    private Process start(Path run, String pauseAt) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Paths.get(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xss4m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djavacpp.platform=linux-x86_64",
                "-Dinfini.cache.dir=" + tmp.resolve("cache"), "-Dinfini.test.checkpointHook=on"));
        if (pauseAt != null) {
            cmd.add("-Dinfini.test.checkpointPause=" + pauseAt);
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), InfiniCli.class.getName(), "train"));
        boolean resumable = Files.isDirectory(run) && hasCheckpoint(run);
        if (resumable) {
            cmd.addAll(List.of("--resume", run.toString()));
        } else {
            cmd.addAll(ARGS);
            cmd.addAll(List.of("--out", run.toString()));
        }
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("OMP_WAIT_POLICY", "PASSIVE");
        return pb.start();
    }

    private static boolean hasCheckpoint(Path run) {
        try {
            TrainingCheckpoint.locate(run);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** The hook lines of a process's output, as they come (the rest is drained). */
    private static LinkedBlockingQueue<String> hookLines(Process p) {
        LinkedBlockingQueue<String> q = new LinkedBlockingQueue<>();
        Thread t = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String l; (l = r.readLine()) != null; ) {
                    q.add(l.startsWith(HOOK) ? l.substring(HOOK.length()) : "log: " + l);
                }
            } catch (IOException e) {
                // the process was killed
            }
        });
        t.setDaemon(true);
        t.start();
        return q;
    }

    private static String awaitLine(LinkedBlockingQueue<String> q, String want, Process p) throws InterruptedException {
        List<String> seen = new ArrayList<>();
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (System.nanoTime() < deadline) {
            String l = q.poll(200, TimeUnit.MILLISECONDS);
            if (l != null) {
                seen.add(l);
                if (l.equals(want)) {
                    return want;
                }
            } else if (!p.isAlive()) {
                break;
            }
        }
        throw new AssertionError("the process never reached " + want + "; its output: " + String.join("\n", seen));
    }

    /** Waits until the process has done {@code step}, then a random moment more (0-150 ms). */
    private static String awaitStep(LinkedBlockingQueue<String> q, int step, Process p, Random random) throws Exception {
        awaitLine(q, "step@" + step, p);
        Thread.sleep(random.nextInt(150));
        return "step " + step + " + a random moment";
    }

    /** A second run on the directory a live run holds fails at once, naming the live run's pid. */
    private void assertSecondRunRefused(Path run, long holder) throws Exception {
        Process second = start(run, null);
        LinkedBlockingQueue<String> out = hookLines(second);
        assertTrue(second.waitFor(60, TimeUnit.SECONDS), "the second run ends by itself");
        List<String> lines = new ArrayList<>(out);
        assertEquals(1, second.exitValue(), String.join("\n", lines));
        assertTrue(lines.stream().anyMatch(l -> l.contains("is in use by another training run (pid " + holder + " on host")),
                String.join("\n", lines));
    }

    /** After a kill: the checkpoint a resume would pick loads (weights and state), or there is none yet. */
    private static boolean latestLoads(Path run, String reached) throws IOException {
        Path ckpt;
        try {
            ckpt = TrainingCheckpoint.locate(run);
        } catch (IOException none) {
            return reached.endsWith("@2");   // killed while writing the first checkpoint: nothing to resume yet
        }
        TrainingCheckpoint.State st = TrainingCheckpoint.readState(ckpt);
        assertNotNull(HfCheckpoint.load(ckpt), "weights of " + ckpt);
        assertEquals(ckpt.getFileName().toString(), "checkpoint-" + st.step, "the state of " + ckpt);
        System.out.printf("crash test: killed at %s, resuming from %s%n", reached, run.relativize(ckpt));
        return true;
    }

    private static List<Double> metric(Path run, String key) throws IOException {
        ObjectMapper m = new ObjectMapper();
        List<Double> out = new ArrayList<>();
        for (String l : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            JsonNode n = m.readTree(l);
            if (n.has(key)) {
                out.add(n.get(key).asDouble());
            }
        }
        return out;
    }
}
