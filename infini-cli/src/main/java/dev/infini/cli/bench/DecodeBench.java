package dev.infini.cli.bench;

import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.Presets;
import dev.infini.samediff.decode.Sampler;
import dev.infini.samediff.decode.StreamingDecoder;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Decode speed and memory after a short and a long context: tokens/s of greedy decoding (FastStep with the default fast kernel, the step graph with samediff; one segment
 * written into memory every {@code segment_size} tokens) with a decoder that has consumed ~1K tokens and one that
 * has consumed ~32K, measured in alternating rounds so that load from other processes hits both alike; resident
 * memory (VmRSS, after a full GC) ND4J's allocated off-heap bytes and the Java heap after each round. Figures only, no pass/fail.
 *
 * <p>{@code java -cp zoo/target/infini-zoo.jar:zoo/target/lib/* dev.infini.cli.bench.DecodeBench [short long tokensPerRound rounds]}
 * (defaults 1024 32768 256 3). The model is the tiny preset shape with random weights: Gemma, vocab 260,
 * hidden 256, 4 layers, 4 heads, 1 KV head, head_dim 64, intermediate 1024, segment 256.
 */
public final class DecodeBench {
    private DecodeBench() {
    }

    static InfiniConfig tinyPreset() {
        return Presets.get("tiny");
    }

    /** Resident set size in bytes (Linux), or -1. */
    static long rssBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }

    /** Bytes ND4J reports as allocated off-heap on device 0 (its memory manager), or -1 if it cannot say. */
    static long nd4jBytes() {
        try {
            return Nd4j.getMemoryManager().allocatedMemory(0);
        } catch (RuntimeException e) {
            return -1;
        }
    }

    /** Java heap in use. */
    static long heapBytes() {
        Runtime rt = Runtime.getRuntime();
        return rt.totalMemory() - rt.freeMemory();
    }

    /** A full GC outside the timed part, so that memory figures show what is live, not what awaits collection. */
    static void settle() {
        dev.infini.samediff.runtime.GraphRuntime.collectGarbage();
        try {
            Thread.sleep(50);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static double mib(long bytes) {
        return bytes / (1024.0 * 1024.0);
    }

    /** Decodes {@code n} tokens greedily from {@code logits}; returns tokens/s. */
    static double decode(StreamingDecoder dec, INDArray[] logits, int n) {
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            logits[0] = dec.step(Sampler.argmax(logits[0].toDoubleVector()));
        }
        return n / ((System.nanoTime() - t0) / 1e9);
    }

    static double median(List<Double> xs) {
        double[] a = xs.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return a.length % 2 == 1 ? a[a.length / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
    }

    public static void main(String[] args) {
        int shortCtx = args.length > 0 ? Integer.parseInt(args[0]) : 1024;
        int longCtx = args.length > 1 ? Integer.parseInt(args[1]) : 32768;
        int perRound = args.length > 2 ? Integer.parseInt(args[2]) : 256;
        int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 3;
        InfiniConfig c = tinyPreset();
        InfiniModel model = InfiniModel.random(c, 1);
        Random rnd = new Random(2);
        int[] context = new int[longCtx];
        for (int i = 0; i < context.length; i++) {
            context[i] = rnd.nextInt(256);
        }
        System.out.printf(Locale.ROOT, "model: %s, %d parameters%n", c, c.parameterCount());

        StreamingDecoder shortDec = new StreamingDecoder(model);
        long t0 = System.nanoTime();
        INDArray[] shortLogits = {shortDec.feed(Arrays.copyOf(context, shortCtx))};
        double shortPrefill = shortCtx / ((System.nanoTime() - t0) / 1e9);
        decode(shortDec, shortLogits, 16);                      // warm-up: builds the step graph
        settle();
        long rssShort = rssBytes();
        System.out.printf(Locale.ROOT, "fed %d tokens (%.0f tokens/s); RSS %.0f MiB, ND4J %.0f MiB%n", shortCtx,
                shortPrefill, mib(rssShort), mib(nd4jBytes()));

        StreamingDecoder longDec = new StreamingDecoder(model);
        t0 = System.nanoTime();
        INDArray[] longLogits = {longDec.feed(context)};
        double longPrefill = longCtx / ((System.nanoTime() - t0) / 1e9);
        decode(longDec, longLogits, 16);
        settle();
        System.out.printf(Locale.ROOT, "fed %d tokens (%.0f tokens/s); RSS %.0f MiB, ND4J %.0f MiB%n", longCtx,
                longPrefill, mib(rssBytes()), mib(nd4jBytes()));

        List<Double> shortRates = new ArrayList<>(), longRates = new ArrayList<>();
        long rssMin = Long.MAX_VALUE, rssMax = 0;
        System.out.printf(Locale.ROOT, "%-6s %-10s %-12s %-10s %-10s %-10s%n", "round", "context", "tokens/s", "RSS MiB", "ND4J MiB", "heap MiB");
        for (int r = 0; r < rounds; r++) {
            for (boolean isLong : new boolean[] {false, true}) {
                StreamingDecoder d = isLong ? longDec : shortDec;
                double rate = decode(d, isLong ? longLogits : shortLogits, perRound);
                (isLong ? longRates : shortRates).add(rate);
                settle();
                long rss = rssBytes();
                rssMin = Math.min(rssMin, rss);
                rssMax = Math.max(rssMax, rss);
                System.out.printf(Locale.ROOT, "%-6d %-10d %-12.1f %-10.0f %-10.0f %-10.0f%n", r, d.position(), rate, mib(rss),
                        mib(nd4jBytes()), mib(heapBytes()));
            }
        }
        double s = median(shortRates), l = median(longRates);
        System.out.printf(Locale.ROOT, "median decode tokens/s: %.1f after ~%d tokens, %.1f after ~%d tokens, ratio %.3f%n",
                s, shortCtx, l, longCtx, l / s);
        System.out.printf(Locale.ROOT, "decoder state (memory + cache): %d bytes at %d and at %d tokens; RSS over the rounds %.0f-%.0f MiB%n",
                shortDec.stateBytes(), shortDec.position(), longDec.position(), mib(rssMin), mib(rssMax));
        System.out.printf(Locale.ROOT, "{\"short_context\":%d,\"long_context\":%d,\"tokens_per_s_short\":%.2f,"
                        + "\"tokens_per_s_long\":%.2f,\"ratio\":%.4f,\"rss_mib_min\":%.1f,\"rss_mib_max\":%.1f,"
                        + "\"state_bytes\":%d,\"prefill_tokens_per_s\":%.1f}%n",
                shortCtx, longCtx, s, l, l / s, mib(rssMin), mib(rssMax), longDec.stateBytes(), longPrefill);
    }
}
