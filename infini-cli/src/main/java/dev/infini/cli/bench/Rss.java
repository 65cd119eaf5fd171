package dev.infini.cli.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Resident memory of this process from {@code /proc/self/status} (Linux): current and peak, in MiB. */
public final class Rss {
    private Rss() {
    }

    /** Current resident set (VmRSS) in MiB, or NaN where /proc is not available. */
    public static double currentMiB() {
        return read("VmRSS:");
    }

    /** CPU seconds (user + system, all threads) this process has used, from /proc/self/stat; NaN elsewhere. */
    public static double cpuSeconds() {
        try {
            String stat = Files.readString(Path.of("/proc/self/stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0; // utime, stime in clock ticks (USER_HZ 100)
        } catch (IOException | RuntimeException e) {
            return Double.NaN;
        }
    }

    /** Peak resident set (VmHWM) in MiB, or NaN. */
    public static double peakMiB() {
        return read("VmHWM:");
    }

    private static double read(String key) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(key)) {
                    return Long.parseLong(line.substring(key.length()).trim().split("\\s+")[0]) / 1024.0;
                }
            }
        } catch (IOException | RuntimeException e) {
            return Double.NaN;
        }
        return Double.NaN;
    }
}
