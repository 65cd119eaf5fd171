package dev.infini.cli.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.hf.HfCheckpoint;
import dev.infini.samediff.train.LrSchedule;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainerTest {
    @TempDir
    static Path cache;
    @TempDir
    Path tmp;

    @BeforeAll
    static void isolatedTokenCache() {
        System.setProperty("infini.cache.dir", cache.toString());
    }

    /** A model of a few thousand parameters on Moby-Dick, in blocks of 64 bytes cut into segments of 16. */
    static TrainOptions small(Path out, int steps) {
        TrainOptions o = new TrainOptions();
        o.preset = "tiny";
        o.hidden = 32;
        o.layers = 2;
        o.heads = 2;
        o.kvHeads = 1;
        o.headDim = 16;
        o.intermediate = 64;
        o.seqLen = 64;
        o.segment = 16;
        o.batch = 2;
        o.steps = steps;
        o.warmup = 2;
        o.evalEvery = 0;
        o.valBatches = 1;
        o.checkpointEvery = 3;
        o.sampleTokens = 8;
        o.out = out.toString();
        return o;
    }

    static double[] losses(Path metrics) throws IOException {
        ObjectMapper m = new ObjectMapper();
        return Files.readAllLines(metrics).stream().map(l -> {
            try {
                return m.readTree(l);
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }).filter(n -> n.has("loss")).mapToDouble(n -> n.get("loss").asDouble()).toArray();
    }

    @Test
    @DisplayName("a run killed after its step-3 checkpoint and resumed has the losses of an uninterrupted run")
    void resumeReproducesUninterruptedLosses() throws IOException {
        Path a = tmp.resolve("a"), b = tmp.resolve("b");
        TrainSummary full = new Trainer(small(a, 7), null).run();
        double[] expected = losses(a.resolve("metrics.jsonl"));
        assertEquals(7, expected.length);

        // Interrupted after step 4 (its work is lost; the checkpoint of step 3 survives).
        RuntimeException kill = assertThrows(RuntimeException.class, () -> new Trainer(small(b, 7), null).onProgress(line -> {
            if (line.startsWith("step 4/")) {
                throw new IllegalStateException("simulated kill");
            }
        }).run());
        assertEquals("simulated kill", kill.getMessage());
        assertEquals(3, TrainingCheckpoint.readState(TrainingCheckpoint.locate(b)).step);

        TrainSummary resumed = new Trainer(Trainer.optionsOf(b), b).run();
        double[] actual = losses(b.resolve("metrics.jsonl"));
        assertEquals(7, actual.length, "metrics.jsonl holds each step once");
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 1e-6 * Math.abs(expected[i]), "loss of step " + (i + 1));
        }
        assertEquals(full.valLoss(), resumed.valLoss(), 1e-6 * full.valLoss());
    }

    @Test
    @DisplayName("a run writes a loadable HF checkpoint, metrics, a loss-curve PNG and a summary; loss falls")
    void runProducesArtifactsAndLearns() throws IOException {
        Path out = tmp.resolve("run");
        TrainOptions o = small(out, 12);
        o.lr = 1e-2;
        TrainSummary s = new Trainer(o, null).run();
        double[] l = losses(out.resolve("metrics.jsonl"));
        assertTrue(l[l.length - 1] < l[0] - 0.5, "loss fell from " + l[0] + " to " + l[l.length - 1]);
        assertTrue(s.unigramPpl() > 1 && s.valPpl() > 1);
        byte[] png = Files.readAllBytes(out.resolve("loss.png"));
        assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, java.util.Arrays.copyOf(png, 4));
        InfiniModel m = HfCheckpoint.load(out.resolve(TrainingCheckpoint.DIR));
        assertEquals(32, m.config().hiddenSize());
        JsonNode summary = new ObjectMapper().readTree(s.toJson());
        for (String k : List.of("steps", "tokens_per_s", "train_loss", "val_loss", "val_ppl", "unigram_ppl", "seconds")) {
            assertTrue(summary.has(k), "summary has " + k);
        }
        assertEquals("samediff", summary.get("engine").asText());
        assertEquals("full", summary.get("memory_gradient").asText());
        assertEquals(dev.infini.samediff.SegmentKernel.defaultFor(org.nd4j.linalg.api.buffer.DataType.FLOAT).key(),
                summary.get("kernel").asText());
        assertEquals(12, summary.get("steps").asInt());
        assertTrue(Files.readString(out.resolve("sample.txt")).length() > 0);
    }

    @Test
    @DisplayName("too many non-finite steps in a row stop training and leave the last good checkpoint")
    void nonFiniteStepsStopTraining() throws IOException {
        Path out = tmp.resolve("nan");
        TrainOptions o = small(out, 20);
        o.lr = 1e30;       // the first update blows the weights up; every later loss is non-finite
        o.warmup = 0;
        o.clip = 0;
        o.checkpointEvery = 1;
        o.maxBadSteps = 3;
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> new Trainer(o, null).run());
        assertTrue(e.getMessage().contains("3 non-finite steps in a row"), e.getMessage());
        TrainingCheckpoint.State st = TrainingCheckpoint.readState(TrainingCheckpoint.locate(out));
        assertTrue(st.step < 4, "checkpoint of a step before the non-finite ones, got step " + st.step);
    }

    @Test
    @DisplayName("--init fine-tunes an imported plain Llama checkpoint (no gates) and saves it with gates")
    void fineTunesImportedCheckpoint() throws IOException {
        dev.infini.samediff.InfiniConfig c = dev.infini.samediff.InfiniConfig.builder(dev.infini.samediff.ModelFamily.LLAMA)
                .vocabSize(260).hiddenSize(32).intermediateSize(64).numLayers(2).numHeads(4).numKvHeads(2).headDim(8)
                .tieWordEmbeddings(false).segmentSize(32).build();
        InfiniModel plain = InfiniModel.random(c, 9, 0.05, 0.0, org.nd4j.linalg.api.buffer.DataType.FLOAT);
        Path dir = tmp.resolve("plain-llama");
        java.util.Map<String, org.nd4j.linalg.api.ndarray.INDArray> noGates = new java.util.LinkedHashMap<>(plain.weights());
        noGates.keySet().removeIf(k -> k.endsWith("self_attn.gate"));
        Files.createDirectories(dir);
        c.write(dir.resolve("config.json"));
        dev.infini.samediff.hf.SafeTensors.write(dir.resolve("model.safetensors"), noGates, dev.infini.samediff.hf.SafeTensors.Dtype.BF16, null);
        TrainOptions o = small(tmp.resolve("ft"), 3);
        o.init = dir.toString();
        o.gateInit = -2.0;
        TrainSummary s = new Trainer(o, null).run();
        assertEquals(3, s.steps());
        InfiniModel tuned = HfCheckpoint.load(tmp.resolve("ft").resolve(TrainingCheckpoint.DIR));
        assertEquals(dev.infini.samediff.ModelFamily.LLAMA, tuned.config().family());
        assertEquals(16, tuned.config().segmentSize());
        double g = tuned.weights().get(dev.infini.samediff.TensorNames.gate(0)).getDouble(0);
        assertTrue(g != -2.0 && Math.abs(g + 2.0) < 1.0, "gate trained from its init -2: " + g);
    }

    @Test
    @DisplayName("--engine graph --workers 2 --kernel samediff trains the DL4J ComputationGraph form with ParallelWrapper")
    void graphEngineWithTwoWorkers() throws IOException {
        Path out = tmp.resolve("graph");
        TrainOptions o = small(out, 6);
        o.engine = Engine.GRAPH;
        o.workers = 2;
        o.kernel = dev.infini.samediff.SegmentKernel.SAMEDIFF;
        o.lr = 1e-2;
        o.checkpointEvery = 0;   // ParallelWrapper checkpoints at the end only (a checkpoint every 3 steps is rejected)
        TrainSummary s = new Trainer(o, null).run();
        assertTrue(s.steps() > 0);
        assertTrue(Double.isFinite(s.valLoss()) && s.valLoss() < Math.log(260), "val loss " + s.valLoss());
        InfiniModel m = HfCheckpoint.load(out.resolve(TrainingCheckpoint.DIR));
        assertEquals(32, m.config().hiddenSize());
        assertEquals("samediff", new ObjectMapper().readTree(s.toJson()).get("kernel").asText());
        TrainOptions bad = small(tmp.resolve("bad"), 2);
        bad.workers = 2;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Trainer(bad, null).run());
        assertTrue(e.getMessage().contains("need --engine graph"), e.getMessage());
    }

    @Test
    @DisplayName("--engine graph on one worker validates and checkpoints every N steps; the summary names engine, kernel and gradient")
    void graphEngineOnOneWorkerHonoursEvalAndCheckpointEvery() throws IOException {
        Path out = tmp.resolve("graph1");
        TrainOptions o = small(out, 4);
        o.engine = Engine.GRAPH;
        o.evalEvery = 2;
        o.checkpointEvery = 2;
        List<String> progress = new java.util.ArrayList<>();
        TrainSummary s = new Trainer(o, null).onProgress(line -> {
            progress.add(line);
            if (line.startsWith("step 3/")) {
                assertTrue(Files.isRegularFile(out.resolve(TrainingCheckpoint.DIR).resolve("config.json")),
                        "weights checkpointed at step 2");
            }
        }).run();
        assertEquals(4, s.steps());
        assertEquals(4, progress.size());
        ObjectMapper m = new ObjectMapper();
        List<JsonNode> lines = new java.util.ArrayList<>();
        for (String l : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            lines.add(m.readTree(l));
        }
        assertTrue(lines.get(1).has("val_loss"), "validation at step 2: " + lines.get(1));
        assertTrue(!lines.get(0).has("val_loss") && !lines.get(2).has("val_loss"));
        assertEquals(new LrSchedule(o.lr, o.warmup, o.steps, o.minLrRatio).at(3), lines.get(2).get("lr").asDouble(), 1e-12);
        JsonNode summary = m.readTree(s.toJson());
        assertEquals("graph", summary.get("engine").asText());
        assertEquals("full", summary.get("memory_gradient").asText());
        assertEquals(32, HfCheckpoint.load(out.resolve(TrainingCheckpoint.DIR)).config().hiddenSize());
    }

    @Test
    @DisplayName("--corpus passkey trains on passkey prompts; validation counts only the answer")
    void passkeyTask() throws IOException {
        Path out = tmp.resolve("passkey");
        TrainOptions o = small(out, 2);
        o.corpus = "passkey";
        o.seqLen = 320;
        o.segment = 64;
        o.promptWeight = 0.1;
        TrainSummary s = new Trainer(o, null).run();
        assertEquals(2, s.steps());
        assertTrue(Double.isFinite(s.valLoss()));
        assertTrue(Files.readString(out.resolve("sample.txt")).contains("What is the pass key?"));
        // Throughput counts every input token, not the loss weights.
        String first = Files.readAllLines(out.resolve("metrics.jsonl")).get(0);
        assertEquals((double) o.batch * o.seqLen, new ObjectMapper().readTree(first).path("tokens").asDouble(), first);
    }
}
