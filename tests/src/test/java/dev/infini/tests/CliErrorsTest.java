package dev.infini.tests;

import dev.infini.cli.InfiniCli;
import dev.infini.samediff.io.Npy;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bad arguments and bad files: a non-zero exit code and one line naming the problem, no stack trace. */
class CliErrorsTest {
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private PrintStream oldErr;
    @TempDir
    Path tmp;

    @BeforeEach
    void captureStderr() {
        oldErr = System.err;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    @AfterEach
    void restoreStderr() {
        System.setErr(oldErr);
    }

    /** The lines the tool printed that are not log lines. */
    private String[] messages() {
        return err.toString(StandardCharsets.UTF_8).lines().filter(l -> l.startsWith("infini:")).toArray(String[]::new);
    }

    private String model() {
        return Fixtures.golden("gemma-mqa-linear-f32").toString();
    }

    private String tokens() {
        return Fixtures.golden("gemma-mqa-linear-f32").resolve("tokens.npy").toString();
    }

    private void assertOneLineError(int code, int expectedCode, String... fragments) {
        assertEquals(expectedCode, code, err.toString());
        String[] msgs = messages();
        assertEquals(1, msgs.length, err.toString());
        for (String f : fragments) {
            assertTrue(msgs[0].contains(f), "'" + msgs[0] + "' should contain '" + f + "'");
        }
        assertFalse(err.toString().contains("\tat "), "no stack trace without --verbose: " + err);
    }

    @Test
    @DisplayName("a missing required option is a usage error (exit 2) naming the option")
    void missingOption() {
        int code = InfiniCli.execute("logits", "--model", model(), "--out", tmp.resolve("o.npy").toString());
        assertOneLineError(code, 2, "--tokens");
    }

    @Test
    @DisplayName("a model directory that does not exist is named")
    void missingModelDir() {
        int code = InfiniCli.execute("logits", "--model", tmp.resolve("nope").toString(), "--tokens", tokens(),
                "--out", tmp.resolve("o.npy").toString());
        assertOneLineError(code, 1, "model directory not found", "nope");
    }

    @Test
    @DisplayName("token ids outside the vocabulary are named with their index")
    void tokenOutOfVocabulary() throws Exception {
        Path ids = tmp.resolve("ids.npy");
        Npy.writeInt64(ids, new int[] {1, 2, 64});
        int code = InfiniCli.execute("logits", "--model", model(), "--tokens", ids.toString(), "--out", tmp.resolve("o.npy").toString());
        assertOneLineError(code, 1, "token id 64 at index 2", "[0, 64)");
    }

    @Test
    @DisplayName("float token files and non-.npy files are rejected with the reason")
    void badTokenFiles() throws Exception {
        Path f = tmp.resolve("f.npy");
        Npy.writeFloat32(f, org.nd4j.linalg.factory.Nd4j.ones(3));
        assertOneLineError(InfiniCli.execute("logits", "--model", model(), "--tokens", f.toString(), "--out",
                tmp.resolve("o.npy").toString()), 1, "must be integers", "<f4");
        err.reset();
        Path txt = tmp.resolve("ids.txt");
        Files.writeString(txt, "1 2 3");
        assertOneLineError(InfiniCli.execute("logits", "--model", model(), "--tokens", txt.toString(), "--out",
                tmp.resolve("o.npy").toString()), 1, "not a .npy file");
    }

    @Test
    @DisplayName("a bad --memory-update value is named; --verbose adds the stack trace")
    void badMemoryUpdateAndVerbose() {
        int code = InfiniCli.execute("logits", "--model", model(), "--tokens", tokens(), "--out",
                tmp.resolve("o.npy").toString(), "--memory-update", "quadratic");
        assertOneLineError(code, 1, "memory_update must be 'linear' or 'delta'", "quadratic");
        err.reset();
        code = InfiniCli.execute("logits", "--model", model(), "--tokens", tokens(), "--out",
                tmp.resolve("o.npy").toString(), "--memory-update", "quadratic", "--verbose");
        assertEquals(1, code);
        assertTrue(err.toString().contains("\tat "), "stack trace with --verbose");
    }

    @Test
    @DisplayName("a config with a missing key names the key")
    void configMissingKey() throws Exception {
        Path dir = tmp.resolve("m");
        Files.createDirectories(dir);
        for (String f : new String[] {"model.safetensors"}) {
            Files.copy(Fixtures.golden("gemma-mqa-linear-f32").resolve(f), dir.resolve(f));
        }
        String cfg = Files.readString(Fixtures.golden("gemma-mqa-linear-f32").resolve("config.json"))
                .replaceAll("\"num_hidden_layers\"\\s*:\\s*2,", "");
        Files.writeString(dir.resolve("config.json"), cfg);
        int code = InfiniCli.execute("logits", "--model", dir.toString(), "--tokens", tokens(), "--out", tmp.resolve("o.npy").toString());
        assertOneLineError(code, 1, "num_hidden_layers");
    }

    @Test
    @DisplayName("a bad --spark-mode is named before any training")
    void badSparkMode() {
        int code = InfiniCli.execute("train", "--engine", "graph", "--spark", "local[2]", "--spark-mode", "ring",
                "--out", tmp.resolve("run").toString());
        assertOneLineError(code, 1, "--spark-mode must be averaging or shared", "ring");
        assertFalse(Files.exists(tmp.resolve("run")), "nothing written");
    }

    @Test
    @DisplayName("an option the graph engine cannot honour is a one-line error naming it, before any training")
    void graphEngineRejectsTruncatedMemoryGradient() {
        int code = InfiniCli.execute("train", "--engine", "graph", "--memory-gradient", "truncated",
                "--out", tmp.resolve("run").toString());
        assertOneLineError(code, 1, "--memory-gradient truncated", "--engine graph");
        assertFalse(Files.exists(tmp.resolve("run")), "nothing written");
    }

    @Test
    @DisplayName("an unknown corpus is a one-line error listing the bundled corpora")
    void unknownCorpus() {
        int code = InfiniCli.execute("eval", "--model", model(), "--corpus", "no-such-corpus", "--seq-len", "16");
        assertOneLineError(code, 1, "no-such-corpus", "moby-dick, moby-dick-book, sotu");
    }
}
