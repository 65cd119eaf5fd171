package dev.infini.tests;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.infini.datasets.tokenize.ByteTokenizer;
import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.ModelFamily;
import dev.infini.samediff.SegmentRunner;
import dev.infini.samediff.TestModels;
import dev.infini.cli.InfiniCli;
import dev.infini.samediff.hf.HfCheckpoint;
import dev.infini.samediff.io.Npy;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** generate, eval and passkey end to end on a small random model saved as a checkpoint, and their errors. */
class GenerationCliTest {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private PrintStream oldOut, oldErr;
    @TempDir
    Path tmp;

    @BeforeEach
    void capture() {
        oldOut = System.out;
        oldErr = System.err;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    @AfterEach
    void restore() {
        System.setOut(oldOut);
        System.setErr(oldErr);
    }

    private String stdout() {
        return out.toString(StandardCharsets.UTF_8);
    }

    private JsonNode lastJsonLine() throws Exception {
        String[] lines = stdout().strip().split("\n");
        return new ObjectMapper().readTree(lines[lines.length - 1]);
    }

    private static InfiniConfig byteConfig(int vocab) {
        return InfiniConfig.builder(ModelFamily.GEMMA).vocabSize(vocab).hiddenSize(16).intermediateSize(32).numLayers(2)
                .numHeads(2).numKvHeads(1).headDim(8).segmentSize(32).memoryUpdate(MemoryUpdate.DELTA)
                .tieWordEmbeddings(true).bosTokenId(256).eosTokenId(257).padTokenId(258).build();
    }

    /** A random model with the byte vocabulary (or another), saved as a checkpoint. */
    private Path savedModel(int vocab) throws Exception {
        InfiniModel m = TestModels.randomModel(byteConfig(vocab), 17, DataType.FLOAT);
        Path dir = tmp.resolve("model-" + vocab);
        HfCheckpoint.save(m, dir);
        return dir;
    }

    private void assertOneLineError(int code, int expectedCode, String... fragments) {
        assertEquals(expectedCode, code, err.toString(StandardCharsets.UTF_8));
        String[] msgs = err.toString(StandardCharsets.UTF_8).lines().filter(l -> l.startsWith("infini:")).toArray(String[]::new);
        assertEquals(1, msgs.length, err.toString(StandardCharsets.UTF_8));
        for (String f : fragments) {
            assertTrue(msgs[0].contains(f), "'" + msgs[0] + "' should contain '" + f + "'");
        }
        assertFalse(err.toString(StandardCharsets.UTF_8).contains("\tat "), "no stack trace");
    }

    @Test
    @DisplayName("generate: greedy text streams to stdout, ids match the full forward pass' argmax, same seed same sample")
    void generateText() throws Exception {
        Path model = savedModel(ByteTokenizer.VOCAB_SIZE);
        Path ids = tmp.resolve("out.npy");
        int code = InfiniCli.execute("generate", "--model", model.toString(), "--prompt", "Call me Ishmael. Some years ago",
                "--max-new-tokens", "40", "--temperature", "0", "--output-ids", ids.toString());
        assertEquals(0, code, err.toString());
        int[] gen = Npy.readTokenIds(ids);
        assertTrue(gen.length > 0 && gen.length <= 40, "generated " + gen.length);
        String text = stdout();
        assertEquals(new ByteTokenizer().decode(gen), text.substring(0, text.length() - System.lineSeparator().length()));

        // Greedy: every generated token is the argmax of one full forward pass over prompt + generated so far.
        InfiniModel m = HfCheckpoint.load(model);
        int[] prompt = new ByteTokenizer().encode("Call me Ishmael. Some years ago");
        int[] all = new int[1 + prompt.length + gen.length];
        all[0] = ByteTokenizer.BOS;
        System.arraycopy(prompt, 0, all, 1, prompt.length);
        System.arraycopy(gen, 0, all, 1 + prompt.length, gen.length);
        INDArray logits = new SegmentRunner(m).run(Nd4j.createFromArray(all).reshape(1, all.length)).logits()
                .reshape(all.length, m.config().vocabSize());
        for (int i = 0; i < gen.length; i++) {
            assertEquals(logits.getRow(prompt.length + i).argMax().getInt(0), gen[i], "token " + i);
        }

        int[][] samples = new int[3][];
        long[] seeds = {5, 5, 6};
        for (int k = 0; k < 3; k++) {
            Path f = tmp.resolve("s" + k + ".npy");
            assertEquals(0, InfiniCli.execute("generate", "--model", model.toString(), "--prompt", "The sea",
                    "--max-new-tokens", "30", "--temperature", "1.2", "--top-k", "50", "--top-p", "0.95",
                    "--seed", "" + seeds[k], "--output-ids", f.toString()), err.toString());
            samples[k] = Npy.readTokenIds(f);
        }
        assertArrayEquals(samples[0], samples[1]);
        assertFalse(Arrays.equals(samples[0], samples[2]), "another seed should give another sample");
    }

    @Test
    @DisplayName("generate: a model with more token ids than its tokenizer never samples the ids the tokenizer lacks")
    void generateWithALargerVocabularyThanTheTokenizer() throws Exception {
        int tokVocab = 3 + SelfContainedCheckpointTest.WORDS.size();
        InfiniConfig c = InfiniConfig.builder(ModelFamily.LLAMA).vocabSize(tokVocab + 40).hiddenSize(16).intermediateSize(32)
                .numLayers(1).numHeads(2).numKvHeads(1).headDim(8).tieWordEmbeddings(false).segmentSize(16)
                .bosTokenId(1).eosTokenId(2).padTokenId(0).build();
        Path model = tmp.resolve("padded-vocab");
        HfCheckpoint.save(TestModels.randomModel(c, 23, DataType.FLOAT), model);
        Files.writeString(model.resolve("tokenizer.json"), SelfContainedCheckpointTest.wordLevelTokenizer());
        int drawn = 0;
        for (int seed = 1; seed <= 4; seed++) {           // a sample can stop at once on EOS: several seeds
            Path ids = tmp.resolve("ids" + seed + ".npy");
            int code = InfiniCli.execute("generate", "--model", model.toString(), "--prompt", "the sea and the whale",
                    "--max-new-tokens", "40", "--temperature", "3", "--seed", "" + seed, "--output-ids", ids.toString());
            assertEquals(0, code, err.toString(StandardCharsets.UTF_8));
            for (int id : Npy.readTokenIds(ids)) {
                assertTrue(id < tokVocab, "sampled id " + id + ", outside the tokenizer's " + tokVocab + " ids");
                drawn++;
            }
        }
        assertTrue(drawn >= 20, "only " + drawn + " tokens generated over 4 seeds");
    }

    @Test
    @DisplayName("generate: --prompt-file, and --prompt-ids for a model without a tokenizer (ids to stdout)")
    void generateFromFileAndIds() throws Exception {
        Path model = savedModel(ByteTokenizer.VOCAB_SIZE);
        Path pf = tmp.resolve("prompt.txt");
        Files.writeString(pf, "It was the best of times, ".repeat(5));   // > 3 segments of 32
        assertEquals(0, InfiniCli.execute("generate", "--model", model.toString(), "--prompt-file", pf.toString(),
                "--max-new-tokens", "5", "--temperature", "0"), err.toString());
        out.reset();

        Path noTok = savedModel(300);
        Path ids = tmp.resolve("p.npy");
        Npy.writeInt64(ids, new int[] {1, 299, 5, 7});
        Path outIds = tmp.resolve("o.npy");
        assertEquals(0, InfiniCli.execute("generate", "--model", noTok.toString(), "--prompt-ids", ids.toString(),
                "--max-new-tokens", "6", "--temperature", "0", "--output-ids", outIds.toString()), err.toString());
        int[] gen = Npy.readTokenIds(outIds);
        String expected = String.join(" ", Arrays.stream(gen).mapToObj(Integer::toString).toArray(String[]::new));
        assertEquals(expected, stdout().strip());
    }

    @Test
    @DisplayName("eval: perplexity over held-out sequences equals the NLL of the full forward pass; JSON summary last")
    void eval() throws Exception {
        Path model = savedModel(ByteTokenizer.VOCAB_SIZE);
        Path corpus = tmp.resolve("corpus.txt");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 300; i++) {
            sb.append("Line ").append(i).append(": the whale swam on through the grey sea.\n");
        }
        Files.writeString(corpus, sb);
        int code = InfiniCli.execute("eval", "--model", model.toString(), "--corpus", corpus.toString(), "--seq-len", "100",
                "--max-sequences", "2", "--cache-dir", tmp.resolve("cache").toString());
        assertEquals(0, code, err.toString());
        JsonNode j = lastJsonLine();
        assertEquals(2, j.get("sequences").asInt());
        assertEquals(2 * 99, j.get("tokens").asLong());
        double mean = j.get("mean_nll").asDouble();
        assertEquals(Math.exp(mean), j.get("perplexity").asDouble(), 1e-9 * Math.exp(mean));
        assertEquals(mean / Math.log(2), j.get("bits_per_byte").asDouble(), 1e-12);

        // Independent check: the held-out tail of the single document, cut into sequences of 100 tokens.
        byte[] bytes = Files.readAllBytes(corpus);
        int tail = (int) Math.round(bytes.length * 0.05);
        InfiniModel m = HfCheckpoint.load(model);
        double nll = 0;
        for (int s = 0; s < 2; s++) {
            int[] ids = new int[100];
            for (int t = 0; t < 100; t++) {
                ids[t] = bytes[bytes.length - tail + s * 100 + t] & 0xFF;
            }
            double[][] lg = new SegmentRunner(m).run(Nd4j.createFromArray(ids).reshape(1, 100)).logits()
                    .reshape(100, 260).castTo(DataType.DOUBLE).toDoubleMatrix();
            for (int t = 0; t < 99; t++) {
                double max = Arrays.stream(lg[t]).max().orElseThrow(), sum = 0;
                for (double v : lg[t]) {
                    sum += Math.exp(v - max);
                }
                nll += max + Math.log(sum) - lg[t][ids[t + 1]];
            }
        }
        assertEquals(nll / 198, mean, 1e-4);
    }

