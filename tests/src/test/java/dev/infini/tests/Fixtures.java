package dev.infini.tests;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/** The repository's {@code fixtures/} folder (set by the build as {@code infini.fixtures}). */
final class Fixtures {
    private Fixtures() {
    }

    static Path root() {
        String p = System.getProperty("infini.fixtures");
        Path dir = p != null ? Paths.get(p) : Paths.get("..", "fixtures");
        if (!Files.isDirectory(dir)) {
            throw new IllegalStateException("fixtures folder not found at " + dir.toAbsolutePath());
        }
        return dir;
    }

    static Path golden(String name) {
        return root().resolve("golden").resolve(name);
    }
}
