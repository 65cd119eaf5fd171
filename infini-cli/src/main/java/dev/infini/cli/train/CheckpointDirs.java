package dev.infini.cli.train;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The checkpoint directories of a run directory and how they are replaced without a window in which no whole
 * checkpoint exists.
 *
 * <p>Layout: {@code checkpoint-N/} (N = step) for the newest {@code --keep-checkpoints}, {@code checkpoint} (a
 * symbolic link to the newest) and {@code best} (a link to the one of lowest validation loss, kept out of the
 * rotation). A checkpoint is written into {@code checkpoint-N.tmp/}, every file and the directory fsynced, then
 * renamed to {@code checkpoint-N/} (one atomic rename; the run directory fsynced after it); links are replaced by
 * renaming a new link over them. An old checkpoint is first renamed to {@code checkpoint-M.deleting/}, then deleted.
 * A kill at any moment therefore leaves every {@code checkpoint-N/} whole; {@link #recover} removes the leftovers.
 */
final class CheckpointDirs {
    private static final Logger log = LoggerFactory.getLogger(CheckpointDirs.class);
    static final String PREFIX = "checkpoint-";
    /** The link to the newest checkpoint (and the name of the single directory of older versions). */
    static final String LATEST = "checkpoint";
    static final String BEST = "best";
    static final String TMP = ".tmp";
    static final String DELETING = ".deleting";
    static final String OLD = ".old";
    private static final Pattern NAME = Pattern.compile("checkpoint-(\\d+)");
    /** Test hook: prints each phase of a checkpoint write to stderr (crash tests kill the process at one). */
    static final String HOOK_PROPERTY = "infini.test.checkpointHook";
    /** Test hook: {@code phase@step} at which the process stops (sleeps) until it is killed. */
    static final String PAUSE_PROPERTY = "infini.test.checkpointPause";
    private static boolean linksUnsupportedLogged;

    private CheckpointDirs() {
    }

    /** Writes the files of a checkpoint into a directory. */
    interface Writer {
        void write(Path dir) throws IOException;
    }

    static Path dir(Path runDir, long step) {
        return runDir.resolve(PREFIX + step);
    }

    /** The step of a {@code checkpoint-N} name, or empty. */
    static OptionalLong stepOf(Path p) {
        Matcher m = NAME.matcher(p.getFileName() == null ? "" : p.getFileName().toString());
        return m.matches() ? OptionalLong.of(Long.parseLong(m.group(1))) : OptionalLong.empty();
    }

    /**
     * Writes {@code checkpoint-N/} durably and atomically, then points {@code checkpoint} at it; a checkpoint of
     * the same step already there (a resumed run ending where it had ended) is replaced only once the new one is
     * whole (the old one waits as {@code checkpoint-N.old/} meanwhile).
     */
    static Path publish(Path runDir, long step, Writer writer) throws IOException {
        Path target = dir(runDir, step);
        Path tmp = runDir.resolve(PREFIX + step + TMP);
        deleteTree(tmp);
        Files.createDirectories(tmp);
        writer.write(tmp);
        hook("written", step);
        syncTree(tmp);
        hook("synced", step);
        if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
            Path old = runDir.resolve(PREFIX + step + OLD);
            deleteTree(old);
            Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            syncDir(runDir);
            deleteTree(old);
        } else {
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            syncDir(runDir);
        }
        hook("renamed", step);
        link(runDir, LATEST, target.getFileName().toString());
        hook("linked", step);
        return target;
    }

    /** Points the link {@code name} of the run directory at {@code target} (a sibling), replacing it atomically. */
    static void link(Path runDir, String name, String target) throws IOException {
        Path link = runDir.resolve(name);
        if (Files.isDirectory(link, LinkOption.NOFOLLOW_LINKS)) {
            retire(link);   // the single checkpoint/ directory of an older version; checkpoint-N/ replaces it
        }
        Path tmp = runDir.resolve(name + ".link" + TMP);
        Files.deleteIfExists(tmp);
        try {
            Files.createSymbolicLink(tmp, Paths.get(target));
        } catch (UnsupportedOperationException | IOException e) {
            if (!linksUnsupportedLogged) {
                linksUnsupportedLogged = true;
                log.warn("{}: cannot create the symbolic link {} -> {} ({}); use the checkpoint-N directories", runDir,
                        name, target, e.toString());
            }
            return;
        }
        Files.move(tmp, link, StandardCopyOption.ATOMIC_MOVE);
        syncDir(runDir);
    }

    /** Removes a link of the run directory (a real directory of that name stays). */
    static void unlink(Path runDir, String name) throws IOException {
        Path link = runDir.resolve(name);
        if (Files.isSymbolicLink(link)) {
            Files.delete(link);
        }
    }

    /** The steps of the {@code checkpoint-N/} directories of a run directory, newest first. */
    static List<Long> steps(Path runDir) throws IOException {
        List<Long> out = new ArrayList<>();
        if (!Files.isDirectory(runDir)) {
            return out;
        }
        try (Stream<Path> s = Files.list(runDir)) {
            s.filter(p -> Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)).forEach(p -> stepOf(p).ifPresent(out::add));
        }
        out.sort(Comparator.reverseOrder());
        return out;
    }

    /**
     * The checkpoint directories to resume from, newest first: {@code checkpoint-N/}, and {@code checkpoint-N.old/}
     * after it (the previous copy of the same step, while a replacement is being put in place).
     */
    static List<Path> candidates(Path runDir) throws IOException {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(runDir)) {
            return out;
        }
        try (Stream<Path> s = Files.list(runDir)) {
            s.filter(p -> Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)).filter(p -> stepOf(base(p)).isPresent())
                    .forEach(out::add);
        }
        out.sort(Comparator.comparingLong((Path p) -> stepOf(base(p)).getAsLong()).reversed()
                .thenComparing(p -> p.getFileName().toString().endsWith(OLD)));
        return out;
    }

    /** {@code checkpoint-N} for {@code checkpoint-N.old}, the path itself otherwise. */
    private static Path base(Path p) {
        String n = p.getFileName().toString();
        return n.endsWith(OLD) ? p.resolveSibling(n.substring(0, n.length() - OLD.length())) : p;
    }

    /** Deletes all but the {@code keep} newest checkpoints, never the one of step {@code spare} (best). */
    static void rotate(Path runDir, int keep, Long spare) throws IOException {
        List<Long> steps = steps(runDir);
        for (int i = keep; i < steps.size(); i++) {
            if (!steps.get(i).equals(spare)) {
                retire(dir(runDir, steps.get(i)));
            }
        }
    }

    /**
     * Clears what a kill left in a run directory (locked by this run): deletes unfinished ({@code .tmp}) and half
     * deleted ({@code .deleting}) directories and puts back a {@code checkpoint-N.old/} whose replacement never
     * arrived. Runs before the checkpoint to resume from is looked for.
     */
    static void clearLeftovers(Path runDir) throws IOException {
        List<Path> entries;
        try (Stream<Path> s = Files.list(runDir)) {
            entries = s.toList();
        }
        for (Path p : entries) {
            String n = p.getFileName().toString();
            if (n.endsWith(TMP) || n.endsWith(DELETING)) {
                log.info("{}: removing {}, left unfinished by an interrupted run", runDir, n);
                deleteTree(p);
            } else if (n.startsWith(PREFIX) && n.endsWith(OLD)) {
                Path whole = runDir.resolve(n.substring(0, n.length() - OLD.length()));
                if (Files.exists(whole, LinkOption.NOFOLLOW_LINKS)) {
                    deleteTree(p);
                } else {
                    Files.move(p, whole, StandardCopyOption.ATOMIC_MOVE);
                }
            }
        }
        syncDir(runDir);
    }

    /**
     * Deletes the checkpoints newer than {@code startStep} (the step this run starts from: they belong to a run
     * being replaced; for a new run, also {@code checkpoint/} of an older version) and points {@code checkpoint}
     * at the newest left.
     */
    static void startAt(Path runDir, long startStep) throws IOException {
        for (long step : steps(runDir)) {
            if (step > startStep) {
                log.info("{}: removing {}{}, newer than step {} this run starts from", runDir, PREFIX, step, startStep);
                retire(dir(runDir, step));
            }
        }
        if (startStep == 0 && Files.isDirectory(runDir.resolve(LATEST), LinkOption.NOFOLLOW_LINKS)) {
            log.info("{}: removing {}/ of the run there before", runDir, LATEST);
            retire(runDir.resolve(LATEST));
        }
        List<Long> left = steps(runDir);
        if (!left.isEmpty()) {
            link(runDir, LATEST, PREFIX + left.get(0));
        } else {
            unlink(runDir, LATEST);
        }
    }

    /** Deletes a directory by renaming it first, so that a kill never leaves a half-deleted checkpoint under its name. */
    static void retire(Path dir) throws IOException {
        Path gone = dir.resolveSibling(dir.getFileName() + DELETING);
        deleteTree(gone);
        Files.move(dir, gone, StandardCopyOption.ATOMIC_MOVE);
        syncDir(dir.getParent());
        stepOf(dir).ifPresent(s -> hook("retiring", s));
        deleteTree(gone);
    }

    /** fsyncs every file of a directory, then the directory. */
    static void syncTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            for (Path f : s.filter(Files::isRegularFile).toList()) {
                try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
                    ch.force(true);
                }
            }
        }
        syncDir(dir);
    }

    /** fsyncs a directory (its entries: the renames into it), where the platform allows it. */
    static void syncDir(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException e) {
            log.debug("cannot fsync directory {}: {}", dir, e.toString());
        }
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(q);
            }
        }
    }

    /** The test hook: prints the phase, and stops here (until killed) at the phase and step it names. */
    static void hook(String phase, long step) {
        if (System.getProperty(HOOK_PROPERTY) == null) {
            return;
        }
        String at = phase + "@" + step;
        System.err.println("[checkpoint-hook] " + at);
        System.err.flush();
        if (at.equals(System.getProperty(PAUSE_PROPERTY))) {
            try {
                Thread.sleep(Long.MAX_VALUE);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
