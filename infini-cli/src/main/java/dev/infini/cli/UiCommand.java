package dev.infini.cli;

import dev.infini.cli.ui.StatsFeed;
import org.deeplearning4j.core.storage.StatsStorage;
import org.deeplearning4j.ui.api.UIServer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code infini ui --stats-file FILE}: the DL4J training UI on the stats a run stored with {@code train --stats-file},
 * served until Ctrl-C (or for {@code --seconds}).
 */
@Command(name = "ui", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Show stored training stats (train --stats-file) in the DL4J training UI until Ctrl-C.")
final class UiCommand implements Callable<Integer> {
    @Option(names = "--stats-file", required = true, paramLabel = "FILE", description = "Stats written by train --stats-file.")
    Path statsFile;

    @Option(names = "--port", paramLabel = "PORT", description = "UI port (default: ${DEFAULT-VALUE}).")
    int port = 9000;

    @Option(names = "--seconds", paramLabel = "S", description = "Serve this long, then exit (default: until Ctrl-C).")
    Long seconds;

    @Override
    public Integer call() throws Exception {
        if (!Files.isRegularFile(statsFile)) {
            throw new IllegalArgumentException("--stats-file " + statsFile + ": no such file");
        }
        StatsStorage storage = StatsFeed.fileStorage(statsFile);
        StatsFeed.serve(port, storage);
        System.err.println("DL4J training UI at " + StatsFeed.overviewUrl(port) + " showing " + statsFile
                + (seconds == null ? " (Ctrl-C to stop)" : " for " + seconds + " s"));
        if (seconds == null) {
            Thread.currentThread().join();   // until Ctrl-C
        } else {
            Thread.sleep(seconds * 1000);
        }
        UIServer.stopInstance();
        storage.close();
        return 0;
    }
}
