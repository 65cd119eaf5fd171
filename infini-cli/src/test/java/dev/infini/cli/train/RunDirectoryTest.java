package dev.infini.cli.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.infini.cli.text.Tokenizers;
import dev.infini.datasets.tokenize.ByteTokenizer;
import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.ModelFamily;
import dev.infini.samediff.hf.HfCheckpoint;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The run directory: checkpoint-N/ with rotation and best, resume from one, the lock, recovery, output checks. */
class RunDirectoryTest {
    @TempDir
    static Path cache;
    @TempDir
    Path tmp;

    @BeforeAll
    static void isolatedTokenCache() {
        System.setProperty("infini.cache.dir", cache.toString());
    }

    private static Set<String> checkpointDirs(Path run) throws IOException {
        Set<String> names = new TreeSet<>();
        for (long s : CheckpointDirs.steps(run)) {
            names.add("checkpoint-" + s);
        }
        return names;
    }

    @Test
    @DisplayName("checkpoint-N/ every --checkpoint-every steps, the K newest kept, 'checkpoint' links the newest, 'best' the lowest validation loss")
    void checkpointsRotateAndBestIsKept() throws IOException {
        Path out = tmp.resolve("run");
        TrainOptions o = TrainerTest.small(out, 9);
        o.checkpointEvery = 2;
        o.evalEvery = 2;
        o.keepCheckpoints = 2;
        o.lr = 2e-2;
        new Trainer(o, null).run();
        TrainingCheckpoint.State last = TrainingCheckpoint.readState(TrainingCheckpoint.locate(out));
        assertEquals(9, last.step);
        long best = -1;
        double bestLoss = Double.MAX_VALUE;
        for (double[] v : last.valLoss) {
            if (v[1] < bestLoss) {
                bestLoss = v[1];
                best = (long) v[0];
            }
        }
        assertEquals(best, last.bestStep, "best is the step of lowest validation loss " + last.valLoss.size());
        Set<String> expected = new TreeSet<>(List.of("checkpoint-8", "checkpoint-9", "checkpoint-" + best));
        assertEquals(expected, checkpointDirs(out), "the 2 newest and the best");
        assertEquals(Path.of("checkpoint-9"), Files.readSymbolicLink(out.resolve(TrainingCheckpoint.DIR)));
        assertEquals(Path.of("checkpoint-" + best), Files.readSymbolicLink(out.resolve(TrainingCheckpoint.BEST)));
        assertEquals(32, HfCheckpoint.load(out.resolve(TrainingCheckpoint.BEST)).config().hiddenSize());
        try (var s = Files.list(out)) {
            assertEquals(List.of(), s.map(p -> p.getFileName().toString())
                    .filter(n -> n.endsWith(".tmp") || n.endsWith(".deleting") || n.endsWith(".old")).toList());
        }
    }

    @Test
    @DisplayName("--resume RUN/checkpoint-N: per-step losses, gradient norms and final weights bit-identical to an uninterrupted run")
    void resumeFromCheckpointNIsBitIdentical() throws IOException {
        Path a = tmp.resolve("a"), b = tmp.resolve("b");
        TrainOptions oa = TrainerTest.small(a, 7);
        oa.keepCheckpoints = 5;
        new Trainer(oa, null).run();
        TrainOptions ob = TrainerTest.small(b, 7);
        ob.keepCheckpoints = 5;
        assertThrows(IllegalStateException.class, () -> new Trainer(ob, null).onProgress(line -> {
            if (line.startsWith("step 5/")) {
                throw new IllegalStateException("simulated kill");
            }
        }).run());
        assertEquals(Set.of("checkpoint-3"), checkpointDirs(b));
        Path ckpt = b.resolve("checkpoint-3");
        assertEquals(b, TrainingCheckpoint.runDirOf(ckpt), "a checkpoint's run directory is its parent");
        TrainOptions resumed = Trainer.optionsOf(ckpt);
        resumed.out = TrainingCheckpoint.runDirOf(ckpt).toString();
        new Trainer(resumed, ckpt).run();
        assertEquals(metric(a, "loss"), metric(b, "loss"), "per-step losses");
        assertEquals(metric(a, "grad_norm"), metric(b, "grad_norm"), "per-step gradient norms");
        for (String f : List.of("model.safetensors", "optimizer.safetensors")) {
            assertArrayEquals(Files.readAllBytes(a.resolve("checkpoint-7").resolve(f)),
                    Files.readAllBytes(b.resolve("checkpoint-7").resolve(f)), f + " of step 7");
        }
    }

