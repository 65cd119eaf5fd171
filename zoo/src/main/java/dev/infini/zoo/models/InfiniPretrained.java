package dev.infini.zoo.models;

import dev.infini.samediff.InfiniConfig;
import org.deeplearning4j.zoo.PretrainedType;

import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The pretrained models of this repository (one registry): each is a Hugging Face checkpoint directory
 * {@code models/<name>/} (config.json, model.safetensors, SHA256SUMS written by {@code models/checksums.sh}) that the
 * zoo jar ships as the classpath resources {@code dev/infini/zoo/pretrained/<name>/}. DL4J's {@link PretrainedType}
 * is fixed to image data sets, so each model names the one type that selects it: {@link PretrainedType#IMAGENET}
 * (DL4J's default, the general-purpose weights) for the byte-level language model, {@link PretrainedType#MNIST} (the
 * small synthetic task) for the recall model.
 */
public enum InfiniPretrained {
    /** A byte-level language model trained on the bundled Moby-Dick corpus ({@code models/byte-lm/README.md}). */
    BYTE_LM("byte-lm", PretrainedType.IMAGENET),
    /** Associative recall across segments, {@code train --corpus recall} ({@code models/recall/README.md}). */
    RECALL("recall", PretrainedType.MNIST);

    /** Where the jar keeps the models: {@code <RESOURCE_ROOT><name>/<file>}. */
    public static final String RESOURCE_ROOT = "dev/infini/zoo/pretrained/";
    /** The checksum manifest of a model directory: {@code sha256  file} lines ({@code sha256sum} format). */
    public static final String SUMS = "SHA256SUMS";

    private static final Pattern SUM_LINE = Pattern.compile("([0-9a-f]{64}) [ *]([^/\\\\]+)");

    private final String id;
    private final PretrainedType type;

    InfiniPretrained(String id, PretrainedType type) {
        this.id = id;
        this.type = type;
    }

    /** The directory name under {@code models/} and in the jar. */
    public String id() { return id; }

    /** The DL4J pretrained type that selects this model in {@code initPretrained(PretrainedType)}. */
    public PretrainedType type() { return type; }

    /** The model selected by a DL4J pretrained type, if any. */
    public static Optional<InfiniPretrained> of(PretrainedType type) {
        return Arrays.stream(values()).filter(p -> p.type == type).findFirst();
    }

    /** The model of a directory name ({@code byte-lm}, {@code recall}); an unknown name is an error listing the names. */
    public static InfiniPretrained named(String name) {
        return Arrays.stream(values()).filter(p -> p.id.equals(name)).findFirst().orElseThrow(() ->
                new IllegalArgumentException("no pretrained model named '" + name + "'; known: "
                        + Arrays.stream(values()).map(InfiniPretrained::id).toList()));
    }

    /** The classpath resource of one of this model's files. */
    public String resource(String file) {
        return RESOURCE_ROOT + id + "/" + file;
    }

    /**
     * The URL of the directory the jar (or {@code target/classes}) holds this model in; empty when not shipped. A
     * model shipped without its {@value #SUMS} is shipped, and refused when loaded (the error says to run
     * {@code models/checksums.sh}).
     */
    public Optional<String> shippedUrl() {
        URL config = InfiniPretrained.class.getClassLoader().getResource(resource("config.json"));
        if (config == null) {
            return Optional.empty();
        }
        String s = config.toString();
        return Optional.of(s.substring(0, s.length() - "config.json".length()));
    }

    /** Whether this build ships the model (its config.json is on the classpath). */
    public boolean shipped() {
        return shippedUrl().isPresent();
    }

    /** The shipped manifest's bytes; an error naming the resource and {@code models/checksums.sh} when absent. */
    public byte[] manifestBytes() throws IOException {
        try (InputStream in = InfiniPretrained.class.getClassLoader().getResourceAsStream(resource(SUMS))) {
            if (in == null) {
                throw new IOException("the pretrained model '" + id + "' has no checksums in this build: no classpath "
                        + "resource " + resource(SUMS) + " (run models/checksums.sh " + id + " and commit models/" + id
                        + "/" + SUMS + ")");
            }
            return in.readAllBytes();
        }
    }

    /** File name to SHA-256 (lower-case hex) from the shipped manifest, in its order. */
    public Map<String, String> checksums() throws IOException {
        return parseManifest(manifestBytes(), resource(SUMS));
    }

    /** Parses {@code sha256sum} output; a malformed line, or a manifest without config.json, is an error naming it. */
    static Map<String, String> parseManifest(byte[] bytes, String source) throws IOException {
        Map<String, String> sums = new LinkedHashMap<>();
        String[] lines = new String(bytes, StandardCharsets.UTF_8).split("\n");
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i].strip();
            if (line.isEmpty()) {
                continue;
            }
            Matcher m = SUM_LINE.matcher(line);
            if (!m.matches()) {
                throw new IOException(source + " line " + (i + 1) + " is not '<sha256>  <file>': " + line);
            }
            sums.put(m.group(2), m.group(1));
        }
        if (!sums.containsKey("config.json")) {
            throw new IOException(source + " lists no config.json");
        }
        return Collections.unmodifiableMap(sums);
    }

    /** The shipped model's configuration (its config.json). */
    public InfiniConfig config() throws IOException {
        try (InputStream in = InfiniPretrained.class.getClassLoader().getResourceAsStream(resource("config.json"))) {
            if (in == null) {
                throw new IOException("the pretrained model '" + id + "' is not in this build: no classpath resource "
                        + resource("config.json"));
            }
            return InfiniConfig.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
    }
}
