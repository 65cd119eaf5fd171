package dev.infini.datasets.corpus;

import org.datavec.api.split.CollectionInputSplit;
import org.datavec.api.split.InputSplit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.stream.Stream;

/**
 * A named set of text files read by a {@link DocumentRecordReader}: one of the bundled corpora
 * ({@link #mobyDick()}, {@link #mobyDickChapters()}, {@link #stateOfTheUnion()}) or the user's own
 * ({@link #fromPath}: a text file, a folder of files, a JSONL file).
 */
public final class Corpus {
    /** Classpath folder of the bundled corpora (gzipped) and their NOTICE.md. */
    public static final String RESOURCE_DIR = "/dev/infini/datasets/corpora/";
    /** Cuts Moby-Dick into its 135 chapters (and the front/back matter). */
    public static final String CHAPTER_REGEX = "(?m)^(?=CHAPTER \\d+\\.)";

    private final String name;
    private final List<URI> locations;
    private final ReaderOptions options;

    private Corpus(String name, List<URI> locations, ReaderOptions options) {
        this.name = Objects.requireNonNull(name);
        this.locations = List.copyOf(locations);
        this.options = Objects.requireNonNull(options);
        if (this.locations.isEmpty()) {
            throw new IllegalArgumentException("corpus " + name + " has no files");
        }
    }

    /** Herman Melville, Moby-Dick, as one long document (CC0; see NOTICE.md). */
    public static Corpus mobyDick() {
        return new Corpus("moby-dick", List.of(resource("moby-dick.txt.gz")), ReaderOptions.defaults());
    }

    /** Moby-Dick cut into one document per chapter, for splits by document. */
    public static Corpus mobyDickChapters() {
        return new Corpus("moby-dick-chapters", List.of(resource("moby-dick.txt.gz")),
                ReaderOptions.defaults().withSplitRegex(CHAPTER_REGEX));
    }

    /** The 233 US State of the Union addresses 1790-2021, one JSONL document each (CC0; see NOTICE.md). */
    public static Corpus stateOfTheUnion() {
        return new Corpus("sotu", List.of(resource("sotu.jsonl.gz")), ReaderOptions.defaults());
    }

    /** A text file, a JSONL file, or a folder of them (searched recursively, sorted, hidden files left out). */
    public static Corpus fromPath(Path path) {
        return fromPath(path, ReaderOptions.defaults());
    }

    public static Corpus fromPath(Path path, ReaderOptions options) {
        Path p = path.toAbsolutePath().normalize();
        if (!Files.exists(p)) {
            throw new IllegalArgumentException("corpus path " + p + (Files.isSymbolicLink(p)
                    ? " is a symbolic link that does not resolve (missing target or a loop)" : " does not exist"));
        }
        if (!Files.isDirectory(p) && !Files.isRegularFile(p)) {
            throw new IllegalArgumentException("corpus path " + p + " is not a regular file or folder (a FIFO, socket or device)");
        }
        List<URI> uris = new ArrayList<>();
        if (Files.isDirectory(p)) {
            try (Stream<Path> s = Files.walk(p)) {
                s.filter(Files::isRegularFile)
                        .filter(f -> !p.relativize(f).toString().startsWith(".") && !f.getFileName().toString().startsWith("."))
                        .sorted()
                        .forEach(f -> uris.add(f.toUri()));
            } catch (IOException e) {
                throw new UncheckedIOException("cannot list corpus folder " + p, e);
            }
            if (uris.isEmpty()) {
                throw new IllegalArgumentException("corpus folder " + p + " contains no files");
            }
        } else {
            uris.add(p.toUri());
        }
        return new Corpus(p.getFileName() == null ? p.toString() : p.getFileName().toString(), uris, options);
    }

    /** Any DataVec input split (its locations are read in order). */
    public static Corpus of(String name, InputSplit split, ReaderOptions options) {
        return new Corpus(name, List.of(split.locations()), options);
    }

    public Corpus withOptions(ReaderOptions newOptions) {
        return new Corpus(name, locations, newOptions);
    }

    public String name() {
        return name;
    }

    public List<URI> locations() {
        return locations;
    }

    public ReaderOptions options() {
        return options;
    }

    public InputSplit inputSplit() {
        return new CollectionInputSplit(locations);
    }

    /** A new reader, initialized on this corpus' files. */
    public DocumentRecordReader newReader() {
        DocumentRecordReader r = new DocumentRecordReader(options);
        r.initialize(inputSplit());
        return r;
    }

    /**
     * Identity for cache keys: reader options plus, per file, path, size and modification time for local files
     * and a SHA-256 of the content otherwise (classpath resources inside a jar).
     */
    public String fingerprint() {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(options.key().getBytes(java.nio.charset.StandardCharsets.UTF_8));
            for (URI u : locations) {
                StringBuilder sb = new StringBuilder("|").append(u);
                if ("file".equals(u.getScheme())) {
                    Path f = Path.of(u);
                    sb.append('|').append(Files.size(f)).append('|').append(Files.getLastModifiedTime(f).toMillis());
                    md.update(sb.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
                } else {
                    md.update(sb.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
                    try (var in = u.toURL().openStream()) {
                        md.update(in.readAllBytes());
                    }
                }
            }
            return HexFormat.of().formatHex(md.digest()).substring(0, 24);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot fingerprint corpus " + name + ": " + e.getMessage(), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static URI resource(String file) {
        URL url = Corpus.class.getResource(RESOURCE_DIR + file);
        if (url == null) {
            throw new IllegalStateException("bundled corpus " + RESOURCE_DIR + file + " is missing from the classpath");
        }
        try {
            return url.toURI();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public String toString() {
        return "Corpus(" + name + ", " + locations.size() + " file(s))";
    }
}