    private static List<Double> metric(Path run, String key) throws IOException {
        ObjectMapper m = new ObjectMapper();
        List<Double> out = new java.util.ArrayList<>();
        for (String l : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            JsonNode n = m.readTree(l);
            if (n.has(key)) {
                out.add(n.get(key).asDouble());
            }
        }
        return out;
    }

    @Test
    @DisplayName("a byte-level checkpoint is self-contained: tokenizer description, generation_config.json, a model card")
    void byteLevelCheckpointIsSelfContained() throws IOException {
        Path out = tmp.resolve("bytes");
        TrainOptions o = TrainerTest.small(out, 3);
        new Trainer(o, null).run();
        Path ckpt = out.resolve("checkpoint-3");
        JsonNode gen = new ObjectMapper().readTree(ckpt.resolve(CheckpointFiles.GENERATION_CONFIG).toFile());
        assertEquals(ByteTokenizer.BOS, gen.get("bos_token_id").asInt());
        assertEquals(ByteTokenizer.EOS, gen.get("eos_token_id").asInt());
        assertEquals(ByteTokenizer.PAD, gen.get("pad_token_id").asInt());
        assertEquals(64, gen.get("max_length").asInt());
        JsonNode tc = new ObjectMapper().readTree(ckpt.resolve(Tokenizers.TOKENIZER_CONFIG).toFile());
        assertEquals("byte", tc.get("infini_tokenizer").asText());
        String card = Files.readString(ckpt.resolve(CheckpointFiles.CARD));
        for (String part : List.of("from scratch (preset `tiny`", "| segment size | 16 |", "| memory rule | linear",
                "`moby-dick`", "| steps | 3 of 3 |", "| train loss | ", "| validation loss | ", "./infini train --hidden 32",
                "--steps 3", "--out " + out)) {
            assertTrue(card.contains(part), "model card has '" + part + "':\n" + card);
        }
        // A model whose vocabulary is larger than the byte tokenizer's still finds it through the description.
        InfiniConfig wide = InfiniConfig.builder(ModelFamily.GEMMA).vocabSize(512).hiddenSize(16).intermediateSize(32)
                .numLayers(1).numHeads(2).numKvHeads(1).headDim(8).build();
        assertInstanceOf(ByteTokenizer.class, Tokenizers.forModel(ckpt, wide).orElseThrow());
        assertTrue(Tokenizers.forModel(tmp, wide).isEmpty(), "no tokenizer files, no byte vocabulary: none");
    }

    @Test
    @DisplayName("the model card's train command parses back to the same options, flags (--token-shift) without a value")
    void cardCommandRoundTrips() throws Exception {
        TrainOptions o = TrainerTest.small(tmp.resolve("cmd"), 3);
        o.tokenShift = true;
        o.memoryUpdate = dev.infini.samediff.MemoryUpdate.DELTA;
        String cmd = CheckpointFiles.command(o);
        assertTrue(cmd.contains(" --token-shift") && !cmd.contains("--token-shift true"), cmd);
        TrainOptions back = new TrainOptions();
        String[] args = cmd.substring("./infini train ".length()).split(" ");
        new picocli.CommandLine(picocli.CommandLine.Model.CommandSpec.forAnnotatedObject(back)).parseArgs(args);
        assertEquals(cmd, CheckpointFiles.command(back));
        assertTrue(back.tokenShift);
    }

