package dev.infini.samediff.hf;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.ModelFamily;
import dev.infini.samediff.SegmentRunner;
import dev.infini.samediff.TensorNames;
import dev.infini.samediff.TestModels;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HfCheckpointTest {
    @TempDir
    Path tmp;

    private static InfiniModel model(ModelFamily f) {
        return TestModels.randomModel(TestModels.tiny(f, 4, f == ModelFamily.GEMMA ? 1 : 2, MemoryUpdate.DELTA, 6), 3,
                DataType.FLOAT);
    }

    private static float[] floats(INDArray a) {
        return a.castTo(DataType.FLOAT).dup().data().asFloat();
    }

    @Test
    @DisplayName("an F32 export/import round trip is bit-exact and a second export is byte-identical")
    void f32RoundTripIsBitExact() throws IOException {
        for (ModelFamily f : ModelFamily.values()) {
            InfiniModel m = model(f);
            Path a = tmp.resolve(f + "-a"), b = tmp.resolve(f + "-b");
            HfCheckpoint.save(m, a);
            InfiniModel back = HfCheckpoint.load(a);
            assertEquals(m.config(), back.config());
            for (Map.Entry<String, INDArray> e : m.weights().entrySet()) {
                float[] x = floats(e.getValue()), y = floats(back.weights().get(e.getKey()));
                for (int i = 0; i < x.length; i++) {
                    assertEquals(Float.floatToRawIntBits(x[i]), Float.floatToRawIntBits(y[i]), e.getKey() + "[" + i + "]");
                }
            }
            HfCheckpoint.save(back, b);
            assertArrayEquals(Files.readAllBytes(a.resolve("model.safetensors")), Files.readAllBytes(b.resolve("model.safetensors")));
            assertEquals(Files.readString(a.resolve("config.json")), Files.readString(b.resolve("config.json")));
        }
    }

    @Test
    @DisplayName("a sharded export loads back through the index and gives the same logits")
    void shardedExportGivesSameLogits() throws IOException {
        InfiniModel m = model(ModelFamily.LLAMA);
        Path dir = tmp.resolve("sharded");
        HfCheckpoint.save(m, dir, SafeTensors.Dtype.F32, 8_000);
        long shards = Files.list(dir).filter(p -> p.getFileName().toString().matches("model-\\d{5}-of-\\d{5}\\.safetensors")).count();
        assertTrue(shards > 2, "expected several shards, got " + shards);
        assertTrue(Files.exists(dir.resolve(HfCheckpoint.INDEX)));
        InfiniModel back = HfCheckpoint.load(dir);
        INDArray ids = TestModels.randomIds(1, 15, m.config().vocabSize(), 1);
        assertEquals(0.0, TestModels.relError(new SegmentRunner(back).run(ids).logits(), new SegmentRunner(m).run(ids).logits()));
    }

    @Test
    @DisplayName("BF16 and F16 exports round to nearest even and load back as those values")
    void halfPrecisionExports() throws IOException {
        assertEquals((short) 0x3f80, SafeTensors.floatToBf16(1.0f));
        assertEquals((short) 0x3f80, SafeTensors.floatToBf16(Float.intBitsToFloat(0x3f808000))); // tie to even
        assertEquals((short) 0x3f82, SafeTensors.floatToBf16(Float.intBitsToFloat(0x3f818000))); // tie up to even
        assertEquals((short) 0x3c00, SafeTensors.floatToHalf(1.0f));
        assertEquals(65504f, SafeTensors.halfToFloat(SafeTensors.floatToHalf(65504f)));
        assertEquals(5.9604645e-8f, SafeTensors.halfToFloat((short) 1)); // smallest subnormal
        for (float v : new float[] {0.1f, -3.75f, 1e-5f, 1234.5f}) {
            float h = SafeTensors.halfToFloat(SafeTensors.floatToHalf(v));
            assertTrue(Math.abs(h - v) <= Math.abs(v) * 1e-3 + 6e-8, v + " -> " + h);
        }
        InfiniModel m = model(ModelFamily.GEMMA);
        for (SafeTensors.Dtype dt : new SafeTensors.Dtype[] {SafeTensors.Dtype.BF16, SafeTensors.Dtype.F16}) {
            Path dir = tmp.resolve(dt.name());
            HfCheckpoint.save(m, dir, dt, Long.MAX_VALUE);
            InfiniModel back = HfCheckpoint.load(dir);
            float[] x = floats(m.weights().get(TensorNames.qProj(0))), y = floats(back.weights().get(TensorNames.qProj(0)));
            for (int i = 0; i < x.length; i++) {
                float expected = dt == SafeTensors.Dtype.BF16
                        ? Float.intBitsToFloat((SafeTensors.floatToBf16(x[i]) & 0xffff) << 16)
                        : SafeTensors.halfToFloat(SafeTensors.floatToHalf(x[i]));
                assertEquals(expected, y[i], dt + " element " + i);
            }
        }
    }

    @Test
    @DisplayName("a plain checkpoint without gates loads with the configured gate value")
    void plainCheckpointGetsGateInit() throws IOException {
        InfiniModel m = model(ModelFamily.GEMMA);
        Map<String, INDArray> noGates = new LinkedHashMap<>(m.weights());
        for (int l = 0; l < m.config().numLayers(); l++) {
            noGates.remove(TensorNames.gate(l));
        }
        Path dir = tmp.resolve("plain");
        Files.createDirectories(dir);
        m.config().write(dir.resolve("config.json"));
        SafeTensors.write(dir.resolve("model.safetensors"), noGates, SafeTensors.Dtype.F32, null);
        InfiniModel back = HfCheckpoint.load(dir, new HfCheckpoint.Options().gateInit(-3.5));
        for (int l = 0; l < m.config().numLayers(); l++) {
            INDArray g = back.weights().get(TensorNames.gate(l));
            assertArrayEquals(new long[] {1, 4, 1, 1}, g.shape());
            assertEquals(-3.5, g.minNumber().doubleValue());
            assertEquals(-3.5, g.maxNumber().doubleValue());
        }
    }

    @Test
    @DisplayName("lm_head.weight present means an untied head even when the config says tied")
    void lmHeadMeansUntied() throws IOException {
        InfiniModel untied = model(ModelFamily.LLAMA);
        Path dir = tmp.resolve("untied");
        HfCheckpoint.save(untied, dir);
        ObjectNode cfg = (ObjectNode) new ObjectMapper().readTree(dir.resolve("config.json").toFile());
        cfg.put("tie_word_embeddings", true);
        Files.writeString(dir.resolve("config.json"), cfg.toString());
        InfiniModel back = HfCheckpoint.load(dir);
        assertEquals(false, back.config().tieWordEmbeddings());
    }

    // ------------------------------------------------------------------ import errors

    private Path saved(String name) throws IOException {
        Path dir = tmp.resolve(name);
        HfCheckpoint.save(model(ModelFamily.GEMMA), dir);
        return dir;
    }

    private static String loadError(Path dir) {
        return assertThrows(IOException.class, () -> HfCheckpoint.load(dir)).getMessage();
    }

    private static void assertContains(String msg, String... parts) {
        for (String p : parts) {
            assertTrue(msg.contains(p), "'" + msg + "' should contain '" + p + "'");
        }
    }

    @Test
    @DisplayName("a truncated file names the tensor whose data runs past the end")
    void truncatedFile() throws IOException {
        Path dir = saved("trunc");
        Path f = dir.resolve("model.safetensors");
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.setLength(raf.length() - 20); // inside the last tensor, model.norm.weight (64 bytes)
        }
        assertContains(loadError(dir), "model.safetensors", "tensor " + TensorNames.FINAL_NORM, "truncated");
    }

    @Test
    @DisplayName("a header length past the end of the file is reported with both sizes")
    void headerLengthPastEnd() throws IOException {
        Path dir = saved("header");
        Path f = dir.resolve("model.safetensors");
        long size = Files.size(f);
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(size + 10).array());
        }
        assertContains(loadError(dir), "header length " + (size + 10), "runs past the end", size + " bytes");
    }

    /** Rewrites one header entry's text (same length so the offsets stay valid). */
    private static void patchHeader(Path f, String from, String to) throws IOException {
        byte[] all = Files.readAllBytes(f);
        long hl = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String header = new String(all, 8, (int) hl, StandardCharsets.UTF_8);
        assertTrue(header.contains(from), header);
        String patched = header.replaceFirst(java.util.regex.Pattern.quote(from), java.util.regex.Matcher.quoteReplacement(to));
        patched = patched + " ".repeat((int) hl - patched.length());
        byte[] hb = patched.getBytes(StandardCharsets.UTF_8);
        ByteBuffer out = ByteBuffer.allocate(all.length - (int) hl + hb.length).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(hb.length).put(hb).put(all, 8 + (int) hl, all.length - 8 - (int) hl);
        Files.write(f, out.array());
    }

    @Test
    @DisplayName("an unknown dtype names the tensor and the dtype")
    void unknownDtype() throws IOException {
        Path dir = saved("dtype");
        patchHeader(dir.resolve("model.safetensors"), "{\"dtype\":\"F32\"", "{\"dtype\":\"Q4\"");
        assertContains(loadError(dir), "tensor " + TensorNames.EMBED, "unknown dtype 'Q4'");
    }

    @Test
    @DisplayName("a shape mismatch names the tensor and both shapes")
    void shapeMismatch() throws IOException {
        InfiniModel m = model(ModelFamily.GEMMA);
        Path dir = tmp.resolve("shape");
        HfCheckpoint.save(m, dir);
        // Same bytes, another shape: [24,16] of mlp.gate_proj declared as [16,24].
        patchHeader(dir.resolve("model.safetensors"), "\"" + TensorNames.mlpGate(0) + "\":{\"dtype\":\"F32\",\"shape\":[24,16]",
                "\"" + TensorNames.mlpGate(0) + "\":{\"dtype\":\"F32\",\"shape\":[16,24]");
        assertContains(loadError(dir), "tensor " + TensorNames.mlpGate(0), "has shape [16, 24]", "expects [24, 16]");
    }

    @Test
    @DisplayName("a missing tensor is named with its expected shape")
    void missingTensor() throws IOException {
        InfiniModel m = model(ModelFamily.GEMMA);
        Map<String, INDArray> ws = new LinkedHashMap<>(m.weights());
        ws.remove(TensorNames.vProj(1));
        Path dir = tmp.resolve("missing");
        Files.createDirectories(dir);
        m.config().write(dir.resolve("config.json"));
        SafeTensors.write(dir.resolve("model.safetensors"), ws, SafeTensors.Dtype.F32, null);
        assertContains(loadError(dir), "missing tensor " + TensorNames.vProj(1), "[4, 16]");
    }

    @Test
    @DisplayName("an unknown tensor is named")
    void unknownTensor() throws IOException {
        InfiniModel m = model(ModelFamily.GEMMA);
        Map<String, INDArray> ws = new LinkedHashMap<>(m.weights());
        ws.put("model.layers.0.self_attn.q_norm.weight", Nd4j.ones(DataType.FLOAT, 4));
        Path dir = tmp.resolve("unknown");
        Files.createDirectories(dir);
        m.config().write(dir.resolve("config.json"));
        SafeTensors.write(dir.resolve("model.safetensors"), ws, SafeTensors.Dtype.F32, null);
        assertContains(loadError(dir), "unknown tensor model.layers.0.self_attn.q_norm.weight");
    }

    @Test
    @DisplayName("a token_shift model round-trips with its previous-token table; without the table, or the key, loading names the mismatch")
    void tokenShiftRoundTrip() throws IOException {
        InfiniConfig c = TestModels.tiny(ModelFamily.LLAMA, 4, 2, MemoryUpdate.DELTA, 6).toBuilder().tokenShift(true).build();
        InfiniModel m = TestModels.randomModel(c, 5, DataType.FLOAT);
        Path dir = tmp.resolve("shift");
        HfCheckpoint.save(m, dir);
        assertTrue(Files.readString(dir.resolve("config.json")).contains("\"token_shift\" : true"));
        InfiniModel back = HfCheckpoint.load(dir);
        assertTrue(back.config().tokenShift());
        assertArrayEquals(floats(m.weights().get(TensorNames.PREV_EMBED)), floats(back.weights().get(TensorNames.PREV_EMBED)));
        INDArray ids = TestModels.randomIds(1, 14, c.vocabSize(), 2);
        INDArray l1 = new SegmentRunner(m).run(ids).logits(), l2 = new SegmentRunner(back).run(ids).logits();
        assertEquals(0.0, TestModels.relError(l1, l2), 0.0);
        // the table matters: zeroing it changes the logits
        back.weights().get(TensorNames.PREV_EMBED).assign(0);
        assertTrue(TestModels.relError(new SegmentRunner(back).run(ids).logits(), l1) > 1e-3);
        // a plain config with the table: an unknown tensor; token_shift without the table: a missing one
        Path plain = tmp.resolve("shift-plain-config");
        HfCheckpoint.save(m, plain);
        c.toBuilder().tokenShift(false).build().write(plain.resolve("config.json"));
        assertContains(loadError(plain), "unknown tensor " + TensorNames.PREV_EMBED);
        Path noTable = tmp.resolve("shift-no-table");
        Files.createDirectories(noTable);
        c.write(noTable.resolve("config.json"));
        Map<String, INDArray> ws = new LinkedHashMap<>(m.weights());
        ws.remove(TensorNames.PREV_EMBED);
        SafeTensors.write(noTable.resolve("model.safetensors"), ws, SafeTensors.Dtype.F32, null);
        assertContains(loadError(noTable), "missing tensor " + TensorNames.PREV_EMBED);
    }

    @Test
    @DisplayName("withTokenShift adds a zero previous-token table: a plain checkpoint's logits are unchanged, and the table trains")
    void addedTokenShiftStartsNeutral() {
        InfiniModel plain = model(ModelFamily.GEMMA);
        InfiniModel shifted = plain.withTokenShift();
        assertTrue(shifted.config().tokenShift());
        assertEquals(0.0, shifted.weights().get(TensorNames.PREV_EMBED).norm2Number().doubleValue(), 0.0);
        INDArray ids = TestModels.randomIds(2, 14, plain.config().vocabSize(), 4);
        assertEquals(0.0, TestModels.relError(new SegmentRunner(shifted).run(ids).logits(), new SegmentRunner(plain).run(ids).logits()), 0.0);
        assertTrue(shifted.withTokenShift() == shifted, "a model with the shift is returned as is");
        INDArray labels = TestModels.randomIds(2, 14, plain.config().vocabSize(), 5);
        var g = new dev.infini.samediff.train.SegmentGradients(shifted, 6).compute(new dev.infini.samediff.train.TrainBatch(ids,
                labels, Nd4j.ones(DataType.FLOAT, 2, 14), null), dev.infini.samediff.train.MemoryGradient.FULL);
        assertTrue(g.gradients().get(TensorNames.PREV_EMBED).norm2Number().doubleValue() > 0, "the table gets a gradient");
    }

    @Test
    @DisplayName("a directory without weights or config says what is missing")
    void emptyDirectory() throws IOException {
        Path dir = tmp.resolve("empty");
        Files.createDirectories(dir);
        java.nio.file.NoSuchFileException missing = assertThrows(java.nio.file.NoSuchFileException.class,
                () -> HfCheckpoint.load(dir));
        assertContains(missing.getMessage(), "no config.json in " + dir);
        InfiniConfig c = TestModels.tiny(ModelFamily.LLAMA, 4, 2, MemoryUpdate.LINEAR, 4);
        c.write(dir.resolve("config.json"));
        assertContains(loadError(dir), "neither model.safetensors nor model.safetensors.index.json");
        assertTrue(Arrays.asList(dir.toFile().list()).contains("config.json"));
    }
}
