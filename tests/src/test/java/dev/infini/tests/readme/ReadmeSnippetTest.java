package dev.infini.tests.readme;

import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.Presets;
import dev.infini.samediff.hf.HfCheckpoint;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * README.md's "Use it from Java" snippet is {@link QuickStart} (the lines between its marker comments), character
 * for character, and it runs: it loads a checkpoint, generates, trains 5 steps with a falling loss and saves a
 * checkpoint that loads again.
 */
class ReadmeSnippetTest {
    private static Path repo() {
        String p = System.getProperty("infini.fixtures");
        return (p != null ? Path.of(p) : Path.of("..", "fixtures")).getParent();
    }

    /** The lines of QuickStart.java between "// README:begin" and "// README:end". */
    static String snippet() throws IOException {
        Path src = repo().resolve("tests/src/test/java/dev/infini/tests/readme/QuickStart.java");
        List<String> lines = Files.readAllLines(src, StandardCharsets.UTF_8);
        int begin = lines.indexOf("// README:begin"), end = lines.indexOf("// README:end");
        assertTrue(begin >= 0 && end > begin, src + " lacks the README:begin/README:end markers");
        return String.join("\n", lines.subList(begin + 1, end)) + "\n";
    }

    @Test
    @DisplayName("README.md holds QuickStart.java's snippet exactly, as a java code block")
    void readmeHoldsTheSnippet() throws IOException {
        String readme = Files.readString(repo().resolve("README.md"), StandardCharsets.UTF_8);
        String block = "```java\n" + snippet() + "```\n";
        assertTrue(readme.contains(block), "README.md's Java snippet differs from QuickStart.java between the markers;"
                + " paste this block into README.md:\n" + block);
    }

    @Test
    @DisplayName("the snippet loads a checkpoint, generates, trains 5 steps (the loss falls) and saves a checkpoint")
    void snippetRuns(@TempDir Path tmp) throws Exception {
        InfiniModel start = InfiniModel.random(Presets.get("micro"), 5);
        HfCheckpoint.save(start, tmp.resolve("ckpt"));
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        PrintStream old = System.out;
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            QuickStart.main(new String[] {tmp.resolve("ckpt").toString(), tmp.resolve("out").toString()});
        } finally {
            System.setOut(old);
        }
        String out = buf.toString(StandardCharsets.UTF_8);
        assertTrue(out.startsWith("Call me Ishmael."), out);
        Matcher m = Pattern.compile("step (\\d) loss (\\d+\\.\\d+)").matcher(out);
        double[] loss = m.results().mapToDouble(r -> Double.parseDouble(r.group(2))).toArray();
        assertEquals(5, loss.length, out);
        assertTrue(loss[4] < loss[0], "the loss should fall over 5 steps on one batch: " + Arrays.toString(loss));
        assertEquals(start.config().parameterCount(), HfCheckpoint.load(tmp.resolve("out")).config().parameterCount());
    }
}