    @Test
    @DisplayName("a second run on a locked --out fails at once naming pid, host and start; a dead run's lock is taken over")
    void runDirectoryLock() throws Exception {
        Path out = Files.createDirectories(tmp.resolve("locked"));
        try (RunLock held = RunLock.acquire(out)) {
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> new Trainer(TrainerTest.small(out, 3), null).run());
            String pid = "pid " + ProcessHandle.current().pid() + " on host " + RunLock.hostName() + ", started ";
            assertTrue(e.getMessage().contains(pid) && e.getMessage().contains(out.toString()), e.getMessage());
            assertFalse(Files.exists(out.resolve("metrics.jsonl")), "nothing written by the refused run");
        }
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        Files.writeString(out.resolve(RunLock.FILE), "{\"pid\":" + gone.pid() + ",\"host\":\"" + RunLock.hostName()
                + "\",\"started\":\"2020-01-01T00:00:00Z\"}\n");
        try (RunLock taken = RunLock.acquire(out)) {
            JsonNode now = new ObjectMapper().readTree(out.resolve(RunLock.FILE).toFile());
            assertEquals(ProcessHandle.current().pid(), now.get("pid").asLong(), "the stale lock was taken over");
        }
        assertEquals(0, Files.size(out.resolve(RunLock.FILE)), "released: emptied");
    }

    @Test
    @DisplayName("recovery: leftover .tmp/.deleting directories are removed, a half-written checkpoint is never picked, .old comes back")
    void recoveryAfterKills() throws IOException {
        Path run = Files.createDirectories(tmp.resolve("killed"));
        fakeCheckpoint(run.resolve("checkpoint-3"), 3);
        fakeCheckpoint(run.resolve("checkpoint-6.old"), 6);                     // killed between the two renames
        Files.createDirectories(run.resolve("checkpoint-9.tmp"));                // killed while writing step 9
        Files.writeString(run.resolve("checkpoint-9.tmp").resolve("model.safetensors"), "half");
        fakeCheckpoint(run.resolve("checkpoint-1.deleting"), 1);                // killed while deleting step 1
        Files.createDirectories(run.resolve("checkpoint-12"));                   // not resumable: never picked
        Files.writeString(run.resolve("checkpoint-12").resolve("config.json"), "{}");
        assertEquals(run.resolve("checkpoint-6.old"), TrainingCheckpoint.locate(run), "the newest whole one");
        CheckpointDirs.clearLeftovers(run);
        CheckpointDirs.startAt(run, 6);
        assertEquals(Set.of("checkpoint-3", "checkpoint-6"), checkpointDirs(run), "leftovers gone, .old back, newer removed");
        assertEquals(run.resolve("checkpoint-6"), TrainingCheckpoint.locate(run));
        assertEquals(Path.of("checkpoint-6"), Files.readSymbolicLink(run.resolve(TrainingCheckpoint.DIR)));
        try (var s = Files.list(run)) {
            assertEquals(Set.of("checkpoint", "checkpoint-3", "checkpoint-6"),
                    s.map(p -> p.getFileName().toString()).collect(java.util.stream.Collectors.toSet()));
        }
    }

    private static void fakeCheckpoint(Path dir, long step) throws IOException {
        Files.createDirectories(dir);
        TrainingCheckpoint.State st = new TrainingCheckpoint.State();
        st.step = step;
        Files.writeString(dir.resolve(TrainingCheckpoint.STATE), new ObjectMapper().writeValueAsString(st));
        Files.writeString(dir.resolve(TrainingCheckpoint.OPTIMIZER), "");
    }

    @Test
    @DisplayName("an unusable --out is named exactly, before any model work")
    void unusableOutIsNamedFirst() throws IOException {
        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        Path under = file.resolve("run");
        long t0 = System.nanoTime();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Trainer(TrainerTest.small(under, 3), null).run());
        assertTrue(e.getMessage().startsWith("--out " + under + ": cannot create this directory"), e.getMessage());
        IllegalArgumentException f = assertThrows(IllegalArgumentException.class,
                () -> new Trainer(TrainerTest.small(file, 3), null).run());
        assertEquals("--out " + file + ": this is a file, not a directory", f.getMessage());
        assertTrue((System.nanoTime() - t0) / 1e9 < 2, "rejected before loading data or a model");
        IllegalArgumentException g = assertThrows(IllegalArgumentException.class, () -> OutputPaths.file("--out", under));
        assertTrue(g.getMessage().startsWith("--out " + under + ": cannot write this file"), g.getMessage());
    }

    @Test
    @DisplayName("the non-finite guard says no checkpoint was written when none was; --max-bad-steps in a row stop the run")
    void nonFiniteGuardWithoutCheckpoint() {
        TrainOptions o = TrainerTest.small(tmp.resolve("nan"), 20);
        o.lr = 1e30;
        o.warmup = 0;
        o.clip = 0;
        o.checkpointEvery = 10;
        o.maxBadSteps = 2;
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> new Trainer(o, null).run());
        assertTrue(e.getMessage().contains("2 non-finite steps in a row"), e.getMessage());
        assertTrue(e.getMessage().contains("no checkpoint was written (the first was due at step 10)"), e.getMessage());
        assertFalse(e.getMessage().contains("last good checkpoint"), e.getMessage());
    }

    @Test
    @DisplayName("a new run in a directory holding another run's checkpoints replaces them; --keep-checkpoints 0 is refused")
    void newRunReplacesOldCheckpoints() throws IOException {
        Path out = tmp.resolve("again");
        fakeCheckpoint(out.resolve("checkpoint-40"), 40);
        TrainOptions o = TrainerTest.small(out, 3);
        new Trainer(o, null).run();
        assertEquals(Set.of("checkpoint-3"), checkpointDirs(out));
        o.keepCheckpoints = 0;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Trainer(o, null).run());
        assertEquals("--keep-checkpoints must be at least 1, got 0", e.getMessage());
    }
}
