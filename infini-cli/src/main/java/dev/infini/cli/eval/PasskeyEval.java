package dev.infini.cli.eval;

import dev.infini.datasets.passkey.PasskeySample;
import dev.infini.datasets.passkey.PasskeyTask;
import dev.infini.datasets.tokenize.Tokenizer;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.decode.Sampler;
import dev.infini.samediff.decode.StreamingDecoder;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Passkey retrieval accuracy: for every prompt length, depth and trial, a {@link PasskeyTask} sample is consumed
 * by the {@link StreamingDecoder} (memory written segment by segment) and the answer is decoded greedily.
 */
public final class PasskeyEval {
    private PasskeyEval() {
    }

    /** Called after every trial. */
    public interface Listener {
        void trialDone(int length, double depth, int trial, PasskeySample sample, String answer, boolean correct);
    }

    /**
     * {@code correct[i][j]}: trials answered right at length i and depth j; {@code digits[i][j]}: key digits
     * answered right in place, over those trials (out of 5 per trial).
     */
    public record Result(int[] lengths, double[] depths, int trials, int[][] correct, int[][] digits) {
        public double accuracy(int i, int j) {
            return (double) correct[i][j] / trials;
        }

        /** Fraction of key digits right in place at length i and depth j. */
        public double digitAccuracy(int i, int j) {
            return digits[i][j] / (5.0 * trials);
        }

        /** Fraction of key digits right in place over every trial. */
        public double meanDigitAccuracy() {
            long sum = 0;
            for (int[] row : digits) {
                for (int d : row) {
                    sum += d;
                }
            }
            return sum / (5.0 * trials * lengths.length * depths.length);
        }

        public double meanAccuracy() {
            long sum = 0;
            for (int[] row : correct) {
                for (int c : row) {
                    sum += c;
                }
            }
            return (double) sum / ((long) trials * lengths.length * depths.length);
        }
    }

    /** The seed of one trial's key: fixed by (seed, length, depth index, trial), so reruns draw the same keys. */
    static long trialSeed(long seed, int length, int depthIndex, int trial) {
        return seed * 1_000_003L + length * 7919L + depthIndex * 104_729L + trial;
    }

    /**
     * @param lengths sequence lengths in tokens, prompt and answer together, as {@code --seq-len} in passkey training:
     *                a length of 1024 is a prompt of {@code 1024 - maxAnswerLength} tokens, so that the answer ends
     *                where a training sequence does (with a segment size dividing the length, in the prompt's last
     *                segment rather than at the start of a new one)
     */
    public static Result run(InfiniModel model, Tokenizer tokenizer, int[] lengths, double[] depths, int trials, long seed,
                             Listener listener) {
        PasskeyTask task = new PasskeyTask(tokenizer);
        int answerTokens = task.maxAnswerLength();
        for (int len : lengths) {
            if (len - answerTokens < task.minLength()) {
                throw new IllegalArgumentException("a passkey sequence of " + len + " tokens is too short: with this "
                        + "tokenizer it needs at least " + (task.minLength() + answerTokens) + " tokens");
            }
        }
        StreamingDecoder dec = new StreamingDecoder(model);
        int[][] correct = new int[lengths.length][depths.length];
        int[][] digits = new int[lengths.length][depths.length];
        for (int i = 0; i < lengths.length; i++) {
            for (int j = 0; j < depths.length; j++) {
                for (int t = 0; t < trials; t++) {
                    PasskeySample s = task.sample(lengths[i] - answerTokens, depths[j], trialSeed(seed, lengths[i], j, t));
                    dec.reset();
                    int[] out = dec.generate(s.promptIds(), answerTokens + 1, Sampler.greedy().limitedTo(tokenizer.vocabSize()),
                            tokenizer.eosId(), null);
                    String answer = tokenizer.decode(out);
                    boolean ok = s.isCorrect(answer);
                    if (ok) {
                        correct[i][j]++;
                    }
                    digits[i][j] += s.digitsCorrect(answer);
                    if (listener != null) {
                        listener.trialDone(lengths[i], depths[j], t, s, answer, ok);
                    }
                }
            }
        }
        return new Result(lengths.clone(), depths.clone(), trials, correct, digits);
    }

    /** Parses lengths like {@code 1k,4k,16k,64k,1m,3000} (k = 1024, m = 1024^2). */
    public static int[] parseLengths(String spec) {
        List<Integer> out = new ArrayList<>();
        for (String raw : spec.split(",")) {
            String s = raw.trim().toLowerCase(Locale.ROOT);
            long mult = 1;
            if (s.endsWith("k")) {
                mult = 1024;
                s = s.substring(0, s.length() - 1);
            } else if (s.endsWith("m")) {
                mult = 1024 * 1024;
                s = s.substring(0, s.length() - 1);
            }
            long v;
            try {
                v = Long.parseLong(s) * mult;
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--lengths: '" + raw.trim() + "' is not a length like 4096, 4k or 1m");
            }
            if (v <= 0 || v > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("--lengths: '" + raw.trim() + "' is not a positive length below 2^31");
            }
            out.add((int) v);
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    /** Parses depths like {@code 0,0.25,0.5,0.75,1}, each in [0, 1]. */
    public static double[] parseDepths(String spec) {
        List<Double> out = new ArrayList<>();
        for (String raw : spec.split(",")) {
            double d;
            try {
                d = Double.parseDouble(raw.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--depths: '" + raw.trim() + "' is not a number in [0, 1]");
            }
            if (!(d >= 0 && d <= 1)) {
                throw new IllegalArgumentException("--depths: " + raw.trim() + " is outside [0, 1]");
            }
            out.add(d);
        }
        return out.stream().mapToDouble(Double::doubleValue).toArray();
    }

    /** 1024 as "1k", 65536 as "64k", 1048576 as "1m", others as they are. */
    public static String lengthLabel(int len) {
        if (len % (1024 * 1024) == 0) {
            return len / (1024 * 1024) + "m";
        }
        if (len % 1024 == 0) {
            return len / 1024 + "k";
        }
        return Integer.toString(len);
    }
}