    @Test
    @DisplayName("passkey: table, heatmap PNG and JSON summary over lengths x depths")
    void passkey() throws Exception {
        Path model = savedModel(ByteTokenizer.VOCAB_SIZE);
        Path png = tmp.resolve("heat.png");
        int code = InfiniCli.execute("passkey", "--model", model.toString(), "--lengths", "300,400", "--depths", "0,0.5,1",
                "--trials", "2", "--out", png.toString());
        assertEquals(0, code, err.toString());
        assertTrue(stdout().contains("passkey retrieval accuracy"), stdout());
        JsonNode j = lastJsonLine();
        assertEquals(2, j.get("accuracy").size());
        assertEquals(3, j.get("accuracy").get(0).size());
        assertEquals(2, j.get("trials").asInt());
        for (JsonNode row : j.get("accuracy")) {
            for (JsonNode a : row) {
                double v = a.asDouble();
                assertTrue(v == 0 || v == 0.5 || v == 1, "accuracy " + v + " is not a count of 2 trials");
            }
        }
        // Digit accuracy: counts of 10 digits (2 trials x 5) per cell, their mean in mean_digit_accuracy.
        double sum = 0;
        for (JsonNode row : j.get("digit_accuracy")) {
            for (JsonNode a : row) {
                double tenths = a.asDouble() * 10;
                assertEquals(Math.rint(tenths), tenths, 1e-9, "digit accuracy " + a + " is not a count of 10 digits");
                sum += a.asDouble();
            }
        }
        assertEquals(sum / 6, j.get("mean_digit_accuracy").asDouble(), 1e-12);
        BufferedImage img = ImageIO.read(png.toFile());
        assertNotNull(img, "not a PNG");
        assertTrue(img.getWidth() > 200 && img.getHeight() > 200);
    }

