package dev.infini.samediff.decode;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Chooses the next token from logits: greedy (temperature 0), or a draw from {@code softmax(logits / T)}
 * restricted to the {@code topK} most likely tokens (0 = no limit) and then to the smallest set of most likely
 * tokens whose probability reaches {@code topP} (1 = no limit). Deterministic for a given seed.
 */
public final class Sampler {
    private final double temperature;
    private final int topK;
    private final double topP;
    private final SplittableRandom random;

    public Sampler(double temperature, int topK, double topP, long seed) {
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
        this.random = new SplittableRandom(seed);
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
    public double[] distribution(double[] logits) {
        int v = logits.length;
        double[] p = new double[v];
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
            return argmax(logits);
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
