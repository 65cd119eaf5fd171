package dev.infini.cli.ui;

import dev.infini.cli.train.TrainListener;
import io.vertx.core.Promise;
import org.deeplearning4j.core.storage.StatsStorage;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.deeplearning4j.ui.VertxUIServer;
import org.deeplearning4j.ui.api.UIServer;
import org.deeplearning4j.ui.model.stats.StatsListener;
import org.deeplearning4j.ui.model.storage.FileStatsStorage;
import org.deeplearning4j.ui.model.storage.InMemoryStatsStorage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The DL4J training UI's side of a run ({@code train --ui [PORT]}, {@code --stats-file FILE}): a
 * {@link StatsStorage} (in memory, or DL4J's {@link FileStatsStorage} to view later with {@code infini ui}), and with
 * a port the DL4J {@link UIServer} showing it. The graph engine feeds it through DL4J's own {@link StatsListener}
 * ({@link #dl4jListener()}); the SameDiff engine through {@link #listener()}, which writes the same records
 * ({@link StatsReports}). Nothing here is loaded unless one of the two options is given.
 */
public final class StatsFeed {
    private static final Logger log = LoggerFactory.getLogger(StatsFeed.class);

    private final StatsStorage storage;
    private final UIServer server;

    private StatsFeed(StatsStorage storage, UIServer server) {
        this.storage = storage;
        this.server = server;
    }

    /**
     * Opens the storage ({@code statsFile}, appended to when it exists, or memory when null) and, with {@code uiPort},
     * starts the UI server on it; null when both are null.
     */
    public static StatsFeed open(Integer uiPort, String statsFile) throws IOException {
        if (uiPort == null && statsFile == null) {
            return null;
        }
        StatsStorage storage = statsFile != null ? fileStorage(Path.of(statsFile)) : new InMemoryStatsStorage();
        UIServer server = uiPort == null ? null : serve(uiPort, storage);
        return new StatsFeed(storage, server);
    }

    /** DL4J's file storage at {@code file}, its folder created. */
    public static StatsStorage fileStorage(Path file) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        return new FileStatsStorage(file.toFile());
    }

    /**
     * Starts (or reuses) the DL4J UI server on {@code port}, waits until it serves (its modules hear of a storage only
     * once started, and a session they did not see begin never shows), then attaches {@code storage} to it.
     */
    public static UIServer serve(int port, StatsStorage storage) {
        Promise<String> started = Promise.promise();
        CompletableFuture<String> done = new CompletableFuture<>();
        started.future().onComplete(r -> {
            if (r.succeeded()) {
                done.complete(r.result());
            } else {
                done.completeExceptionally(r.cause());
            }
        });
        UIServer server = VertxUIServer.getInstance(port, false, null, started);
        try {
            done.get(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while the DL4J UI started", e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("the DL4J UI did not start on port " + port + ": " + e.getMessage(), e);
        }
        if (server.getPort() != port) {
            log.warn("the DL4J UI was already running on port {}; it shows this run there", server.getPort());
        }
        server.attach(storage);
        log.info("DL4J training UI: {}", overviewUrl(server.getPort()));
        return server;
    }

    /** The UI's training overview page on {@code port}. */
    public static String overviewUrl(int port) {
        return "http://localhost:" + port + "/train/overview";
    }

    /** The overview page of this run's UI, or null without one. */
    public String url() {
        return server == null ? null : overviewUrl(server.getPort());
    }

    /** The storage the run writes to. */
    public StatsStorage storage() {
        return storage;
    }

    /**
     * DL4J's {@link StatsListener} on this storage, for a network DL4J trains (the graph engine), reporting every
     * iteration (its default of every 10th would leave a short run without a point).
     */
    public TrainingListener dl4jListener() {
        return new StatsListener(storage, 1);
    }

    /** A {@link TrainListener} writing DL4J UI records to this storage (the SameDiff engine). */
    public TrainListener listener() {
        return new StatsReports(storage);
    }

    /**
     * Ends the feed: with {@code keepServing} the UI and its storage stay up (the process then waits for Ctrl-C);
     * otherwise the server stops and the storage is closed (a stats file is complete from here on).
     */
    public void close(boolean keepServing) {
        if (keepServing) {
            return;
        }
        try {
            if (server != null) {
                server.detach(storage);
                UIServer.stopInstance();
            }
            storage.close();
        } catch (Exception e) {
            log.warn("closing the DL4J UI feed: {}", e.toString());
        }
    }
}
