package dev.infini.datasets;

import dev.infini.datasets.passkey.PasskeyIterator;
import dev.infini.datasets.passkey.PasskeySample;
import dev.infini.datasets.passkey.PasskeyTask;
import dev.infini.datasets.tokenize.ByteTokenizer;
import dev.infini.datasets.tokenize.Tokenizer;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.dataset.DataSet;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@DisplayName("Passkey retrieval task")
class PasskeyTaskTest {

    private static Tokenizer tokenizer(String name) {
        return name.equals("byte") ? new ByteTokenizer() : Fixtures.mistral();
    }

    @ParameterizedTest(name = "{0} tokenizer, {1} tokens, depth {2}")
    @CsvSource({"byte, 600, 0.0", "byte, 1000, 0.5", "byte, 4096, 1.0", "mistral, 200, 0.25", "mistral, 1024, 0.5",
            "mistral, 8192, 0.9"})
    @DisplayName("prompts have exactly the requested length, the key at the requested depth, and read as the paper's format")
    void exactLengthAndDepth(String tokName, int length, double depth) {
        Tokenizer tok = tokenizer(tokName);
        PasskeyTask task = new PasskeyTask(tok);
        PasskeySample s = task.sample(length, depth, 1234L);
        assertEquals(length, s.promptIds().length);
        assertEquals(tok.bosId(), s.promptIds()[0]);
        String text = tok.decode(s.promptIds());
        assertTrue(text.startsWith(PasskeyTask.INTRO), text.substring(0, 80));
        assertTrue(text.endsWith("What is the pass key? The pass key is"), text.substring(text.length() - 60));
        String keySentence = "The pass key is " + s.passkey() + ". Remember it. " + s.passkey() + " is the pass key.";
        assertTrue(text.contains(keySentence), "the key sentence is in the prompt");
        assertEquals(" " + keySentence, tok.decode(Arrays.copyOfRange(s.promptIds(), s.keyStart(), s.keyEnd()))
                .replaceFirst("^(?! )", " "));
        int fixed = task.minLength();
        int filler = length - fixed;
        int introEnd = 1 + tok.encode(PasskeyTask.INTRO).length;
        assertEquals(introEnd + Math.round(depth * filler), s.keyStart(), "filler before the key = depth * filler");
        assertEquals(s.passkey(), tok.decode(s.answerIds()).trim());
        assertTrue(s.isCorrect(tok.decode(s.answerIds())));
        assertFalse(s.isCorrect(" 00000"));
    }

    @Test
    @DisplayName("deterministic by seed: same seed same sample, another seed another key")
    void deterministic() {
        PasskeyTask task = new PasskeyTask(new ByteTokenizer());
        assertArrayEquals(task.sample(800, 0.3, 5L).promptIds(), task.sample(800, 0.3, 5L).promptIds());
        assertNotEquals(task.sample(800, 0.3, 5L).passkey(), task.sample(800, 0.3, 6L).passkey());
        assertTrue(PasskeyTask.passkey(99L).matches("[1-9]\\d{4}"));
    }

    @Test
    @DisplayName("a length below the minimum, a depth outside [0, 1] and a key that is not 5 digits are clear errors")
    void badArguments() {
        PasskeyTask task = new PasskeyTask(new ByteTokenizer());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> task.sample(50, 0.5, 1L));
        assertTrue(e.getMessage().contains("50 tokens") && e.getMessage().contains(String.valueOf(task.minLength())), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> task.sample(1000, 1.5, 1L));
        IllegalArgumentException k = assertThrows(IllegalArgumentException.class, () -> task.sample(1000, 0.5, "1234"));
        assertTrue(k.getMessage().contains("1234"), k.getMessage());
    }

    @Test
    @DisplayName("the training iterator: prompt+answer ids, next-token labels, loss mask only on the answer tokens")
    void trainingIterator() {
        ByteTokenizer tok = new ByteTokenizer();
        PasskeyTask task = new PasskeyTask(tok);
        PasskeyIterator it = new PasskeyIterator(task, 512, 5, 2, 0.0, 1.0, 42L, true);
        assertEquals(512 + 6, it.seqLen(), "answer ' 12345' is 6 bytes");
        DataSet ds = it.next();
        assertArrayEquals(new long[] {2, 518}, ds.getFeatures().shape());
        PasskeySample s0 = it.sample(0);
        assertArrayEquals(s0.trainingIds(), ds.getFeatures().getRow(0).toIntVector());
        float[] lm = ds.getLabelsMaskArray().getRow(0).toFloatVector();
        int[] labels = ds.getLabels().getRow(0).toIntVector();
        StringBuilder answer = new StringBuilder();
        for (int t = 0; t < lm.length; t++) {
            if (lm[t] == 1f) {
                answer.append((char) labels[t]);
            }
        }
        assertEquals(" " + s0.passkey(), answer.toString(), "exactly the answer tokens are in the loss");
        assertEquals(6, ds.getLabelsMaskArray().getRow(0).sumNumber().intValue());
        it.next();
        it.next();
        assertFalse(it.hasNext());
        it.reset();
        assertEquals(ds.getFeatures(), it.next().getFeatures(), "reset gives the same samples");
        it.setCursor(4);
        assertEquals(1, it.next().getFeatures().size(0));
    }

    @Test
    @DisplayName("a prompt weight puts that weight on every real prompt label, 1 on the answer, 0 on padding")
    void promptWeight() {
        PasskeyTask task = new PasskeyTask(new ByteTokenizer());
        PasskeyIterator it = new PasskeyIterator(task, 400, 2, 2, 0.0, 1.0, 7L, 0.25);
        float[] lm = it.next().getLabelsMaskArray().getRow(0).toFloatVector();
        PasskeySample s = it.sample(0);
        int prompt = s.promptIds().length, n = s.trainingIds().length;
        for (int t = 0; t < lm.length; t++) {
            float expected = t + 1 >= n ? 0f : t + 1 >= prompt ? 1f : 0.25f;
            assertEquals(expected, lm[t], "label weight at " + t);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new PasskeyIterator(task, 400, 2, 2, 0.0, 1.0, 7L, 1.5));
        assertTrue(e.getMessage().contains("prompt weight") && e.getMessage().contains("1.5"), e.getMessage());
    }

    @Test
    @DisplayName("digits right in place: compared position by position after leading spaces")
    void digitsCorrect() {
        PasskeySample s = new PasskeyTask(new ByteTokenizer()).sample(400, 0.5, "71432");
        assertEquals(5, s.digitsCorrect(" 71432."));
        assertEquals(2, s.digitsCorrect(" 71999"));
        assertEquals(3, s.digitsCorrect(" 71992"));
        assertEquals(1, s.digitsCorrect("  7"));
        assertEquals(0, s.digitsCorrect("abc"));
        assertEquals(4, s.digitsCorrect("01432"));
    }
}
