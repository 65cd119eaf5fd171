package dev.infini.zoo.models;

import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.ModelFamily;
import dev.infini.samediff.Presets;
import dev.infini.zoo.dl4j.InfiniGraph;
import dev.infini.samediff.hf.HfCheckpoint;
import org.deeplearning4j.common.resources.DL4JResources;
import org.deeplearning4j.common.resources.ResourceType;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.zoo.ModelMetaData;
import org.deeplearning4j.zoo.PretrainedType;
import org.deeplearning4j.zoo.ZooModel;
import org.deeplearning4j.zoo.ZooType;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.EnumMap;
import java.util.Map;
import java.util.Optional;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;

/**
 * A Deeplearning4j {@link ZooModel}: a builder with hyper-parameters and defaults (the preset names are the core's
 * one table, {@link Presets}), {@link #init()} for a trainable {@link ComputationGraph} ({@link InfiniGraph} form,
 * stable vertex names), {@link #initPretrained()} / {@link #initPretrained(PretrainedType)} for the models this
 * repository ships ({@link InfiniPretrained}, offline, checksums verified), and {@link #initPretrained(Path)} /
 * {@link #initPretrained(URI, String)} for any Hugging Face checkpoint. {@link InfiniGemma} and {@link InfiniLlama}
 * fix the family.
 *
 * <p>The DL4J contract for pretrained weights: {@link #pretrainedUrl(PretrainedType)} is the directory URL the
 * model's files are read from (the jar's resources, or a user-hosted copy given by {@link Builder#pretrainedUrl} or
 * the system property {@value #URL_PROPERTY}{@code <name>}), {@link #pretrainedChecksum(PretrainedType)} the
 * Adler32 of its {@value InfiniPretrained#SUMS} manifest. The manifest is copied first into DL4J's cache directory
 * ({@code DL4JResources.getDirectory(ZOO_MODEL, modelName())}, or {@link Builder#cacheDir}) and checked, then every
 * file it lists, checked by SHA-256.
 */
public abstract class InfiniZooModel extends ZooModel<InfiniZooModel> {
    /** System property prefix of a user-hosted copy: {@code -Dinfini.zoo.pretrained.byte-lm=https://host/byte-lm/}. */
    public static final String URL_PROPERTY = "infini.zoo.pretrained.";
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
    private final Map<InfiniPretrained, String> urls;
    private final Map<InfiniPretrained, Long> checksums;
    private int[][] inputShape;

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
        this.urls = new EnumMap<>(b.urls);
        this.checksums = new EnumMap<>(b.checksums);
        this.inputShape = new int[][] {{config().segmentSize()}};
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
        final Map<InfiniPretrained, String> urls = new EnumMap<>(InfiniPretrained.class);
        final Map<InfiniPretrained, Long> checksums = new EnumMap<>(InfiniPretrained.class);

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
        /**
         * Cache of downloads and of the pretrained models' verified files (default: DL4J's directories,
         * {@code ~/.deeplearning4j/models/<modelName>/} for the pretrained models).
         */
        public B cacheDir(Path dir) { this.cacheDir = dir; return (B) this; }

        /**
         * A user-hosted copy of a pretrained model: the directory URL (file, http or https) holding the same files
         * as {@code models/<name>/}, its {@value InfiniPretrained#SUMS} included; checked against the jar's manifest.
         */
        public B pretrainedUrl(InfiniPretrained model, String directoryUrl) {
            this.urls.put(model, directoryUrl.endsWith("/") ? directoryUrl : directoryUrl + "/");
            return (B) this;
        }

        /** A user-hosted copy with its own files: {@code adler32} is the Adler32 of its {@value InfiniPretrained#SUMS}. */
        public B pretrainedUrl(InfiniPretrained model, String directoryUrl, long adler32) {
            this.checksums.put(model, adler32);
            return pretrainedUrl(model, directoryUrl);
        }

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
    @Override
    public ComputationGraph init() {
        return InfiniGraph.create(config(), options());
    }

    /** {@link #initPretrained(PretrainedType)} of DL4J's default type: the byte-level language model. */
    @Override
    public ComputationGraph initPretrained() throws IOException {
        return initPretrained(PretrainedType.IMAGENET);
    }

    /**
     * The graph form of a pretrained model of this repository ({@link InfiniPretrained#of}: IMAGENET is the byte-level
     * language model, MNIST the recall model), read offline from the jar unless a user-hosted copy is configured;
     * every file checked (see the class comment). The builder's segment size and memory rule overrides apply.
     *
     * @throws UnsupportedOperationException when this family has no pretrained model of that type in this build
     */
    @Override
    public ComputationGraph initPretrained(PretrainedType type) throws IOException {
        return initPretrained(pretrainedDirectory(type));
    }

    /** The graph form of one of this repository's pretrained models. */
    public ComputationGraph initPretrained(InfiniPretrained model) throws IOException {
        return initPretrained(model.type());
    }

