package dev.infini.cli.train;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Output paths checked before any work starts, each failure an {@link IllegalArgumentException} that names the
 * option and the exact path given (and what stood in the way).
 */
public final class OutputPaths {
    private OutputPaths() {
    }

    /** Creates the output directory of {@code option} if needed and checks that it is a writable directory. */
    public static Path directory(String option, Path dir) {
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new IllegalArgumentException(option + " " + dir + ": this is a file, not a directory");
        }
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new IllegalArgumentException(option + " " + dir + ": cannot create this directory (" + reason(e) + ")", e);
        }
        if (!Files.isWritable(dir)) {
            throw new IllegalArgumentException(option + " " + dir + ": this directory is not writable");
        }
        return dir;
    }

    /**
     * Checks that {@code file} of {@code option} can be written: it is not a directory, its folder exists (made if
     * needed, as the writers do) and opening it for writing works (a file made by the probe is removed again; an
     * existing one is left as it is).
     */
    public static void file(String option, Path file) {
        if (Files.isDirectory(file)) {
            throw new IllegalArgumentException(option + " " + file + ": this is a directory, not a file");
        }
        Path parent = file.toAbsolutePath().getParent();
        try {
            if (parent != null) {
                Files.createDirectories(parent);
            }
        } catch (IOException e) {
            throw new IllegalArgumentException(option + " " + file + ": cannot write this file (cannot create its folder: "
                    + reason(e) + ")", e);
        }
        boolean existed = Files.exists(file);
        try (FileChannel ignored = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            // opened for writing, nothing written
        } catch (IOException e) {
            throw new IllegalArgumentException(option + " " + file + ": cannot write this file (" + reason(e) + ")", e);
        }
        if (!existed) {
            try {
                Files.deleteIfExists(file);
            } catch (IOException e) {
                throw new IllegalArgumentException(option + " " + file + ": cannot remove the probe file (" + reason(e) + ")", e);
            }
        }
    }

    /** What went wrong with a path, in words, naming the path where that was another one (a parent in the way). */
    static String reason(IOException e) {
        String what = e instanceof AccessDeniedException ? "permission denied"
                : e instanceof NotDirectoryException ? "not a directory"
                : e instanceof NoSuchFileException ? "no such file or directory"
                : e instanceof FileAlreadyExistsException ? "a file is in the way"
                : e instanceof FileSystemException f && f.getReason() != null ? f.getReason()
                : e.getMessage() != null ? e.getMessage() : e.toString();
        return e instanceof FileSystemException f && f.getFile() != null ? what + ": " + f.getFile() : what;
    }
}