    @Test
    @DisplayName("bad arguments end with one line naming the bad input")
    void badArguments() throws Exception {
        Path model = savedModel(ByteTokenizer.VOCAB_SIZE);
        String m = model.toString();
        assertOneLineError(InfiniCli.execute("generate", "--model", m, "--prompt", "x", "--temperature", "-1"), 1, "--temperature", "-1");
        err.reset();
        assertOneLineError(InfiniCli.execute("generate", "--model", m, "--prompt", "x", "--top-p", "0"), 1, "--top-p");
        err.reset();
        assertOneLineError(InfiniCli.execute("generate", "--model", m, "--prompt", "x", "--top-k", "-3"), 1, "--top-k", "-3");
        err.reset();
        assertOneLineError(InfiniCli.execute("generate", "--model", m, "--prompt", "x", "--prompt-file", "f"), 2, "mutually exclusive");
        err.reset();
        assertOneLineError(InfiniCli.execute("generate", "--model", m), 2, "--prompt");
        err.reset();
        assertOneLineError(InfiniCli.execute("generate", "--model", m, "--prompt-file", tmp.resolve("nope.txt").toString()), 1,
                "--prompt-file", "nope.txt");
        err.reset();
        Path big = savedModel(300);
        assertOneLineError(InfiniCli.execute("generate", "--model", big.toString(), "--prompt", "hi"), 1,
                "needs a tokenizer", "300");
        err.reset();
        assertOneLineError(InfiniCli.execute("passkey", "--model", m, "--lengths", "1k,4q"), 1, "--lengths", "4q");
        err.reset();
        assertOneLineError(InfiniCli.execute("passkey", "--model", m, "--lengths", "1k", "--depths", "0,1.5"), 1, "--depths", "1.5");
        err.reset();
        assertOneLineError(InfiniCli.execute("passkey", "--model", m, "--lengths", "100"), 1, "100 tokens is too short");
        err.reset();
        assertOneLineError(InfiniCli.execute("eval", "--model", m, "--corpus", "no-such-corpus", "--seq-len", "64"), 1,
                "--corpus no-such-corpus");
        err.reset();
        assertOneLineError(InfiniCli.execute("eval", "--model", m, "--corpus", "moby-dick", "--seq-len", "1"), 1, "--seq-len", "1");
    }
}
