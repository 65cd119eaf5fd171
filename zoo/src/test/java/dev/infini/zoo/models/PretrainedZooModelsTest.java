package dev.infini.zoo.models;

import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.hf.HfCheckpoint;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.zoo.PretrainedType;
import org.deeplearning4j.zoo.ZooModel;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The DL4J {@link ZooModel} contract of the zoo models: pretrained models read offline from the jar, every file
 * checked; a user-hosted copy (a directory URL) checked by the Adler32 of its manifest, then by SHA-256 per file.
 * The user-hosted cases run on a random checkpoint written here, so they never depend on the shipped models.
 */
class PretrainedZooModelsTest {

    /** A model shipped in this build (models/NAME/ packed into the jar), or the test is skipped saying so. */
    static InfiniPretrained requireShipped(InfiniPretrained p) {
        assumeTrue(p.shipped(), "models/" + p.id() + "/ is not in this build (no classpath resource "
                + p.resource("config.json") + "): the pretrained model files have not been committed yet");
        return p;
    }

    /** The zoo class of the shipped model's family. */
    static InfiniZooModel zooFor(InfiniPretrained p, Path cache) throws IOException {
        return switch (p.config().family()) {
            case GEMMA -> InfiniGemma.builder().cacheDir(cache).build();
            case LLAMA -> InfiniLlama.builder().cacheDir(cache).build();
        };
    }

    @Test
    @DisplayName("initPretrained() reads the shipped byte-level LM offline into the cache and gives the checkpoint's logits")
    void initPretrainedOfflineFromTheJar(@TempDir Path tmp) throws IOException {
        InfiniPretrained p = requireShipped(InfiniPretrained.BYTE_LM);
        InfiniZooModel zoo = zooFor(p, tmp);
        assertTrue(zoo.pretrainedAvailable(PretrainedType.IMAGENET));
        String url = zoo.pretrainedUrl(PretrainedType.IMAGENET);
        assertTrue(url.startsWith("file:") || url.startsWith("jar:"), "read from the classpath, not a network: " + url);
        ComputationGraph g = zoo.initPretrained();
        Path dir = zoo.pretrainedDirectory(PretrainedType.IMAGENET);
        assertTrue(dir.startsWith(tmp), dir.toString());
        InfiniModel m = HfCheckpoint.load(dir);
        ZooModelsTest.assertSameLogits(m, g);
    }

    @Test
    @DisplayName("pretrainedChecksum is the Adler32 of the shipped SHA256SUMS; it lists config.json and the weights")
    void checksumIsTheAdler32OfTheManifest() throws IOException {
        InfiniPretrained p = requireShipped(InfiniPretrained.RECALL);
        Map<String, String> sums = p.checksums();
        assertTrue(sums.containsKey("config.json") && sums.keySet().stream().anyMatch(f -> f.endsWith(".safetensors")),
                sums.toString());
        InfiniZooModel zoo = zooFor(p, null);
        assertEquals(PretrainedFiles.adler32(p.manifestBytes()), zoo.pretrainedChecksum(PretrainedType.MNIST));
        assertTrue(zoo.pretrainedChecksum(PretrainedType.MNIST) != 0);
    }

