package dev.infini.cli.plot;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A line plot rendered by XChart (headless): named series of (x, y) points, optional dashed horizontal reference
 * lines, a legend when there is more than one line. {@link #image()} gives a {@link BufferedImage}, which Jupyter's
 * Java kernels show inline when a cell ends with it; {@link #write} saves a PNG. Non-finite points are left out
 * (the line breaks there). Axes, ticks and the legend are XChart's.
 *
 * <pre>{@code
 * new LinePlot("Memory norm", "segment", "||M||").series("layer 0", xs, ys).markers().image();
 * }</pre>
 */
public final class LinePlot {
    /** Matplotlib's tab10 colors, cycled over the series. */
    static final Color[] PALETTE = {
            new Color(31, 119, 180), new Color(214, 39, 40), new Color(44, 160, 44), new Color(255, 127, 14),
            new Color(148, 103, 189), new Color(140, 86, 75), new Color(227, 119, 194), new Color(127, 127, 127),
            new Color(188, 189, 34), new Color(23, 190, 207)};

    private record Series(String name, double[] x, double[] y, boolean line, boolean markers) {
    }

    private record Reference(double y, String label) {
    }

    private final String title;
    private final String xLabel;
    private final String yLabel;
    private final List<Series> series = new ArrayList<>();
    private final List<Reference> references = new ArrayList<>();
    private int width = 900;
    private int height = 480;
    private double xMin = Double.NaN, xMax = Double.NaN, yMin = Double.NaN, yMax = Double.NaN;

    public LinePlot(String title, String xLabel, String yLabel) {
        this.title = title;
        this.xLabel = xLabel;
        this.yLabel = yLabel;
    }

    /** Adds a series drawn as a line; {@code x} and {@code y} have the same length. */
    public LinePlot series(String name, double[] x, double[] y) {
        if (x.length != y.length) {
            throw new IllegalArgumentException("series '" + name + "': " + x.length + " x values but " + y.length + " y values");
        }
        series.add(new Series(name, x.clone(), y.clone(), true, false));
        return this;
    }

    /** Adds a series with x = 0, 1, 2, ... */
    public LinePlot series(String name, double[] y) {
        double[] x = new double[y.length];
        for (int i = 0; i < x.length; i++) {
            x[i] = i;
        }
        return series(name, x, y);
    }

    /** Adds a series of {x, y} points (the form of {@code TrainSummary.losses()}). */
    public LinePlot series(String name, List<double[]> points) {
        double[] x = new double[points.size()], y = new double[points.size()];
        for (int i = 0; i < x.length; i++) {
            x[i] = points.get(i)[0];
            y[i] = points.get(i)[1];
        }
        return series(name, x, y);
    }

    /** Draws the last series added with a dot at every point as well as the line. */
    public LinePlot markers() {
        return restyleLast(true, true);
    }

    /** Draws the last series added as dots only. */
    public LinePlot markersOnly() {
        return restyleLast(false, true);
    }

    private LinePlot restyleLast(boolean line, boolean markers) {
        if (series.isEmpty()) {
            throw new IllegalStateException("no series to style yet");
        }
        Series s = series.remove(series.size() - 1);
        series.add(new Series(s.name(), s.x(), s.y(), line, markers));
        return this;
    }

    /** A dashed gray horizontal line at {@code y}, labelled (e.g. a baseline); ignored when {@code y} is not finite. */
    public LinePlot reference(double y, String label) {
        if (Double.isFinite(y)) {
            references.add(new Reference(y, label));
        }
        return this;
    }

    /** Fixes the x range (NaN for either end keeps it automatic). */
    public LinePlot xRange(double min, double max) {
        this.xMin = min;
        this.xMax = max;
        return this;
    }

    /** Fixes the y range (NaN for either end keeps it automatic). */
    public LinePlot yRange(double min, double max) {
        this.yMin = min;
        this.yMax = max;
        return this;
    }

    /** Image size in pixels (default 900 x 480). */
    public LinePlot size(int width, int height) {
        if (width < 200 || height < 150) {
            throw new IllegalArgumentException("plot size at least 200 x 150, got " + width + " x " + height);
        }
        this.width = width;
        this.height = height;
        return this;
    }

    /** The XChart chart itself, for styling beyond this class (its series, styler, size). */
    public XYChart chart() {
        XYChart c = new XYChart(width, height);
        c.setTitle(title);
        c.setXAxisTitle(xLabel);
        c.setYAxisTitle(yLabel);
        Charts.style(c.getStyler());
        int shown = 0;
        for (int i = 0; i < series.size(); i++) {
            shown += add(c, series.get(i), PALETTE[i % PALETTE.length]) ? 1 : 0;
        }
        double[] xs = xExtent();
        for (Reference r : references) {
            XYSeries s = c.addSeries(unique(c, r.label()), xs, new double[] {r.y(), r.y()});
            s.setLineColor(Color.GRAY);
            s.setLineStyle(SeriesLines.DASH_DASH);
            s.setMarker(SeriesMarkers.NONE);
            shown++;
        }
        if (shown == 0) {
            // XChart draws no axes without a series: an invisible one keeps the frame.
            XYSeries blank = c.addSeries(" ", new double[] {0, 1}, new double[] {0, 1});
            blank.setLineColor(new Color(0, 0, 0, 0));
            blank.setMarker(SeriesMarkers.NONE);
            blank.setShowInLegend(false);
        }
        c.getStyler().setLegendVisible(shown > 1).setLegendPosition(Styler.LegendPosition.OutsideE);
        applyRanges(c);
        return c;
    }

    /** Adds one series (its finite points; none: left out), colored; true when it was added. */
    private static boolean add(XYChart c, Series s, Color color) {
        List<Double> x = new ArrayList<>(), y = new ArrayList<>();
        int finite = 0;
        for (int i = 0; i < s.x().length; i++) {
            boolean ok = Double.isFinite(s.x()[i]) && Double.isFinite(s.y()[i]);
            x.add(Double.isFinite(s.x()[i]) ? s.x()[i] : Double.NaN);
            y.add(ok ? s.y()[i] : Double.NaN);
            finite += ok ? 1 : 0;
        }
        if (finite == 0) {
            return false;
        }
        XYSeries xy = c.addSeries(unique(c, s.name()), x, y);
        xy.setLineColor(color);
        xy.setMarkerColor(color);
        xy.setMarker(s.markers() || finite == 1 ? SeriesMarkers.CIRCLE : SeriesMarkers.NONE);
        if (!s.line()) {
            xy.setLineStyle(SeriesLines.NONE);
        }
        return true;
    }

    private static String unique(XYChart c, String name) {
        String n = name == null || name.isEmpty() ? " " : name;
        while (c.getSeriesMap().containsKey(n)) {
            n = n + " ";
        }
        return n;
    }

    /** The x extent of the data (or of the fixed range), over which reference lines are drawn. */
    private double[] xExtent() {
        double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
        for (Series s : series) {
            for (double v : s.x()) {
                if (Double.isFinite(v)) {
                    lo = Math.min(lo, v);
                    hi = Math.max(hi, v);
                }
            }
        }
        lo = Double.isFinite(xMin) ? xMin : Double.isFinite(lo) ? lo : 0;
        hi = Double.isFinite(xMax) ? xMax : Double.isFinite(hi) ? hi : 1;
        return new double[] {lo, hi > lo ? hi : lo + 1};
    }

    private void applyRanges(XYChart c) {
        var st = c.getStyler();
        if (Double.isFinite(xMin)) {
            st.setXAxisMin(xMin);
        }
        if (Double.isFinite(xMax)) {
            st.setXAxisMax(xMax);
        }
        if (Double.isFinite(yMin)) {
            st.setYAxisMin(yMin);
        }
        if (Double.isFinite(yMax)) {
            st.setYAxisMax(yMax);
        }
        if (wholeX()) {
            st.setXAxisDecimalPattern("#,##0");
        }
    }

    /** True when every x value is a whole number (layer, head and step numbers get whole tick labels). */
    private boolean wholeX() {
        for (Series s : series) {
            for (double v : s.x()) {
                if (Double.isFinite(v) && v != Math.rint(v)) {
                    return false;
                }
            }
        }
        return true;
    }

    /** The plot as an image. */
    public BufferedImage image() {
        return BitmapEncoder.getBufferedImage(chart());
    }

    /** Writes the plot as a PNG, creating parent directories. */
    public void write(Path file) throws IOException {
        Charts.writePng(chart(), file);
    }
}
