package dev.infini.zoo.models;

import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.ModelFamily;
import dev.infini.samediff.SegmentRunner;
import dev.infini.samediff.TestModels;
import dev.infini.samediff.hf.HfCheckpoint;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ZooModelsTest {
    @Test
    @DisplayName("presets have the published shapes; init() gives a trainable graph")
    void presets() {
        assertEquals(18, InfiniGemma.builder().preset("gemma-2b").build().config().numLayers());
        assertEquals(256000, InfiniGemma.builder().preset("gemma-7b").build().config().vocabSize());
        assertEquals(8, InfiniLlama.builder().preset("llama-3.2-1b").build().config().numKvHeads());
        assertEquals(22, InfiniLlama.builder().preset("tinyllama-1.1b").build().config().numLayers());
        assertThrows(IllegalArgumentException.class, () -> InfiniLlama.builder().preset("gemma-2b").build());
        ComputationGraph g = InfiniLlama.builder().preset("micro-llama").segmentSize(8).build().init();
        assertEquals(InfiniLlama.builder().build().config().parameterCount(), g.numParams());
    }

    static InfiniModel saved(Path dir) throws IOException {
        InfiniModel m = TestModels.randomModel(TestModels.tiny(ModelFamily.GEMMA, 4, 1,
                dev.infini.samediff.MemoryUpdate.LINEAR, 4), 3, DataType.FLOAT);
        HfCheckpoint.save(m, dir);
        return m;
    }

    static void assertSameLogits(InfiniModel m, ComputationGraph g) {
        INDArray ids = TestModels.randomIds(1, 9, m.config().vocabSize(), 1);
        INDArray want = new SegmentRunner(m).run(ids).logits();
        INDArray got = g.outputSingle(ids.castTo(DataType.FLOAT));
        assertTrue(TestModels.relError(got, want) < 1e-4);
    }

    @Test
    @DisplayName("initPretrained from a local checkpoint directory")
    void fromDirectory(@TempDir Path tmp) throws IOException {
        InfiniModel m = saved(tmp.resolve("ckpt"));
        assertSameLogits(m, InfiniGemma.builder().build().initPretrained(tmp.resolve("ckpt")));
        assertThrows(IllegalArgumentException.class, () -> InfiniLlama.builder().build().initPretrained(tmp.resolve("ckpt")));
    }

    @Test
    @DisplayName("initPretrained from a file:// URL: downloaded once into the cache, SHA-256 checked; a bad hash names both")
    void fromUrl(@TempDir Path tmp) throws IOException {
        InfiniModel m = saved(tmp.resolve("ckpt"));
        Path zip = tmp.resolve("ckpt.zip");
        try (ZipOutputStream z = new ZipOutputStream(Files.newOutputStream(zip))) {
            try (var files = Files.list(tmp.resolve("ckpt"))) {
                for (Path f : files.toList()) {
                    z.putNextEntry(new ZipEntry("ckpt/" + f.getFileName()));
                    Files.copy(f, z);
                    z.closeEntry();
                }
            }
        }
        String sha = InfiniZooModel.sha256(zip);
        InfiniGemma zoo = InfiniGemma.builder().cacheDir(tmp.resolve("cache")).build();
        assertSameLogits(m, zoo.initPretrained(zip.toUri(), sha));
        Files.delete(zip); // second time from the cache
        assertSameLogits(m, zoo.initPretrained(zip.toUri(), sha));

        Path other = tmp.resolve("other.zip");
        try (OutputStream o = Files.newOutputStream(other)) {
            o.write(new byte[] {1, 2, 3});
        }
        String bad = "00".repeat(32);
        IOException e = assertThrows(IOException.class, () -> zoo.initPretrained(other.toUri(), bad));
        assertTrue(e.getMessage().contains(bad) && e.getMessage().contains(InfiniZooModel.sha256(other)), e.getMessage());
    }
}
