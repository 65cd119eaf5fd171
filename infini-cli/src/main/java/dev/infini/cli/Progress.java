package dev.infini.cli;

import java.io.PrintStream;

/** A one-line progress bar on stderr for long work (redrawn in place on a terminal, sparse otherwise). */
final class Progress {
    private final String label;
    private final long total;
    private final long start = System.nanoTime();
    private final PrintStream err = System.err;
    private final boolean tty = System.console() != null;
    private long lastPrint;
    private boolean printed;

    private final String unit;

    Progress(String label, long total) {
        this(label, total, "segments");
    }

    /** @param unit what {@code total} counts, e.g. "segments" (with a tokens/s figure) or "cells" (without) */
    Progress(String label, long total, String unit) {
        this.label = label;
        this.total = total;
        this.unit = unit;
    }

    void update(long done, long tokens) {
        long now = System.nanoTime();
        if (total <= 1 || (now - lastPrint < (tty ? 200_000_000L : 5_000_000_000L) && done < total)) {
            return;
        }
        lastPrint = now;
        double secs = (now - start) / 1e9;
        int width = 30;
        int fill = (int) (width * done / total);
        String bar = "#".repeat(fill) + "-".repeat(width - fill);
        double eta = done == 0 ? 0 : secs / done * (total - done);
        String rate = unit.equals("segments") ? String.format(", %.0f tok/s", tokens / Math.max(secs, 1e-9)) : "";
        String line = String.format("%s [%s] %d/%d %s%s, ETA %.0fs", label, bar, done, total, unit, rate, eta);
        err.print(tty ? "\r" + line : line + "\n");
        printed = true;
    }

    /** Shows a ready-made status line (throttled like {@link #update}). */
    void line(String text) {
        long now = System.nanoTime();
        if (now - lastPrint < (tty ? 200_000_000L : 5_000_000_000L)) {
            return;
        }
        lastPrint = now;
        err.print(tty ? "\r" + text + "   " : text + "\n");
        err.flush();
        printed = true;
    }

    void finish() {
        if (printed && tty) {
            err.println();
        }
    }
}
