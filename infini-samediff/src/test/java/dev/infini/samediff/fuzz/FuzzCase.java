package dev.infini.samediff.fuzz;


import java.io.IOException;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs one malformed input through a reader and classifies the outcome: a clean error (an {@link IOException},
 * {@code InfiniConfigException} or {@link IllegalArgumentException} with a message), a correct result (the oracle
 * accepts what was read), a wrong success, a crash (any other throwable: NullPointerException, index out of bounds,
 * OutOfMemoryError, ...) or a hang (no answer within the timeout).
 */
final class FuzzCase {
    enum Outcome { CLEAN_ERROR, CORRECT, WRONG_SUCCESS, CRASH, HANG }

    /** What one case read, and whether it is right. */
    interface Oracle<T> {
        boolean correct(T result) throws Exception;
    }

    record Result(String name, Outcome outcome, String detail) {
    }

    private FuzzCase() {
    }

    static <T> Result run(ExecutorService pool, String name, long timeoutMs, Callable<T> read, Oracle<T> oracle) {
        Future<Result> f = pool.submit(() -> classify(name, read, oracle));
        try {
            return f.get(timeoutMs, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            return new Result(name, Outcome.HANG, "no answer in " + timeoutMs + " ms");
        } catch (InterruptedException | ExecutionException e) {
            return new Result(name, Outcome.CRASH, String.valueOf(e));
        }
    }

    private static <T> Result classify(String name, Callable<T> read, Oracle<T> oracle) {
        T value;
        try {
            value = read.call();
        } catch (IOException | IllegalArgumentException e) { // InfiniConfigException is an IllegalArgumentException
            String m = e.getMessage();
            boolean clean = m != null && !m.isBlank() && !m.startsWith("Input length");
            return new Result(name, clean ? Outcome.CLEAN_ERROR : Outcome.CRASH, e.getClass().getSimpleName() + ": " + m);
        } catch (Throwable t) {
            return new Result(name, Outcome.CRASH, String.valueOf(t));
        }
        try {
            return new Result(name, oracle.correct(value) ? Outcome.CORRECT : Outcome.WRONG_SUCCESS, "loaded");
        } catch (Throwable t) {
            return new Result(name, Outcome.CRASH, "oracle: " + t);
        }
    }

    static ExecutorService pool() {
        return Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "fuzz-case");
            t.setDaemon(true);
            return t;
        });
    }
}
