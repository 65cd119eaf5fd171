package dev.infini.samediff.decode;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SamplerTest {
    private static double[] logits(long seed, int v) {
        Random r = new Random(seed);
        double[] out = new double[v];
        for (int i = 0; i < v; i++) {
            out[i] = r.nextGaussian() * 2;
        }
        return out;
    }

    private static int[] draws(Sampler s, double[] logits, int n) {
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = s.sample(logits);
        }
        return out;
    }

    @Test
    @DisplayName("the same seed gives the same tokens, another seed other tokens")
    void deterministicBySeed() {
        double[] l = logits(1, 50);
        int[] a = draws(new Sampler(1.0, 0, 1.0, 7), l, 200);
        int[] b = draws(new Sampler(1.0, 0, 1.0, 7), l, 200);
        int[] c = draws(new Sampler(1.0, 0, 1.0, 8), l, 200);
        assertArrayEquals(a, b);
        assertNotEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(c));
    }

    @Test
    @DisplayName("temperature 0 and top-k 1 are greedy")
    void greedy() {
        double[] l = logits(2, 30);
        int best = Sampler.argmax(l);
        for (int t : draws(new Sampler(0, 0, 1, 1), l, 20)) {
            assertEquals(best, t);
        }
        for (int t : draws(new Sampler(1.5, 1, 1, 1), l, 20)) {
            assertEquals(best, t);
        }
    }

    @Test
    @DisplayName("top-k draws only from the k most likely tokens and renormalises")
    void topK() {
        double[] l = logits(3, 40);
        Sampler s = new Sampler(1.0, 5, 1.0, 3);
        double[] sorted = l.clone();
        java.util.Arrays.sort(sorted);
        double fifth = sorted[sorted.length - 5];
        double[] p = s.distribution(l);
        double sum = 0;
        for (int i = 0; i < l.length; i++) {
            sum += p[i];
            if (l[i] < fifth) {
                assertEquals(0.0, p[i], "token " + i + " is outside the top 5");
            }
        }
        assertEquals(1.0, sum, 1e-12);
        Set<Integer> seen = new HashSet<>();
        for (int t : draws(s, l, 2000)) {
            assertTrue(l[t] >= fifth, "drew token " + t + " outside the top 5");
            seen.add(t);
        }
        assertEquals(5, seen.size(), "all five candidates should be drawn in 2000 tries");
    }

    @Test
    @DisplayName("top-p keeps the smallest most-likely set reaching p")
    void topP() {
        // Probabilities 0.5, 0.3, 0.15, 0.05 at temperature 1.
        double[] l = {Math.log(0.05), Math.log(0.5), Math.log(0.15), Math.log(0.3)};
        double[] p = new Sampler(1.0, 0, 0.75, 4).distribution(l);
        assertEquals(0.5 / 0.8, p[1], 1e-12);
        assertEquals(0.3 / 0.8, p[3], 1e-12);
        assertEquals(0.0, p[2]);
        assertEquals(0.0, p[0]);
        double[] q = new Sampler(1.0, 0, 0.81, 4).distribution(l);
        assertTrue(q[2] > 0 && q[0] == 0);
        for (int t : draws(new Sampler(1.0, 0, 0.75, 9), l, 500)) {
            assertTrue(t == 1 || t == 3, "drew " + t);
        }
    }

    @Test
    @DisplayName("a higher temperature flattens the distribution")
    void temperature() {
        double[] l = logits(5, 10);
        int best = Sampler.argmax(l);
        double cold = new Sampler(0.5, 0, 1, 1).distribution(l)[best];
        double warm = new Sampler(2.0, 0, 1, 1).distribution(l)[best];
        assertTrue(cold > warm, cold + " vs " + warm);
    }

    @Test
    @DisplayName("bad settings are rejected with the value named")
    void badSettings() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new Sampler(-1, 0, 1, 0)).getMessage().contains("-1"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new Sampler(1, -2, 1, 0)).getMessage().contains("-2"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new Sampler(1, 0, 1.5, 0)).getMessage().contains("1.5"));
        assertThrows(IllegalArgumentException.class, () -> new Sampler(1, 0, 0, 0));
    }

    @Test
    @DisplayName("limitedTo(n): ids >= n are never chosen, greedy or sampled, even where they have the largest logits")
    void limitedToAVocabulary() {
        double[] l = logits(3, 40);
        for (int i = 28; i < 40; i++) {
            l[i] = 50;                                   // the ids a 28-token tokenizer cannot decode dominate
        }
        assertTrue(Sampler.greedy().sample(l) >= 28, "unlimited, the argmax is one of them");
        assertEquals(Sampler.argmax(java.util.Arrays.copyOf(l, 28)), Sampler.greedy().limitedTo(28).sample(l));
        Sampler s = new Sampler(1.5, 0, 1.0, 9).limitedTo(28);
        assertEquals(28, s.limit());
        for (int d : draws(s, l, 500)) {
            assertTrue(d >= 0 && d < 28, "drew " + d);
        }
        double[] p = s.distribution(l);
        assertEquals(40, p.length);
        double inside = 0;
        for (int i = 0; i < 40; i++) {
            assertTrue(i < 28 || p[i] == 0, "p[" + i + "] = " + p[i]);
            inside += p[i];
        }
        assertEquals(1.0, inside, 1e-12);
        assertArrayEquals(draws(new Sampler(1.0, 0, 1.0, 4), logits(5, 20), 50),
                draws(new Sampler(1.0, 0, 1.0, 4).limitedTo(0), logits(5, 20), 50), "0 = no limit, same draws");
        assertThrows(IllegalArgumentException.class, () -> s.limitedTo(-1));
    }
}
