package dev.infini.samediff.fuzz;

import dev.infini.samediff.hf.HfCheckpoint;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.BiConsumer;

/** Weights and token paths that are not regular files: a directory, a symbolic link loop, a dangling link, a FIFO. */
final class PathKinds {
    private PathKinds() {
    }

    /** Runs each kind through {@code load} (a checkpoint directory) and {@code read} (a token file); returns the count. */
    static int check(Path tmp, FormatFuzzTest.Base base, BiConsumer<String, Path> load, BiConsumer<String, Path> read)
            throws IOException, InterruptedException {
        int n = 0;
        String[] kinds = {"directory", "symlink loop", "dangling symlink", "fifo"};
        for (String kind : kinds) {
            Path dir = Files.createTempDirectory(tmp, "kind");
            base.files().forEach((name, bytes) -> {
                try {
                    Files.write(dir.resolve(name), bytes);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            Path weights = dir.resolve(HfCheckpoint.SINGLE);
            Files.delete(weights);
            if (!make(kind, weights)) {
                continue;
            }
            load.accept("weights path is a " + kind, dir);
            Path ids = dir.resolve("ids-" + kind.replace(' ', '-') + ".npy");
            make(kind, ids);
            read.accept("token file is a " + kind, ids);
            n += 2;
        }
        return n;
    }

    private static boolean make(String kind, Path p) throws IOException, InterruptedException {
        switch (kind) {
            case "directory" -> Files.createDirectories(p);
            case "symlink loop" -> Files.createSymbolicLink(p, p);
            case "dangling symlink" -> Files.createSymbolicLink(p, p.resolveSibling("nowhere"));
            default -> {
                return new ProcessBuilder("mkfifo", p.toString()).start().waitFor() == 0;
            }
        }
        return true;
    }
}
