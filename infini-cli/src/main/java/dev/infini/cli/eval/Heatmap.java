package dev.infini.cli.eval;

import dev.infini.cli.plot.HeatmapPlot;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The passkey retrieval heatmap: depth of the key on the x axis, context length on the y axis (shortest at the
 * bottom), one cell per (depth, length) from red (0%) through yellow to green (100%) with the percentage written in
 * it; a {@link HeatmapPlot}.
 */
public final class Heatmap {
    private Heatmap() {
    }

    /** The heatmap of {@code r} as a plot, to restyle or write. */
    public static HeatmapPlot plot(PasskeyEval.Result r, String title) {
        String[] depths = new String[r.depths().length], lengths = new String[r.lengths().length];
        double[][] acc = new double[lengths.length][depths.length];
        for (int j = 0; j < depths.length; j++) {
            depths[j] = String.format("%.2f", r.depths()[j]);
        }
        for (int i = 0; i < lengths.length; i++) {
            lengths[i] = PasskeyEval.lengthLabel(r.lengths()[i]);
            for (int j = 0; j < depths.length; j++) {
                acc[i][j] = r.accuracy(i, j);
            }
        }
        return new HeatmapPlot(title, "Depth of the pass key", "Context length (tokens)")
                .columns(depths).rows(lengths).values(acc).percent();
    }

    /** Writes the heatmap of {@code r} to {@code file} as a PNG. */
    public static void write(PasskeyEval.Result r, String title, Path file) throws IOException {
        plot(r, title).write(file);
    }

    /** The heatmap of {@code r} as an image (Jupyter's Java kernels show it inline when a cell ends with it). */
    public static BufferedImage image(PasskeyEval.Result r, String title) {
        return plot(r, title).image();
    }
}
