package dev.infini.zoo.models;

import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.ModelFamily;
import dev.infini.samediff.Presets;
import dev.infini.zoo.dl4j.InfiniGraph;
import dev.infini.samediff.hf.HfCheckpoint;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;

/**
 * A zoo model in the style of Deeplearning4j's {@code ZooModel}: a builder with hyper-parameters and
 * defaults, {@link #init()} for a trainable {@link ComputationGraph} ({@link InfiniGraph} form), and
 * {@link #initPretrained(Path)} / {@link #initPretrained(URI, String)} for Hugging Face checkpoints.
 * {@link InfiniGemma} and {@link InfiniLlama} fix the family.
 */
public abstract class InfiniZooModel {
    /** Sub-directory of DL4J's resource directory ({@code ~/.deeplearning4j}) holding downloads. */
    public static final String CACHE_DIR = "infini-zoo";

    private final ModelFamily family;
    private final String preset;
    private final Integer segmentSize;
    private final MemoryUpdate memoryUpdate;
    private final IUpdater updater;
    private final IUpdater gateUpdater;
    private final double weightDecay;
    private final boolean checkpointing;
    private final long seed;
    private final Path cacheDir;

    protected InfiniZooModel(ModelFamily family, Builder<?> b) {
        String name = b.preset != null ? b.preset : (family == ModelFamily.GEMMA ? "micro" : "micro-llama");
        ModelFamily presetFamily = Presets.get(name).family();
        if (presetFamily != family) {
            throw new IllegalArgumentException("preset " + name + " is a " + presetFamily + " model, not " + family);
        }
        this.family = family;
        this.preset = name;
        this.segmentSize = b.segmentSize;
        this.memoryUpdate = b.memoryUpdate;
        this.updater = b.updater;
        this.gateUpdater = b.gateUpdater;
        this.weightDecay = b.weightDecay;
        this.checkpointing = b.checkpointing;
        this.seed = b.seed;
        this.cacheDir = b.cacheDir;
    }

    /**
     * Hyper-parameters with defaults: preset {@code micro} (Gemma) or {@code micro-llama} (Llama), Adam 1e-3, gates
     * Adam 1e-2, checkpointing on.
     */
    @SuppressWarnings("unchecked")
    public abstract static class Builder<B extends Builder<B>> {
        String preset;
        Integer segmentSize;
        MemoryUpdate memoryUpdate;
        IUpdater updater = new Adam(1e-3);
        IUpdater gateUpdater = new Adam(1e-2);
        double weightDecay = 0.0;
        boolean checkpointing = true;
        long seed = 42;
        Path cacheDir;

        /** A name from the project's preset table ({@link Presets}), e.g. {@code gemma-2b}, {@code micro-llama}. */
        public B preset(String name) { Presets.get(name); this.preset = name; return (B) this; }
        public B segmentSize(int s) { this.segmentSize = s; return (B) this; }
        public B memoryUpdate(MemoryUpdate m) { this.memoryUpdate = m; return (B) this; }
        public B updater(IUpdater u) { this.updater = u; return (B) this; }
        public B gateUpdater(IUpdater u) { this.gateUpdater = u; return (B) this; }
        public B weightDecay(double wd) { this.weightDecay = wd; return (B) this; }
        /** Per-segment gradient checkpointing in the decoder layers. */
        public B checkpointing(boolean on) { this.checkpointing = on; return (B) this; }
        public B seed(long s) { this.seed = s; return (B) this; }
        /** Download cache (default: DL4J's resource directory + {@value #CACHE_DIR}). */
        public B cacheDir(Path dir) { this.cacheDir = dir; return (B) this; }

        public abstract InfiniZooModel build();
    }

    /** The model config of the preset with this builder's overrides. */
    public InfiniConfig config() {
        InfiniConfig.Builder b = Presets.get(preset).toBuilder();
        if (segmentSize != null) {
            b.segmentSize(segmentSize);
        }
        if (memoryUpdate != null) {
            b.memoryUpdate(memoryUpdate);
        }
        return b.build();
    }

    private InfiniGraph.Options options() {
        return new InfiniGraph.Options().updater(updater).gateUpdater(gateUpdater).weightDecay(weightDecay)
                .checkpointing(checkpointing).seed(seed);
    }

    /** A randomly initialised, trainable graph of this preset. */
    public ComputationGraph init() {
        return InfiniGraph.create(config(), options());
    }

    /** The graph form of a Hugging Face checkpoint directory (segment size and rule overrides applied). */
    public ComputationGraph initPretrained(Path checkpointDir) throws IOException {
        HfCheckpoint.Options o = new HfCheckpoint.Options().segmentSize(segmentSize).memoryUpdate(memoryUpdate);
        InfiniModel m = HfCheckpoint.load(checkpointDir, o);
        if (m.config().family() != family) {
            throw new IllegalArgumentException(checkpointDir + " holds a " + m.config().family() + " model, not " + family);
        }
        return InfiniGraph.fromModel(m, options());
    }

    /**
     * A checkpoint given by URL (http(s) or file): a zip of the checkpoint directory's files, downloaded
     * once into the cache (under its SHA-256), checked against {@code sha256}, unpacked and loaded.
     *
     * @throws IOException when the download's SHA-256 differs (the message names both hashes)
     */
    public ComputationGraph initPretrained(URI url, String sha256) throws IOException {
        return initPretrained(fetch(url, sha256));
    }

    /** Downloads (once), checks and unpacks a checkpoint archive; returns the unpacked directory. */
    public Path fetch(URI url, String sha256) throws IOException {
        String want = sha256.trim().toLowerCase();
        Path root = cacheDir != null ? cacheDir : defaultCacheDir();
        Path dir = root.resolve(want);
        Path done = dir.resolve(".complete");
        if (Files.exists(done)) {
            return dir.resolve("checkpoint");
        }
        Files.createDirectories(dir);
        Path archive = dir.resolve("download.zip");
        Path part = dir.resolve("download.zip.part");
        try (InputStream in = url.toURL().openStream()) {
            Files.copy(in, part, StandardCopyOption.REPLACE_EXISTING);
        }
        String got = sha256(part);
        if (!got.equals(want)) {
            Files.deleteIfExists(part);
            throw new IOException("SHA-256 mismatch for " + url + ": expected " + want + ", got " + got);
        }
        Files.move(part, archive, StandardCopyOption.REPLACE_EXISTING);
        Path out = dir.resolve("checkpoint");
        Files.createDirectories(out);
        try (ZipInputStream zin = new ZipInputStream(Files.newInputStream(archive))) {
            for (ZipEntry e; (e = zin.getNextEntry()) != null; ) {
                if (e.isDirectory()) {
                    continue;
                }
                Path target = out.resolve(Path.of(e.getName()).getFileName().toString()).normalize();
                if (!target.startsWith(out)) {
                    throw new IOException("bad entry in " + url + ": " + e.getName());
                }
                Files.copy(zin, target, StandardCopyOption.REPLACE_EXISTING);
            }
        }
        Files.delete(archive);
        Files.createFile(done);
        return out;
    }

    static Path defaultCacheDir() {
        return org.deeplearning4j.common.resources.DL4JResources.getBaseDirectory().toPath().resolve(CACHE_DIR);
    }

    static String sha256(Path file) throws IOException {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            try (InputStream in = Files.newInputStream(file)) {
                byte[] buf = new byte[1 << 16];
                for (int n; (n = in.read(buf)) > 0; ) {
                    md.update(buf, 0, n);
                }
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public ModelFamily family() { return family; }
    /** The preset's name in {@link Presets}. */
    public String preset() { return preset; }
}
