package dev.infini.tests;

import dev.infini.cli.InfiniCli;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.TensorNames;
import dev.infini.samediff.hf.HfCheckpoint;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The inputs issue 17 found mishandled, through the command line: each is one clear line and exit 1, or works. */
class ReliabilityCliTest {
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

    private static final Path GOLDEN = Fixtures.golden("gemma-mqa-linear-f32");

    private String run(String... args) {
        err.reset();
        int code = InfiniCli.execute(args);
        String[] msgs = err.toString(StandardCharsets.UTF_8).lines().filter(l -> l.startsWith("infini:")).toArray(String[]::new);
        assertEquals(1, code, String.join(" ", args) + ": " + err);
        assertEquals(1, msgs.length, err.toString());
        assertFalse(err.toString().contains("\tat "), "no stack trace: " + err);
        return msgs[0];
    }

    private static void assertContains(String msg, String... parts) {
        for (String p : parts) {
            assertTrue(msg.contains(p), "'" + msg + "' should contain '" + p + "'");
        }
    }

    private Path withNaN() throws IOException {
        InfiniModel m = HfCheckpoint.load(GOLDEN);
        m.weights().get(TensorNames.qProj(1)).putScalar(3, Float.NaN);
        Path dir = tmp.resolve("nan");
        HfCheckpoint.save(m, dir);
        return dir;
    }

    @Test
    @DisplayName("NaN weights: logits and generate name the tensor; with --allow-non-finite they fail on the NaN logits")
    void nonFiniteWeightsAndLogits() throws IOException {
        Path dir = withNaN();
        String ids = GOLDEN.resolve("tokens.npy").toString();
        String out = tmp.resolve("l.npy").toString();
        assertContains(run("logits", "--model", dir.toString(), "--tokens", ids, "--out", out),
                "tensor " + TensorNames.qProj(1), "non-finite", "--allow-non-finite");
        assertContains(run("logits", "--model", dir.toString(), "--tokens", ids, "--out", out, "--allow-non-finite"),
                "logits are not finite", "nothing written");
        assertFalse(Files.exists(Path.of(out)));
        assertContains(run("generate", "--model", dir.toString(), "--prompt-ids", ids, "--max-new-tokens", "3",
                "--allow-non-finite"), "logits", "not finite");
    }

    @Test
    @DisplayName("absurd sizes are refused with the key and the limit: segment_size, num_hidden_layers, --hidden")
    void absurdSizes() throws IOException {
        String ids = GOLDEN.resolve("tokens.npy").toString();
        assertContains(run("generate", "--model", GOLDEN.toString(), "--prompt-ids", ids, "--segment", "1000000000"),
                "segment_size = 1000000000", "larger than");
        Path dir = tmp.resolve("layers");
        Files.createDirectories(dir);
        for (String f : new String[] {"config.json", "model.safetensors"}) {
            Files.copy(GOLDEN.resolve(f), dir.resolve(f));
        }
        String cfg = Files.readString(dir.resolve("config.json"));
        Files.writeString(dir.resolve("config.json"), cfg.replaceFirst("\"num_hidden_layers\"\\s*:\\s*\\d+",
                "\"num_hidden_layers\": 1000000"));
        assertContains(run("logits", "--model", dir.toString(), "--tokens", ids, "--out", tmp.resolve("x.npy").toString()),
                "num_hidden_layers = 1000000");
        assertContains(run("train", "--preset", "micro", "--hidden", "1000000000", "--steps", "1",
                "--out", tmp.resolve("run").toString()), "hidden_size = 1000000000");
    }

    @Test
    @DisplayName("a binary --prompt-file and a weights path that is a directory are named for what they are")
    void binaryPromptAndDirectoryWeights() throws IOException {
        Path bin = tmp.resolve("prompt.bin");
        Files.write(bin, new byte[] {(byte) 0xff, (byte) 0xfe, 0, 1, (byte) 0xc3});
        assertContains(run("generate", "--model", GOLDEN.toString(), "--prompt-file", bin.toString()),
                "--prompt-file", "not UTF-8 text", "--prompt-ids");
        Path dir = tmp.resolve("dirweights");
        Files.createDirectories(dir.resolve("model.safetensors"));
        Files.copy(GOLDEN.resolve("config.json"), dir.resolve("config.json"));
        assertContains(run("logits", "--model", dir.toString(), "--tokens", GOLDEN.resolve("tokens.npy").toString(),
                "--out", tmp.resolve("y.npy").toString()), "is a directory");
    }
}
