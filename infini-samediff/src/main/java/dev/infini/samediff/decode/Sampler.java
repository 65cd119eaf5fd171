package dev.infini.samediff.decode;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Chooses the next token from logits: greedy (temperature 0), or a draw from {@code softmax(logits / T)}
 * restricted to the {@code topK} most likely tokens (0 = no limit) and then to the smallest set of most likely
 * tokens whose probability reaches {@code topP} (1 = no limit). Deterministic for a given seed.
 * {@link #limitedTo(int)} keeps ids at or above a limit from ever being chosen (a model whose vocabulary is larger than
 * its tokenizer's: ids the tokenizer cannot decode).
 */
public final class Sampler {
    private final double temperature;
    private final int topK;
    private final double topP;
    private final long seed;
    private final int limit;
    private final SplittableRandom random;

    public Sampler(double temperature, int topK, double topP, long seed) {
        this(temperature, topK, topP, seed, 0);
    }

    private Sampler(double temperature, int topK, double topP, long seed, int limit) {
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be a finite number >= 0, got " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("top-k must be >= 0 (0 = no limit), got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        }
        this.temperature = temperature;
        this.topK = topK;
        this.topP = topP;
        this.seed = seed;
        this.limit = limit;
        this.random = new SplittableRandom(seed);
    }

    /**
     * A fresh sampler with these settings that only chooses ids below {@code vocab} (the logits of the others are
     * ignored, as if -infinity); 0 = no limit.
     */
    public Sampler limitedTo(int vocab) {
        if (vocab < 0) {
            throw new IllegalArgumentException("the vocabulary limit must be >= 0 (0 = none), got " + vocab);
        }
        return new Sampler(temperature, topK, topP, seed, vocab);
    }

    /** The ids this sampler may choose are below this (0 = no limit). */
    public int limit() {
        return limit;
    }

    /** The logits this sampler chooses among: all of them, or the first {@link #limit()}. */
    private double[] allowed(double[] logits) {
        return limit > 0 && limit < logits.length ? Arrays.copyOf(logits, limit) : logits;
    }

    public static Sampler greedy() {
        return new Sampler(0, 0, 1, 0);
    }

    public boolean isGreedy() {
        return temperature == 0;
    }

    /** The id of the largest logit (the lowest such id on ties). */
    public static int argmax(double[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        return best;
    }

    /**
     * The distribution tokens are drawn from: zero outside the top-k/top-p set, renormalised inside it
     * (for greedy sampling, all mass on the argmax).
     */
    public double[] distribution(double[] all) {
        double[] logits = allowed(all);
        int v = logits.length;
        double[] p = new double[all.length];
        if (isGreedy()) {
            p[argmax(logits)] = 1;
            return p;
        }
        Integer[] order = new Integer[v];
        for (int i = 0; i < v; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> logits[a] != logits[b] ? Double.compare(logits[b], logits[a]) : Integer.compare(a, b));
        int keep = topK > 0 ? Math.min(topK, v) : v;
        double max = logits[order[0]];
        double sum = 0;
        for (int r = 0; r < keep; r++) {
            int i = order[r];
            p[i] = Math.exp((logits[i] - max) / temperature);
            sum += p[i];
        }
        // Top-p: the shortest prefix of the sorted tokens whose probability reaches topP.
        double cum = 0;
        int cut = keep;
        for (int r = 0; r < keep; r++) {
            cum += p[order[r]] / sum;
            if (cum >= topP) {
                cut = r + 1;
                break;
            }
        }
        double kept = 0;
        for (int r = 0; r < keep; r++) {
            if (r >= cut) {
                p[order[r]] = 0;
            } else {
                kept += p[order[r]];
            }
        }
        for (int r = 0; r < cut; r++) {
            p[order[r]] /= kept;
        }
        return p;
    }

    /** The next token; NaN or +Inf logits are an error (never token -1). */
    public int sample(double[] logits) {
        for (int i = 0; i < logits.length; i++) {
            if (Double.isNaN(logits[i]) || logits[i] == Double.POSITIVE_INFINITY) {
                throw new IllegalArgumentException("cannot sample from non-finite logits (" + logits[i] + " for token id "
                        + i + "): the model's weights hold NaN/Inf or its activations overflowed");
            }
        }
        if (isGreedy()) {
            return argmax(allowed(logits));
        }
        double[] p = distribution(logits);
        double u = random.nextDouble();
        double cum = 0;
        int last = -1;
        for (int i = 0; i < p.length; i++) {
            if (p[i] > 0) {
                cum += p[i];
                last = i;
                if (u < cum) {
                    return i;
                }
            }
        }
        return last;
    }
}