    /** The verified local directory (config.json, model.safetensors, ...) of a pretrained model: the checkpoint itself. */
    public Path pretrainedDirectory(PretrainedType type) throws IOException {
        InfiniPretrained p = pretrained(type).orElseThrow(() -> new UnsupportedOperationException(
                modelName() + " has no pretrained model of type " + type + ": " + pretrainedNote(type)));
        Path root = cacheDir != null ? cacheDir
                : DL4JResources.getDirectory(ResourceType.ZOO_MODEL, modelName()).toPath();
        long sum = pretrainedChecksum(type);
        return PretrainedFiles.materialise(pretrainedUrl(type), sum,
                root.resolve(p.id() + "-" + Long.toHexString(sum)));
    }

    /** The same for one of this repository's pretrained models. */
    public Path pretrainedDirectory(InfiniPretrained model) throws IOException {
        return pretrainedDirectory(model.type());
    }

    /** The model of this type, if this family has it (shipped in this build, or a user-hosted copy configured). */
    private Optional<InfiniPretrained> pretrained(PretrainedType type) {
        return InfiniPretrained.of(type).filter(p -> userUrl(p) != null || shippedFamily(p) == family);
    }

    private String pretrainedNote(PretrainedType type) {
        Optional<InfiniPretrained> p = InfiniPretrained.of(type);
        if (p.isEmpty()) {
            return "the types are " + java.util.Arrays.stream(InfiniPretrained.values())
                    .map(v -> v.type() + " (" + v.id() + ")").toList();
        }
        ModelFamily shipped = shippedFamily(p.get());
        return shipped == null ? "models/" + p.get().id() + "/ is not in this build (no classpath resource "
                + p.get().resource("config.json") + ")"
                : "models/" + p.get().id() + " is a " + shipped + " model, not " + family;
    }

    private static ModelFamily shippedFamily(InfiniPretrained p) {
        try {
            return p.shipped() ? p.config().family() : null;
        } catch (IOException | RuntimeException e) {
            throw new IllegalStateException("cannot read the shipped " + p.resource("config.json") + ": " + e.getMessage(), e);
        }
    }

    private String userUrl(InfiniPretrained p) {
        String u = urls.get(p);
        if (u == null) {
            u = System.getProperty(URL_PROPERTY + p.id());
            if (u != null && !u.endsWith("/")) {
                u = u + "/";
            }
        }
        return u;
    }

    /** The directory URL the pretrained model's files are read from (a user-hosted copy, else the jar); null if none. */
    @Override
    public String pretrainedUrl(PretrainedType type) {
        return pretrained(type).map(p -> userUrl(p) != null ? userUrl(p) : p.shippedUrl().orElse(null)).orElse(null);
    }

    /** The Adler32 of the model's {@value InfiniPretrained#SUMS} manifest (0 when there is no such model). */
    @Override
    public long pretrainedChecksum(PretrainedType type) {
        Optional<InfiniPretrained> p = pretrained(type);
        if (p.isEmpty()) {
            return 0;
        }
        Long given = checksums.get(p.get());
        if (given != null) {
            return given;
        }
        try {
            return PretrainedFiles.adler32(p.get().manifestBytes());
        } catch (IOException e) {
            throw new IllegalStateException(modelName() + ": a user-hosted copy of " + p.get().id()
                    + " needs its checksum (Builder.pretrainedUrl(model, url, adler32)): " + e.getMessage(), e);
        }
    }

    @Override
    public boolean pretrainedAvailable(PretrainedType type) {
        return pretrained(type).isPresent();
    }

    /** Input: token ids {@code [batch, T]} of any length T (one segment shown); output: logits over the vocabulary. */
    @Override
    public ModelMetaData metaData() {
        return new ModelMetaData(inputShape, config().vocabSize(), ZooType.RNN);
    }

    /**
     * The sequence length shown in {@link #metaData()}: {@code {{T}}}. The graph takes any length, so this changes
     * nothing else.
     */
    @Override
    public void setInputShape(int[][] shape) {
        if (shape == null || shape.length != 1 || shape[0].length != 1 || shape[0][0] < 1) {
            throw new IllegalArgumentException("the input shape of " + modelName()
                    + " is {{T}}: one input, token ids of length T >= 1; got " + java.util.Arrays.deepToString(shape));
        }
        this.inputShape = new int[][] {shape[0].clone()};
    }

    @Override
    public Class<? extends Model> modelType() {
        return ComputationGraph.class;
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
        return DL4JResources.getBaseDirectory().toPath().resolve(CACHE_DIR);
    }

    static String sha256(Path file) throws IOException {
        return PretrainedFiles.sha256(file);
    }

    public ModelFamily family() { return family; }
    /** The preset's name in {@link Presets}. */
    public String preset() { return preset; }
}
