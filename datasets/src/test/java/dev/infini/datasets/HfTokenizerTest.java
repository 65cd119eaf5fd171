package dev.infini.datasets;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.infini.datasets.tokenize.HfTokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@DisplayName("Hugging Face tokenizer (Mistral-7B tokenizer.json through DJL)")
class HfTokenizerTest {
    private static JsonNode vocab;
    private static HfTokenizer tok;

    @BeforeAll
    static void load() throws IOException {
        try (InputStream in = new GZIPInputStream(HfTokenizerTest.class.getResourceAsStream(Fixtures.MISTRAL))) {
            vocab = new ObjectMapper().readTree(in).path("model").path("vocab");
        }
        tok = Fixtures.mistral();
    }

    /** The id of a piece, read from the file's own model.vocab (not from DJL). */
    private static int id(String piece) {
        JsonNode n = vocab.get(piece);
        if (n == null) {
            throw new AssertionError("piece " + piece + " is not in the vocabulary");
        }
        return n.asInt();
    }

    private static int[] ids(String... pieces) {
        int[] out = new int[pieces.length];
        for (int i = 0; i < pieces.length; i++) {
            out[i] = id(pieces[i]);
        }
        return out;
    }

    @Test
    @DisplayName("special tokens and vocabulary size come from the file: <s>=1, </s>=2, 32000 ids")
    void specialTokens() {
        assertEquals(1, tok.bosId());
        assertEquals(2, tok.eosId());
        assertEquals(2, tok.padId(), "no <pad> in Mistral: PAD falls back to EOS");
        assertEquals(0, tok.specialId("<unk>"));
        assertEquals(32000, tok.vocabSize());
        assertTrue(tok.addsPrefixSpace(), "Mistral's normalizer prepends ▁");
    }

    @Test
    @DisplayName("known ids: 'Hello world' is ▁Hello ▁world = 22557, 1526 (looked up in model.vocab), no BOS added")
    void helloWorld() {
        assertArrayEquals(new int[] {22557, 1526}, ids("▁Hello", "▁world"), "the vocab itself");
        assertArrayEquals(ids("▁Hello", "▁world"), tok.encode("Hello world"));
        assertArrayEquals(ids("▁Hello", ",", "▁world", "!"), tok.encode("Hello, world!"));
    }

    @Test
    @DisplayName("known ids: a sentence of common words, and digits split one by one after a lone ▁")
    void sentenceAndDigits() {
        assertArrayEquals(ids("▁The", "▁pass", "▁key", "▁is", "▁", "1", "2", "3", "4", "5", "."),
                tok.encode("The pass key is 12345."));
        assertArrayEquals(ids("▁Call", "▁me"), tok.encode("Call me"));
    }

    @Test
    @DisplayName("byte fallback: a character outside the vocabulary becomes its UTF-8 bytes <0xF0><0x9F><0xA6><0x9C>")
    void byteFallback() {
        assertTrue(vocab.get("🦜") == null, "the parrot emoji is not a piece of its own");
        assertArrayEquals(ids("▁", "<0xF0>", "<0x9F>", "<0xA6>", "<0x9C>"), tok.encode("🦜"));
        assertEquals("🦜", tok.decode(tok.encode("🦜")));
    }

    @ParameterizedTest(name = "round trip of \"{0}\"")
    @ValueSource(strings = {"Hello world", "Call me Ishmael. Some years ago—never mind how long precisely",
            "naïve café, Größe, 東京, émigré 🦜!", "line one\nline two\n\ttabbed", "numbers 3.14159 and 2024-11-29",
            "  two leading spaces and  double  spaces"})
    @DisplayName("decode(encode(text)) == text")
    void roundTrip(String text) {
        assertEquals(text, tok.decode(tok.encode(text)));
    }

    @Test
    @DisplayName("no truncation: a 20,000-character text gives thousands of tokens and round-trips exactly")
    void noTruncation() {
        StringBuilder sb = new StringBuilder();
        int i = 0;
        while (sb.length() < 20_000) {
            sb.append("Sentence number ").append(i++).append(" is about whales and the sea. ");
        }
        String text = sb.toString().trim();
        int[] ids = tok.encode(text);
        assertTrue(ids.length > 4000, "got " + ids.length + " tokens");
        assertEquals(text, tok.decode(ids));
    }

    @Test
    @DisplayName("decode leaves out BOS/EOS and rejects an id outside the vocabulary")
    void decodeSpecial() {
        List<Integer> l = new ArrayList<>();
        l.add(1);
        for (int x : tok.encode("Hello world")) {
            l.add(x);
        }
        l.add(2);
        assertEquals("Hello world", tok.decode(l.stream().mapToInt(Integer::intValue).toArray()));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> tok.decode(new int[] {32000}));
        assertTrue(e.getMessage().contains("32000"), e.getMessage());
    }

    @Test
    @DisplayName("loads a plain (not gzipped) tokenizer.json from a path; a missing or broken file names the path")
    void loadFromPath(@TempDir Path dir) throws IOException {
        Path plain = dir.resolve("tokenizer.json");
        try (InputStream in = new GZIPInputStream(getClass().getResourceAsStream(Fixtures.MISTRAL))) {
            Files.write(plain, in.readAllBytes());
        }
        try (HfTokenizer t = HfTokenizer.load(plain)) {
            assertArrayEquals(tok.encode("Hello world"), t.encode("Hello world"));
            assertEquals(tok.fingerprint(), t.fingerprint(), "same content, same fingerprint");
        }
        IOException missing = assertThrows(IOException.class, () -> HfTokenizer.load(dir.resolve("nope.json")));
        assertTrue(missing.getMessage().contains("nope.json"), missing.getMessage());
        Path broken = dir.resolve("broken.json");
        Files.writeString(broken, "{not json", StandardCharsets.UTF_8);
        IOException bad = assertThrows(IOException.class, () -> HfTokenizer.load(broken));
        assertTrue(bad.getMessage().contains("broken.json"), bad.getMessage());
    }
}
