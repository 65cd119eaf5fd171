package dev.infini.datasets;

import dev.infini.datasets.tokenize.ByteTokenizer;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@DisplayName("Byte-level tokenizer")
class ByteTokenizerTest {
    private final ByteTokenizer tok = new ByteTokenizer();

    @Test
    @DisplayName("ids are the UTF-8 bytes: 'Hé' is 72, 0xC3, 0xA9; BOS/EOS/PAD are 256/257/258 of a 260-id vocabulary")
    void ids() {
        assertArrayEquals(new int[] {72, 0xC3, 0xA9}, tok.encode("Hé"));
        assertEquals(256, tok.bosId());
        assertEquals(257, tok.eosId());
        assertEquals(258, tok.padId());
        assertEquals(260, tok.vocabSize());
        assertEquals(0, tok.encode("").length);
    }

    @ParameterizedTest(name = "round trip of \"{0}\"")
    @ValueSource(strings = {"Call me Ishmael.", "naïve café 東京 🦜", "tabs\tand\nnewlines\r\n", ""})
    @DisplayName("decode(encode(text)) == text")
    void roundTrip(String s) {
        assertEquals(s, tok.decode(tok.encode(s)));
    }

    @Test
    @DisplayName("decode skips special ids and rejects ids outside the vocabulary, naming the id")
    void decodeSpecials() {
        assertEquals("ab", tok.decode(new int[] {256, 97, 258, 98, 257}));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> tok.decode(new int[] {97, 300}));
        assertTrue(e.getMessage().contains("300"), e.getMessage());
    }
}
