package dev.infini.tests;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.infini.cli.InfiniCli;
import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.ModelFamily;
import dev.infini.samediff.hf.HfCheckpoint;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A checkpoint of {@code train --init DIR --tokenizer FILE} generates from a text prompt with no other flags or files. */
class SelfContainedCheckpointTest {
    static final List<String> WORDS = List.of("the", "of", "and", "a", "to", "in", "that", "his", "it", "i",
            "whale", "ship", "sea", "call", "me", "ishmael", "some", "years", "ago", ".", ",", "was", "with", "as", "he");
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

    /** A word-level Hugging Face tokenizer.json: <unk>, <s>, </s>, then lower-cased words split on whitespace. */
    static String wordLevelTokenizer() {
        ObjectMapper m = new ObjectMapper();
        ObjectNode root = m.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        ObjectNode vocab = m.createObjectNode();
        String[] special = {"<unk>", "<s>", "</s>"};
        for (int i = 0; i < special.length; i++) {
            added.addObject().put("id", i).put("content", special[i]).put("single_word", false).put("lstrip", false)
                    .put("rstrip", false).put("normalized", false).put("special", true);
            vocab.put(special[i], i);
        }
        for (int i = 0; i < WORDS.size(); i++) {
            vocab.put(WORDS.get(i), special.length + i);
        }
        root.putObject("normalizer").put("type", "Lowercase");
        root.putObject("pre_tokenizer").put("type", "Whitespace");
        root.putNull("post_processor");
        root.putNull("decoder");
        ObjectNode model = root.putObject("model");
        model.put("type", "WordLevel");
        model.set("vocab", vocab);
        model.put("unk_token", "<unk>");
        return root.toPrettyString();
    }

    @Test
    @DisplayName("train --init DIR --tokenizer FILE: checkpoint-N says InfiniLlamaForCausalLM, round-trips bit-exactly, holds tokenizer files, generation_config.json and a card; generate needs nothing else")
    void initAndTokenizerCheckpointGenerates() throws Exception {
        // The vocabulary is the tokenizer's exactly (generate cannot print ids a tokenizer does not have).
        InfiniConfig c = InfiniConfig.builder(ModelFamily.LLAMA).vocabSize(3 + WORDS.size()).hiddenSize(32).intermediateSize(64)
                .numLayers(2).numHeads(4).numKvHeads(2).headDim(8).tieWordEmbeddings(false).segmentSize(32)
                .bosTokenId(1).eosTokenId(2).padTokenId(0).build();
        Path init = tmp.resolve("base");
        HfCheckpoint.save(InfiniModel.random(c, 3, 0.05, 0.0, DataType.FLOAT), init);
        Path tokDir = Files.createDirectories(tmp.resolve("tok"));
        Path tokFile = Files.writeString(tokDir.resolve("tokenizer.json"), wordLevelTokenizer());
        Files.writeString(tokDir.resolve("tokenizer_config.json"), "{\"model_max_length\": 64}\n");
        Path run = tmp.resolve("run");
        System.setProperty("infini.cache.dir", tmp.resolve("cache").toString());
        assertEquals(0, InfiniCli.execute("train", "--init", init.toString(), "--tokenizer", tokFile.toString(),
                "--seq-len", "64", "--segment", "16", "--batch", "2", "--steps", "2", "--val-batches", "1",
                "--sample-tokens", "0", "--out", run.toString()), err.toString(StandardCharsets.UTF_8));
        Path ckpt = run.resolve("checkpoint-2");
        byte[] tokenizer = Files.readAllBytes(tokFile);
        deleteTree(tokDir);   // the checkpoint must not need the originals
        assertArrayEquals(tokenizer, Files.readAllBytes(ckpt.resolve("tokenizer.json")));
        assertEquals("{\"model_max_length\": 64}\n", Files.readString(ckpt.resolve("tokenizer_config.json")));
        JsonNode gen = new ObjectMapper().readTree(ckpt.resolve("generation_config.json").toFile());
        assertEquals(1, gen.get("bos_token_id").asInt());
        assertEquals(2, gen.get("eos_token_id").asInt());
        String card = Files.readString(ckpt.resolve("README.md"));
        assertTrue(card.contains("| base model | `" + init + "` |") && card.contains("| tokenizer | " + tokFile + " |")
                && card.contains("--init " + init) && card.contains("| steps | 2 of 2 |"), card);

        // Not a plain Llama to a tool that does not know Infini-attention; re-imported bit-exactly.
        JsonNode config = new ObjectMapper().readTree(ckpt.resolve("config.json").toFile());
        assertEquals("InfiniLlamaForCausalLM", config.get("architectures").get(0).asText());
        assertEquals("infini-llama", config.get("model_type").asText());
        InfiniModel loaded = HfCheckpoint.load(ckpt);
        Path again = tmp.resolve("reexported");
        HfCheckpoint.save(loaded, again);
        InfiniModel reloaded = HfCheckpoint.load(again);
        assertEquals(loaded.weights().keySet(), reloaded.weights().keySet());
        loaded.weights().forEach((name, w) -> assertArrayEquals(w.castTo(DataType.FLOAT).ravel().toFloatVector(),
                reloaded.weights().get(name).castTo(DataType.FLOAT).ravel().toFloatVector(), name + " after a round trip"));
        assertEquals(config, new ObjectMapper().readTree(again.resolve("config.json").toFile()));

        out.reset();
        assertEquals(0, InfiniCli.execute("generate", "--model", ckpt.toString(), "--prompt", "Call me Ishmael.",
                "--max-new-tokens", "12"), err.toString(StandardCharsets.UTF_8));
        String text = out.toString(StandardCharsets.UTF_8).strip();
        assertTrue(text.isEmpty() || text.split("\\s+").length <= 12, text);
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("tokens generated"), err.toString(StandardCharsets.UTF_8));
        String words = text.replaceAll("[\\s.,]+", " ").strip();
        for (String w : words.isEmpty() ? new String[0] : words.split(" ")) {
            assertTrue(WORDS.contains(w), "'" + w + "' comes from the copied word-level vocabulary: " + text);
        }
    }

    private static void deleteTree(Path p) throws java.io.IOException {
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(q);
            }
        }
    }
}
