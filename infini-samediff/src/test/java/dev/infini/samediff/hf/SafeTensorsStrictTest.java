package dev.infini.samediff.hf;

import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.ModelFamily;
import dev.infini.samediff.TensorNames;
import dev.infini.samediff.TestModels;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The safetensors reader is as strict as the format's reference reader; every rejection names the file and why. */
class SafeTensorsStrictTest {
    @TempDir
    Path tmp;

    /** A file with the given header text (padded with spaces to a multiple of 8) and {@code dataBytes} zero bytes. */
    static Path raw(Path file, String header, int dataBytes) throws IOException {
        return raw(file, header.getBytes(StandardCharsets.UTF_8), dataBytes);
    }

    static Path raw(Path file, byte[] header, int dataBytes) throws IOException {
        int padded = (header.length + 7) / 8 * 8;
        ByteBuffer b = ByteBuffer.allocate(8 + padded + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(padded).put(header);
        while (b.position() < 8 + padded) {
            b.put((byte) ' ');
        }
        Files.write(file, b.array());
        return file;
    }

    private String error(Path file) {
        return assertThrows(SafeTensorsException.class, () -> SafeTensors.open(file).close()).getMessage();
    }

    private static void assertContains(String msg, String... parts) {
        for (String p : parts) {
            assertTrue(msg.contains(p), "'" + msg + "' should contain '" + p + "'");
        }
    }

    private static String entry(String name, String dtype, String shape, String offsets) {
        return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
    }

    @Test
    @DisplayName("a well-formed file opens, with its metadata, and an empty header {} is a valid file")
    void wellFormedOpens() throws IOException {
        Path f = raw(tmp.resolve("ok.safetensors"), "{\"__metadata__\":{\"format\":\"pt\"}," + entry("a", "F32", "[2]", "[0,8]")
                + "," + entry("b", "BF16", "[1,2]", "[8,12]") + "}", 12);
        try (SafeTensors.Reader r = SafeTensors.open(f)) {
            assertEquals(2, r.tensors().size());
            assertEquals("pt", r.metadata().get("format"));
        }
        try (SafeTensors.Reader r = SafeTensors.open(raw(tmp.resolve("empty.safetensors"), "{}", 0))) {
            assertTrue(r.tensors().isEmpty());
        }
    }

    @Test
    @DisplayName("floats and strings where integers belong (shape, data_offsets) are rejected")
    void nonIntegerShapesAndOffsets() throws IOException {
        String[][] cases = {{"[2.0]", "[0,8]", "shape"}, {"[\"2\"]", "[0,8]", "shape"}, {"\"[2]\"", "[0,8]", "shape"},
                {"[-2]", "[0,8]", "shape"}, {"[2]", "[0.0,8]", "data_offsets"}, {"[2]", "[0,\"8\"]", "data_offsets"},
                {"[2]", "[0,8,16]", "data_offsets"}, {"[2]", "[0,99999999999999999999]", "data_offsets"}};
        int i = 0;
        for (String[] c : cases) {
            Path f = raw(tmp.resolve("n" + i++), "{" + entry("w", "F32", c[0], c[1]) + "}", 8);
            assertContains(error(f), "tensor w", c[2]);
        }
    }

    @Test
    @DisplayName("overlapping data_offsets, a gap, and offsets that end before they begin are rejected")
    void overlapsAndGaps() throws IOException {
        Path overlap = raw(tmp.resolve("o"), "{" + entry("a", "F32", "[2]", "[0,8]") + "," + entry("b", "F32", "[2]", "[4,12]")
                + "}", 12);
        assertContains(error(overlap), "tensor b", "overlaps tensor a");
        Path gap = raw(tmp.resolve("g"), "{" + entry("a", "F32", "[1]", "[0,4]") + "," + entry("b", "F32", "[1]", "[8,12]")
                + "}", 12);
        assertContains(error(gap), "tensor b", "gap");
        Path backwards = raw(tmp.resolve("b"), "{" + entry("a", "F32", "[0]", "[8,0]") + "}", 8);
        assertContains(error(backwards), "end before they begin");
    }

    @Test
    @DisplayName("the data section must end where the last tensor ends: extra bytes and a short header length are rejected")
    void dataSectionCoveredExactly() throws IOException {
        Path extra = raw(tmp.resolve("x"), "{" + entry("a", "F32", "[1]", "[0,4]") + "}", 5);
        assertContains(error(extra), "data section holds 5 bytes", "cover 4");
        Path f = raw(tmp.resolve("short"), "{" + entry("a", "F32", "[2]", "[0,8]") + "}", 8);
        byte[] all = Files.readAllBytes(f);
        ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).putLong(0, ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).getLong() - 1);
        Files.write(f, all);
        assertContains(error(f), "data section holds 9 bytes");
    }

    @Test
    @DisplayName("duplicate tensor names, invalid UTF-8, a non-object header and bad __metadata__ are rejected")
    void duplicatesUtf8AndMetadata() throws IOException {
        Path dup = raw(tmp.resolve("d"), "{" + entry("a", "F32", "[1]", "[0,4]") + "," + entry("a", "F32", "[1]", "[4,8]") + "}", 8);
        assertContains(error(dup), "not valid JSON", "Duplicate field 'a'");
        byte[] h = ("{" + entry("a\u00e9", "F32", "[1]", "[0,4]") + "}").getBytes(StandardCharsets.UTF_8);
        byte[] bad = h.clone();
        for (int i = 0; i < bad.length; i++) {
            if (bad[i] == (byte) 0xc3) {
                bad[i] = (byte) 0xff;
            }
        }
        assertContains(error(raw(tmp.resolve("u"), bad, 4)), "not valid UTF-8");
        assertContains(error(raw(tmp.resolve("arr"), "[1,2]", 0)), "does not start with '{'");
        assertContains(error(raw(tmp.resolve("m1"), "{\"__metadata__\":[1]}", 0)), "__metadata__ must be a map of strings");
        assertContains(error(raw(tmp.resolve("m2"), "{\"__metadata__\":{\"k\":1}}", 0)), "value of 'k' must be a string");
        assertContains(error(raw(tmp.resolve("t"), "{} {}", 0)), "not valid JSON");
    }

    @Test
    @DisplayName("an unknown dtype, an unsupported one and a size that is not product(shape) x dtype size are rejected")
    void dtypesAndSizes() throws IOException {
        assertContains(error(raw(tmp.resolve("q"), "{" + entry("a", "Q4", "[1]", "[0,4]") + "}", 4)), "unknown dtype 'Q4'");
        assertContains(error(raw(tmp.resolve("i"), "{" + entry("a", "I64", "[1]", "[0,8]") + "}", 8)), "unsupported dtype 'I64'");
        assertContains(error(raw(tmp.resolve("s"), "{" + entry("a", "F16", "[3]", "[0,4]") + "}", 4)), "needs 6 bytes", "hold 4");
        assertContains(error(raw(tmp.resolve("big"), "{" + entry("a", "F32", "[4294967296,4294967296]", "[0,4]") + "}", 4)),
                "overflows");
    }

    @Test
    @DisplayName("a directory, a FIFO, a symbolic link loop and a missing file are each named for what they are")
    void notARegularFile() throws IOException, InterruptedException {
        Path d = Files.createDirectories(tmp.resolve("dir.safetensors"));
        assertContains(error(d), "is a directory");
        Path loop = tmp.resolve("loop.safetensors");
        Files.createSymbolicLink(loop, loop);
        assertContains(error(loop), "cannot be read", "symbolic link");
        assertContains(error(tmp.resolve("none.safetensors")), "not found");
        Path fifo = tmp.resolve("fifo.safetensors");
        if (new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor() == 0) {
            assertContains(error(fifo), "not a regular file", "FIFO");
        }
    }

    @Test
    @DisplayName("NaN or infinite weights are rejected naming the tensor and the element, unless allowed explicitly")
    void nonFiniteWeights() throws IOException {
        InfiniModel m = TestModels.randomModel(TestModels.tiny(ModelFamily.LLAMA, 4, 2, MemoryUpdate.LINEAR, 4), 1, DataType.FLOAT);
        Path dir = tmp.resolve("nan");
        m.weights().get(TensorNames.vProj(1)).putScalar(5, Float.NaN);
        HfCheckpoint.save(m, dir);
        String msg = assertThrows(SafeTensorsException.class, () -> HfCheckpoint.load(dir)).getMessage();
        assertContains(msg, "tensor " + TensorNames.vProj(1), "non-finite", "element 5", "--allow-non-finite");
        InfiniModel loaded = HfCheckpoint.load(dir, new HfCheckpoint.Options().allowNonFinite(true));
        assertTrue(Float.isNaN(loaded.weights().get(TensorNames.vProj(1)).getFloat(5)));
        m.weights().get(TensorNames.vProj(1)).putScalar(5, Float.POSITIVE_INFINITY);
        HfCheckpoint.save(m, dir, SafeTensors.Dtype.BF16, Long.MAX_VALUE);
        assertContains(assertThrows(SafeTensorsException.class, () -> HfCheckpoint.load(dir)).getMessage(), "Infinity");
    }

    private Path sharded(String name) throws IOException {
        InfiniModel m = TestModels.randomModel(TestModels.tiny(ModelFamily.GEMMA, 4, 1, MemoryUpdate.LINEAR, 4), 2, DataType.FLOAT);
        Path dir = tmp.resolve(name);
        HfCheckpoint.save(m, dir, SafeTensors.Dtype.F32, 2000);
        return dir;
    }

    @Test
    @DisplayName("a sharded index: a tensor in two shards, one missing from its shard, an empty weight_map are each rejected")
    void shardedIndexErrors() throws IOException {
        Path dir = sharded("two");
        var weightMap = new com.fasterxml.jackson.databind.ObjectMapper().readTree(dir.resolve(HfCheckpoint.INDEX).toFile())
                .get("weight_map");
        String first = weightMap.fieldNames().next();
        Path shard1 = dir.resolve(weightMap.get(first).asText());
        Path last = null;
        for (var it = weightMap.elements(); it.hasNext(); ) {
            last = dir.resolve(it.next().asText());
        }
        assertTrue(!last.equals(shard1), "the fixture needs two shards");
        Map<String, INDArray> extra = new LinkedHashMap<>();
        for (Path p : new Path[] {last, shard1}) {
            try (SafeTensors.Reader r = SafeTensors.open(p)) {
                for (String n : r.tensors().keySet()) {
                    extra.put(n, r.readFloat(n));
                }
            }
        }
        SafeTensors.write(last, extra, SafeTensors.Dtype.F32, null);
        assertContains(assertThrows(SafeTensorsException.class, () -> HfCheckpoint.load(dir)).getMessage(),
                "tensor " + first, "as well as in", shard1.getFileName().toString());
        Path dir2 = sharded("missing");
        Map<String, INDArray> none = new LinkedHashMap<>();
        SafeTensors.write(dir2.resolve(shard1.getFileName()), none, SafeTensors.Dtype.F32, null);
        assertContains(assertThrows(SafeTensorsException.class, () -> HfCheckpoint.load(dir2)).getMessage(),
                "listed in shard " + shard1.getFileName(), "does not hold it");
        Path dir3 = sharded("empty");
        Files.writeString(dir3.resolve(HfCheckpoint.INDEX), "{\"metadata\":{},\"weight_map\":{}}");
        assertContains(assertThrows(SafeTensorsException.class, () -> HfCheckpoint.load(dir3)).getMessage(),
                "weight_map is empty");
        Files.writeString(dir3.resolve(HfCheckpoint.INDEX), "{\"weight_map\":{\"" + first + "\":\"../x.safetensors\"}}");
        assertContains(assertThrows(SafeTensorsException.class, () -> HfCheckpoint.load(dir3)).getMessage(),
                "not a file name");
    }

    @Test
    @DisplayName("a weights file that is a directory is reported as one, not as missing")
    void weightsPathIsDirectory() throws IOException {
        Path dir = tmp.resolve("ckpt");
        InfiniModel m = TestModels.randomModel(TestModels.tiny(ModelFamily.GEMMA, 4, 1, MemoryUpdate.LINEAR, 4), 2, DataType.FLOAT);
        HfCheckpoint.save(m, dir);
        Files.delete(dir.resolve(HfCheckpoint.SINGLE));
        Files.createDirectories(dir.resolve(HfCheckpoint.SINGLE));
        assertContains(assertThrows(SafeTensorsException.class, () -> HfCheckpoint.load(dir)).getMessage(), "is a directory");
        Files.writeString(dir.resolve("x"), "");
        assertContains(assertThrows(SafeTensorsException.class, () -> HfCheckpoint.load(dir.resolve("x"))).getMessage(),
                "is a file, not a directory");
    }
}
