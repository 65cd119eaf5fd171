package dev.infini.cli.plot;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.HeatMapChart;
import org.knowm.xchart.style.Styler;

import java.awt.Color;
import java.awt.Font;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A heatmap rendered by XChart (headless): labelled columns (x) and rows (y), one cell per value colored from red
 * (the low end of the range) through yellow to green (the high end), the value written in each cell, a color bar.
 * The first row is drawn at the bottom. Used for passkey retrieval (depth or gap against length) and any grid of
 * accuracies.
 *
 * <pre>{@code
 * new HeatmapPlot("Recall", "gap (tokens)", "length").columns("0", "1k").rows("4k", "16k")
 *         .values(new double[][] {{1, 0.5}, {0.8, 0.1}}).percent().image();
 * }</pre>
 */
public final class HeatmapPlot {
    /** Red, yellow, green (ColorBrewer's RdYlGn ends and middle). */
    private static final Color[] RED_YELLOW_GREEN = {
            new Color(0xD7, 0x30, 0x27), new Color(0xFE, 0xE0, 0x8B), new Color(0x1A, 0x98, 0x50)};

    private final String title;
    private final String xLabel;
    private final String yLabel;
    private String[] columns = new String[0];
    private String[] rows = new String[0];
    private double[][] values = new double[0][];
    private double min = 0, max = 1;
    private String pattern = "0.00";
    private int width = -1, height = -1;

    public HeatmapPlot(String title, String xLabel, String yLabel) {
        this.title = title;
        this.xLabel = xLabel;
        this.yLabel = yLabel;
    }

    /** The column (x) labels, left to right. */
    public HeatmapPlot columns(String... labels) {
        this.columns = labels.clone();
        return this;
    }

    /** The row (y) labels, bottom to top. */
    public HeatmapPlot rows(String... labels) {
        this.rows = labels.clone();
        return this;
    }

    /** The values, {@code [row][column]}; NaN cells stay empty. */
    public HeatmapPlot values(double[][] v) {
        this.values = new double[v.length][];
        for (int r = 0; r < v.length; r++) {
            this.values[r] = v[r].clone();
        }
        return this;
    }

    /** The values that get the two end colors (default 0 and 1). */
    public HeatmapPlot range(double min, double max) {
        if (!(max > min)) {
            throw new IllegalArgumentException("heatmap range needs max > min, got " + min + ", " + max);
        }
        this.min = min;
        this.max = max;
        return this;
    }

    /** Cell values written as whole percentages (the values are fractions). */
    public HeatmapPlot percent() {
        this.pattern = "0%";
        return this;
    }

    /** Image size in pixels (default: 90 pixels a cell plus the margins). */
    public HeatmapPlot size(int width, int height) {
        this.width = width;
        this.height = height;
        return this;
    }

    /** The XChart chart itself. */
    public HeatMapChart chart() {
        check();
        int w = width > 0 ? width : 260 + 90 * columns.length, h = height > 0 ? height : 170 + 70 * rows.length;
        HeatMapChart c = new HeatMapChart(w, h, Styler.ChartTheme.XChart);
        c.setTitle(title);
        c.setXAxisTitle(xLabel);
        c.setYAxisTitle(yLabel);
        Charts.style(c.getStyler());
        c.getStyler().setRangeColors(RED_YELLOW_GREEN).setMin(min).setMax(max).setShowValue(true)
                .setValueFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13)).setValueFontColor(Color.BLACK)
                .setHeatMapValueDecimalPattern(pattern)
                .setDrawBorder(true).setPlotGridLinesVisible(false).setLegendVisible(true);
        List<Number[]> cells = new ArrayList<>();
        for (int r = 0; r < rows.length; r++) {
            for (int k = 0; k < columns.length; k++) {
                if (Double.isFinite(values[r][k])) {
                    cells.add(new Number[] {k, r, values[r][k]});
                }
            }
        }
        c.addSeries(title == null || title.isEmpty() ? " " : title, Arrays.asList(columns), Arrays.asList(rows), cells);
        return c;
    }

    private void check() {
        if (values.length != rows.length) {
            throw new IllegalArgumentException("heatmap: " + rows.length + " row labels but " + values.length + " rows of values");
        }
        for (double[] row : values) {
            if (row.length != columns.length) {
                throw new IllegalArgumentException("heatmap: " + columns.length + " column labels but a row of "
                        + row.length + " values");
            }
        }
        if (rows.length == 0 || columns.length == 0) {
            throw new IllegalArgumentException("heatmap: no cells (give rows, columns and values)");
        }
    }

    /** The heatmap as an image (Jupyter's Java kernels show it inline when a cell ends with it). */
    public BufferedImage image() {
        return BitmapEncoder.getBufferedImage(chart());
    }

    /** Writes the heatmap as a PNG, creating parent directories. */
    public void write(Path file) throws IOException {
        Charts.writePng(chart(), file);
    }
}
