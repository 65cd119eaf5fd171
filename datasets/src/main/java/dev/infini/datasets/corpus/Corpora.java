package dev.infini.datasets.corpus;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The one registry of corpus names, used by every command that takes {@code --corpus}: a bundled corpus by name,
 * or a user's text file, JSONL file or folder by path ({@link Corpus#fromPath}). One name means one corpus
 * everywhere:
 * <ul>
 *   <li>{@code moby-dick}: Moby-Dick cut into one document per chapter ({@link Corpus#mobyDickChapters}), so that
 *       train/validation splits are by chapter; {@code moby-dick-chapters} is another name for it;</li>
 *   <li>{@code moby-dick-book}: Moby-Dick as one long document ({@link Corpus#mobyDick}); held-out text is its
 *       tail;</li>
 *   <li>{@code sotu}: the 233 State of the Union addresses, one document each ({@link Corpus#stateOfTheUnion});
 *       {@code state-of-the-union} is another name for it.</li>
 * </ul>
 */
public final class Corpora {
    /** The corpus of {@code train} without {@code --corpus}. */
    public static final String DEFAULT = "moby-dick";

    private static final Map<String, Supplier<Corpus>> BUNDLED = new LinkedHashMap<>();
    private static final Map<String, String> ALIASES = Map.of("moby-dick-chapters", "moby-dick", "state-of-the-union", "sotu");

    static {
        BUNDLED.put("moby-dick", Corpus::mobyDickChapters);
        BUNDLED.put("moby-dick-book", Corpus::mobyDick);
        BUNDLED.put("sotu", Corpus::stateOfTheUnion);
    }

    private Corpora() {
    }

    /** The bundled corpora's names, in the order help texts list them (aliases left out). */
    public static List<String> names() {
        return List.copyOf(BUNDLED.keySet());
    }

    /** Whether {@code name} is a bundled corpus's name or alias. */
    public static boolean isBundled(String name) {
        return BUNDLED.containsKey(ALIASES.getOrDefault(name, name));
    }

    /**
     * The bundled corpus of that name, else the file or folder at that path; anything else is an error naming the
     * {@code --corpus} value and listing the bundled names.
     */
    public static Corpus get(String nameOrPath) {
        if (nameOrPath == null || nameOrPath.isBlank()) {
            throw new IllegalArgumentException("no corpus given; bundled corpora: " + String.join(", ", names()));
        }
        Supplier<Corpus> bundled = BUNDLED.get(ALIASES.getOrDefault(nameOrPath, nameOrPath));
        if (bundled != null) {
            return bundled.get();
        }
        Path p = Path.of(nameOrPath);
        if (!Files.exists(p)) {
            throw new IllegalArgumentException("--corpus " + nameOrPath + ": neither a bundled corpus ("
                    + String.join(", ", names()) + ") nor an existing file or folder");
        }
        return Corpus.fromPath(p);
    }
}
