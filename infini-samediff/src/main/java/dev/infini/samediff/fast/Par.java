package dev.infini.samediff.fast;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Splits the element-wise loops of {@link Kernels} over a small fixed pool: the calling thread takes one share,
 * {@code threads - 1} daemon workers the others. Threads: {@code -Dinfini.fast.threads} (default the number of
 * cores, at most 4); loops under {@link #minWork} elements run on the calling thread alone.
 */
final class Par {
    static final int THREADS = Math.max(1, Integer.getInteger("infini.fast.threads",
            Math.min(4, Runtime.getRuntime().availableProcessors())));
    /** Loops of fewer elements stay on the calling thread (tests lower it to split every loop). */
    static long minWork = 16_384;
    private static final ExecutorService POOL = THREADS > 1 ? Executors.newFixedThreadPool(THREADS - 1, r -> {
        Thread t = new Thread(r, "infini-fast-worker");
        t.setDaemon(true);
        return t;
    }) : null;

    private Par() {
    }

    /** A share {@code [from, to)} of a loop. */
    interface Range {
        void run(int from, int to);
    }

    /** Runs {@code body} over {@code [0, n)} in contiguous shares; {@code work} is the loop's element count. */
    static void range(int n, long work, Range body) {
        int parts = POOL == null || work < minWork ? 1 : Math.min(THREADS, n);
        if (parts <= 1) {
            body.run(0, n);
            return;
        }
        Future<?>[] futures = new Future<?>[parts - 1];
        for (int p = 1; p < parts; p++) {
            int from = (int) ((long) n * p / parts), to = (int) ((long) n * (p + 1) / parts);
            futures[p - 1] = POOL.submit(() -> body.run(from, to));
        }
        body.run(0, n / parts);
        for (Future<?> f : futures) {
            try {
                f.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            } catch (ExecutionException e) {
                throw e.getCause() instanceof RuntimeException re ? re : new IllegalStateException(e.getCause());
            }
        }
    }
}