    @Test
    @DisplayName("a zoo model is a DL4J ZooModel; a type without a model is unavailable and an error listing the types")
    void isADl4jZooModel() {
        ZooModel<?> zoo = InfiniLlama.builder().preset("micro-llama").build();
        assertEquals("infinillama", zoo.modelName());
        assertEquals(ComputationGraph.class, zoo.modelType());
        assertEquals(260, zoo.metaData().getNumOutputs());
        assertFalse(zoo.pretrainedAvailable(PretrainedType.VGGFACE));
        assertEquals(null, zoo.pretrainedUrl(PretrainedType.VGGFACE));
        assertEquals(0, zoo.pretrainedChecksum(PretrainedType.VGGFACE));
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                () -> zoo.initPretrained(PretrainedType.VGGFACE));
        assertTrue(e.getMessage().contains("VGGFACE") && e.getMessage().contains("IMAGENET (byte-lm)"), e.getMessage());
        zoo.setInputShape(new int[][] {{128}});
        assertEquals(128, zoo.metaData().getInputShape()[0][0]);
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                () -> zoo.setInputShape(new int[][] {{3, 224, 224}}));
        assertTrue(bad.getMessage().contains("[[3, 224, 224]]"), bad.getMessage());
    }

    /** A random checkpoint and its SHA256SUMS in {@code dir}; returns the Adler32 of the manifest. */
    static long hostedCopy(Path dir) throws IOException {
        ZooModelsTest.saved(dir);
        StringBuilder sums = new StringBuilder();
        try (var files = Files.list(dir)) {
            for (Path f : files.sorted().toList()) {
                sums.append(PretrainedFiles.sha256(f)).append("  ").append(f.getFileName()).append('\n');
            }
        }
        byte[] manifest = sums.toString().getBytes(StandardCharsets.UTF_8);
        Files.write(dir.resolve(InfiniPretrained.SUMS), manifest);
        return PretrainedFiles.adler32(manifest);
    }

    @Test
    @DisplayName("a user-hosted copy (directory URL + Adler32) is copied into the cache, checked and loaded")
    void userHostedCopy(@TempDir Path tmp) throws IOException {
        Path hosted = tmp.resolve("hosted");
        long adler = hostedCopy(hosted);
        InfiniGemma zoo = InfiniGemma.builder().cacheDir(tmp.resolve("cache"))
                .pretrainedUrl(InfiniPretrained.RECALL, hosted.toUri().toString(), adler).build();
        assertTrue(zoo.pretrainedAvailable(PretrainedType.MNIST));
        assertEquals(hosted.toUri().toString(), zoo.pretrainedUrl(PretrainedType.MNIST));
        assertEquals(adler, zoo.pretrainedChecksum(PretrainedType.MNIST));
        InfiniModel want = HfCheckpoint.load(hosted);
        ZooModelsTest.assertSameLogits(want, zoo.initPretrained(InfiniPretrained.RECALL));
        Path cached = zoo.pretrainedDirectory(InfiniPretrained.RECALL);
        assertTrue(cached.startsWith(tmp.resolve("cache")), cached.toString());
        Map<String, String> names = Files.list(cached).collect(Collectors.toMap(f -> f.getFileName().toString(), f -> ""));
        assertTrue(names.keySet().containsAll(Files.list(hosted).map(f -> f.getFileName().toString()).toList()), names.toString());
    }

    @Test
    @DisplayName("a user-hosted copy with a changed file, or another manifest, is refused naming both checksums")
    void tamperedCopiesAreRefused(@TempDir Path tmp) throws IOException {
        Path hosted = tmp.resolve("hosted");
        long adler = hostedCopy(hosted);
        InfiniGemma wrongSum = InfiniGemma.builder().cacheDir(tmp.resolve("c1"))
                .pretrainedUrl(InfiniPretrained.RECALL, hosted.toUri().toString(), adler + 1).build();
        IOException e = assertThrows(IOException.class, () -> wrongSum.initPretrained(PretrainedType.MNIST));
        assertTrue(e.getMessage().contains("Adler32 " + adler) && e.getMessage().contains("expected " + (adler + 1)), e.getMessage());

        Path weights = hosted.resolve(HfCheckpoint.SINGLE);
        String good = PretrainedFiles.sha256(weights);
        byte[] b = Files.readAllBytes(weights);
        b[b.length - 1] ^= 1;
        Files.write(weights, b);
        InfiniGemma tampered = InfiniGemma.builder().cacheDir(tmp.resolve("c2"))
                .pretrainedUrl(InfiniPretrained.RECALL, hosted.toUri().toString(), adler).build();
        IOException t = assertThrows(IOException.class, () -> tampered.initPretrained(PretrainedType.MNIST));
        assertTrue(t.getMessage().contains(good) && t.getMessage().contains(PretrainedFiles.sha256(weights))
                && t.getMessage().contains(HfCheckpoint.SINGLE), t.getMessage());
        try (var left = Files.list(tmp.resolve("c2"))) {
            assertTrue(left.flatMap(d -> {
                try {
                    return Files.list(d);
                } catch (IOException x) {
                    throw new java.io.UncheckedIOException(x);
                }
            }).noneMatch(f -> f.toString().endsWith(".part")), "no partial download is left");
        }
    }

    @Test
    @DisplayName("a malformed SHA256SUMS line is an error naming the line")
    void malformedManifest() {
        IOException e = assertThrows(IOException.class, () -> InfiniPretrained.parseManifest(
                "abc  config.json\n".getBytes(StandardCharsets.UTF_8), "models/x/SHA256SUMS"));
        assertTrue(e.getMessage().contains("models/x/SHA256SUMS line 1"), e.getMessage());
        IllegalArgumentException n = assertThrows(IllegalArgumentException.class, () -> InfiniPretrained.named("gpt"));
        assertTrue(n.getMessage().contains("byte-lm") && n.getMessage().contains("recall"), n.getMessage());
    }
}
