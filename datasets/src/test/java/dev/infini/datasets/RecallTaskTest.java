package dev.infini.datasets;

import dev.infini.datasets.recall.RecallIterator;
import dev.infini.datasets.recall.RecallSample;
import dev.infini.datasets.recall.RecallTask;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RecallTaskTest {
    private static final int S = 32;

    private static boolean digit(int b) {
        return b >= '0' && b <= '9';
    }

    @Test
    @DisplayName("pairs segment, gap filler segments and queries segment are laid out exactly as the issue's format")
    void sampleFormatMatchesTheSpecification() {
        RecallTask task = new RecallTask(S);
        for (int gap : new int[] {0, 1, 3}) {
            RecallSample s = task.sample(8, gap, new Random(7 + gap));
            int[] ids = s.ids();
            assertEquals((gap + 2) * S, ids.length);
            Map<Integer, Integer> pairs = new HashMap<>();
            for (int i = 0; i < 8; i++) {                                     // segment 0: key, value, space
                int k = ids[3 * i], v = ids[3 * i + 1];
                assertTrue(k >= 'a' && k <= 'z', "key at " + 3 * i);
                assertTrue(v >= 'A' && v <= 'Z', "value at " + (3 * i + 1));
                assertEquals(' ', ids[3 * i + 2]);
                assertEquals(null, pairs.put(k, v), "keys are distinct");
            }
            for (int t = 24; t < (gap + 1) * S; t++) {                       // the rest of segment 0 and the gap
                assertTrue(digit(ids[t]), "filler digit at " + t);
            }
            int q = (gap + 1) * S;
            Set<Integer> asked = new HashSet<>();
            for (int i = 0; i < 8; i++) {                                     // queries: the same pairs, new order
                int k = ids[q + 3 * i], v = ids[q + 3 * i + 1];
                assertEquals(pairs.get(k), v, "the query repeats the pair of key " + (char) k);
                assertEquals(' ', ids[q + 3 * i + 2]);
                assertTrue(asked.add(k));
                assertEquals(q + 3 * i + 1, s.valuePositions()[i]);
                assertEquals(k, s.keys()[i]);
                assertEquals(v, s.values()[i]);
            }
            assertEquals(pairs.keySet(), asked);
            for (int t = q + 24; t < ids.length; t++) {
                assertTrue(digit(ids[t]), "filler digit at " + t);
            }
        }
    }

    @Test
    @DisplayName("samples are fixed by the seed; the query order is a fresh permutation")
    void samplesAreDeterministicAndShuffled() {
        RecallTask task = new RecallTask(S);
        assertArrayEquals(task.sample(10, 2, new Random(1)).ids(), task.sample(10, 2, new Random(1)).ids());
        assertNotEquals(new String(task.sample(10, 2, new Random(1)).text()), task.sample(10, 2, new Random(2)).text());
        int reordered = 0;
        for (int seed = 0; seed < 20; seed++) {
            RecallSample s = task.sample(10, 0, new Random(seed));
            reordered += s.keys()[0] != s.ids()[0] ? 1 : 0;
        }
        assertTrue(reordered >= 15, "the first query is usually not the first pair: " + reordered + "/20");
    }

    @Test
    @DisplayName("the iterator's label mask marks exactly the positions whose next token is a queried value")
    void iteratorMasksOnlyTheQueriedValues() {
        RecallIterator it = new RecallIterator(new RecallTask(S), 2, 8, new int[] {0, 2}, 3, 4, 11);
        RecallSample[] samples = it.samples(0);
        DataSet ds = it.next();
        INDArray f = ds.getFeatures(), l = ds.getLabels(), lm = ds.getLabelsMaskArray();
        int n = samples[0].ids().length;
        for (int r = 0; r < samples.length; r++) {
            assertEquals(n, samples[r].ids().length, "one gap per batch");
            Set<Integer> answers = new HashSet<>();
            for (int p : samples[r].valuePositions()) {
                answers.add(p - 1);
            }
            for (int t = 0; t < n; t++) {
                assertEquals(samples[r].ids()[t], f.getInt(r, t));
                if (t + 1 < n) {
                    assertEquals(samples[r].ids()[t + 1], l.getInt(r, t));
                }
                assertEquals(answers.contains(t) ? 1.0 : 0.0, lm.getDouble(r, t), "mask at " + r + "," + t);
            }
        }
    }

    @Test
    @DisplayName("bad pairs, gaps and segment sizes are refused with the value named")
    void badArgumentsAreRefused() {
        RecallTask task = new RecallTask(S);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> task.sample(11, 0, new Random())).getMessage().contains("11"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> task.sample(2, -1, new Random())).getMessage().contains("-1"));
        assertThrows(IllegalArgumentException.class, () -> new RecallTask(2));
        assertEquals(26, new RecallTask(100).maxPairs());
    }
}
