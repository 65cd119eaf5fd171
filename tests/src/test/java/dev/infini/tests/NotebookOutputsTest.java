package dev.infini.tests;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** The committed notebooks show paths relative to the repository: no machine's directories in their outputs. */
class NotebookOutputsTest {
    private static final Pattern MACHINE_PATH = Pattern.compile("(?<![\\w.~])/(work|tmp|root|home|Users)/[^\\s\"]*");

    @Test
    @DisplayName("the notebooks, outputs included, name no /work, /tmp, /root, /home or /Users path (notebooks/relative-paths.py)")
    void notebookOutputsHaveNoMachinePaths() throws IOException {
        Path notebooks = Fixtures.root().getParent().resolve("notebooks");
        List<String> found = new ArrayList<>();
        try (Stream<Path> files = Files.list(notebooks)) {
            for (Path nb : files.filter(f -> f.toString().endsWith(".ipynb")).sorted().toList()) {
                List<String> lines = Files.readAllLines(nb, StandardCharsets.UTF_8);
                for (int i = 0; i < lines.size(); i++) {
                    Matcher m = MACHINE_PATH.matcher(lines.get(i));
                    if (m.find()) {
                        found.add(nb.getFileName() + ":" + (i + 1) + ": " + m.group());
                    }
                }
            }
        }
        assertTrue(found.size() == 0, "machine paths in notebooks: " + found);
    }
}
