package dev.infini.cli.plot;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.Stroke;
import java.awt.geom.AffineTransform;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A line plot drawn with Java2D (headless): named series of (x, y) points, optional dashed horizontal reference
 * lines, axes with round tick values, a legend when there are several series. {@link #image()} gives a
 * {@link BufferedImage}, which Jupyter's Java kernels show inline when a cell ends with it; {@link #write} saves a
 * PNG. Non-finite points are skipped (the line breaks there).
 *
 * <pre>{@code
 * new LinePlot("Memory norm", "segment", "||M||").series("layer 0", xs, ys).markers().image();
 * }</pre>
 */
public final class LinePlot {
    /** Matplotlib's tab10 colors, cycled over the series. */
    private static final Color[] PALETTE = {
            new Color(31, 119, 180), new Color(214, 39, 40), new Color(44, 160, 44), new Color(255, 127, 14),
            new Color(148, 103, 189), new Color(140, 86, 75), new Color(227, 119, 194), new Color(127, 127, 127),
            new Color(188, 189, 34), new Color(23, 190, 207)};

    private record Series(String name, double[] x, double[] y, Color color, boolean line, boolean markers) {
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
        series.add(new Series(name, x.clone(), y.clone(), PALETTE[series.size() % PALETTE.length], true, false));
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

    /** Adds a series of {x, y} points (the form of {@code Trainer.Summary.losses()}). */
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
        series.add(new Series(s.name(), s.x(), s.y(), s.color(), line, markers));
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
            throw new IllegalArgumentException("a plot needs at least 200 x 150 pixels, got " + width + " x " + height);
        }
        this.width = width;
        this.height = height;
        return this;
    }

    /** The plot as an image. */
    public BufferedImage image() {
        double[] xr = range(true), yr = range(false);
        double[] xTicks = ticks(xr[0], xr[1], wholeX()), yTicks = ticks(yr[0], yr[1], false);
        double x0 = xr[0], x1 = xr[1], y0 = yr[0], y1 = yr[1];

        BufferedImage img = Png.canvas(width, height);
        Graphics2D g = Png.graphics(img);
        try {
            Font plain = new Font(Font.SANS_SERIF, Font.PLAIN, 12);
            g.setFont(plain);
            FontMetrics fm = g.getFontMetrics();
            int yLabelWidth = 0;
            for (double t : yTicks) {
                yLabelWidth = Math.max(yLabelWidth, fm.stringWidth(format(t, yTicks)));
            }
            int left = 38 + yLabelWidth, right = 20, top = 40, bottom = 52;
            int pw = width - left - right, ph = height - top - bottom;
            Frame f = new Frame(left, top, pw, ph, x0, x1, y0, y1);

            axes(g, fm, f, xTicks, yTicks);
            Stroke dashed = new BasicStroke(1f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {6f, 4f}, 0f);
            for (Reference r : references) {
                int y = f.py(r.y());
                g.setColor(Color.GRAY);
                g.setStroke(dashed);
                g.drawLine(left, y, left + pw, y);
            }
            drawSeries(g, f);
            for (Reference r : references) {
                int y = f.py(r.y());
                g.setColor(new Color(255, 255, 255, 200));
                g.fillRect(left + 6, y - 4 - fm.getAscent(), fm.stringWidth(r.label()) + 4, fm.getAscent());
                g.setColor(Color.GRAY);
                g.drawString(r.label(), left + 8, y - 4);
            }
            legend(g, fm, f);
        } finally {
            g.dispose();
        }
        return img;
    }

    /** Grid lines, tick labels, the frame, the axis labels and the title. */
    private void axes(Graphics2D g, FontMetrics fm, Frame f, double[] xTicks, double[] yTicks) {
        int left = f.left(), top = f.top(), pw = f.pw(), ph = f.ph();
        for (double t : yTicks) {
            if (t < f.y0() || t > f.y1()) continue;
            int y = f.py(t);
            g.setColor(new Color(232, 232, 232));
            g.drawLine(left, y, left + pw, y);
            g.setColor(Color.DARK_GRAY);
            String s = format(t, yTicks);
            g.drawString(s, left - 6 - fm.stringWidth(s), y + 4);
        }
        for (double t : xTicks) {
            if (t < f.x0() || t > f.x1()) continue;
            int x = f.px(t);
            g.setColor(new Color(232, 232, 232));
            g.drawLine(x, top, x, top + ph);
            g.setColor(Color.DARK_GRAY);
            String s = format(t, xTicks);
            g.drawString(s, x - fm.stringWidth(s) / 2, top + ph + 16);
        }
        g.setColor(Color.BLACK);
        g.drawRect(left, top, pw, ph);
        g.drawString(xLabel, left + pw / 2 - fm.stringWidth(xLabel) / 2, height - 14);
        AffineTransform saved = g.getTransform();
        g.rotate(-Math.PI / 2);
        g.drawString(yLabel, -(top + ph / 2) - fm.stringWidth(yLabel) / 2, 16);
        g.setTransform(saved);
        Font plain = g.getFont();
        g.setFont(plain.deriveFont(Font.BOLD, 14f));
        g.drawString(title, left + pw / 2 - g.getFontMetrics().stringWidth(title) / 2, 25);
        g.setFont(plain);
    }

    /** The series' lines and markers, clipped to the plot area. */
    private void drawSeries(Graphics2D g, Frame f) {
        g.setClip(f.left(), f.top(), f.pw() + 1, f.ph() + 1);
        g.setStroke(new BasicStroke(1.8f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
        for (Series s : series) {
            g.setColor(s.color());
            int px = Integer.MIN_VALUE, py = 0;
            for (int i = 0; i < s.x().length; i++) {
                if (!Double.isFinite(s.x()[i]) || !Double.isFinite(s.y()[i])) {
                    px = Integer.MIN_VALUE;
                    continue;
                }
                int x = f.px(s.x()[i]), y = f.py(s.y()[i]);
                if (s.line() && px != Integer.MIN_VALUE) {
                    g.drawLine(px, py, x, y);
                }
                if (s.markers()) {
                    g.fillOval(x - 3, y - 3, 7, 7);
                }
                px = x;
                py = y;
            }
        }
        g.setClip(null);
    }

    /** Writes the plot as a PNG, creating parent directories. */
    public void write(Path file) throws IOException {
        Png.write(image(), file);
    }

    /** The legend in whichever plot corner (top right first) covers the fewest data points. */
    private void legend(Graphics2D g, FontMetrics fm, Frame f) {
        if (series.size() < 2) {
            return; // one series: the title and axis labels say what it is
        }
        int textWidth = 0;
        for (Series s : series) {
            textWidth = Math.max(textWidth, fm.stringWidth(s.name()));
        }
        int w = textWidth + 44, h = series.size() * 18 + 8, m = 10;
        int[][] corners = {
                {f.left() + f.pw() - m - w, f.top() + m}, {f.left() + m, f.top() + m},
                {f.left() + f.pw() - m - w, f.top() + f.ph() - m - h}, {f.left() + m, f.top() + f.ph() - m - h}};
        int x = corners[0][0], top = corners[0][1], best = Integer.MAX_VALUE;
        for (int[] c : corners) {
            int covered = 0;
            for (Series s : series) {
                for (int i = 0; i < s.x().length; i++) {
                    // Points and the midpoints of line pieces, so long straight lines count too.
                    for (int half = 0; half < (s.line() && i + 1 < s.x().length ? 2 : 1); half++) {
                        double px = half == 0 ? s.x()[i] : (s.x()[i] + s.x()[i + 1]) / 2;
                        double py = half == 0 ? s.y()[i] : (s.y()[i] + s.y()[i + 1]) / 2;
                        if (Double.isFinite(px) && Double.isFinite(py)) {
                            int qx = f.px(px), qy = f.py(py);
                            if (qx >= c[0] && qx <= c[0] + w && qy >= c[1] && qy <= c[1] + h) {
                                covered++;
                            }
                        }
                    }
                }
            }
            if (covered < best) {
                best = covered;
                x = c[0];
                top = c[1];
            }
        }
        g.setColor(new Color(255, 255, 255, 220));
        g.fillRect(x, top, w, h);
        g.setColor(new Color(200, 200, 200));
        g.setStroke(new BasicStroke(1f));
        g.drawRect(x, top, w, h);
        for (int i = 0; i < series.size(); i++) {
            Series s = series.get(i);
            int y = top + 16 + i * 18;
            g.setColor(s.color());
            g.setStroke(new BasicStroke(1.8f));
            if (s.line()) {
                g.drawLine(x + 8, y - 4, x + 30, y - 4);
            }
            if (s.markers()) {
                g.fillOval(x + 16, y - 7, 7, 7);
            }
            g.setColor(Color.BLACK);
            g.drawString(s.name(), x + 36, y);
        }
    }

    /** Data range of x or y (with the reference lines for y), padded for y, fixed ends applied. */
    private double[] range(boolean isX) {
        double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
        for (Series s : series) {
            double[] v = isX ? s.x() : s.y();
            for (int i = 0; i < v.length; i++) {
                if (Double.isFinite(s.x()[i]) && Double.isFinite(s.y()[i])) {
                    lo = Math.min(lo, v[i]);
                    hi = Math.max(hi, v[i]);
                }
            }
        }
        if (!isX) {
            for (Reference r : references) {
                lo = Math.min(lo, r.y());
                hi = Math.max(hi, r.y());
            }
        }
        if (lo > hi) {
            lo = 0;
            hi = 1;
        }
        if (hi - lo < 1e-12 * Math.max(1, Math.abs(hi))) {
            double d = Math.max(Math.abs(hi) * 0.05, 0.5);
            lo -= d;
            hi += d;
        } else if (!isX) {
            double pad = (hi - lo) * 0.06;
            lo -= pad;
            hi += pad;
        }
        if (isX) {
            return new double[] {Double.isNaN(xMin) ? lo : xMin, Double.isNaN(xMax) ? hi : xMax};
        }
        return new double[] {Double.isNaN(yMin) ? lo : yMin, Double.isNaN(yMax) ? hi : yMax};
    }

    /** True when every x value is a whole number (then ticks are too: layer, head and step numbers). */
    private boolean wholeX() {
        for (Series s : series) {
            for (double x : s.x()) {
                if (Double.isFinite(x) && x != Math.rint(x)) {
                    return false;
                }
            }
        }
        return true;
    }

    /** About six round tick values (1, 2 or 5 times a power of ten apart, at least 1 if {@code whole}) covering [lo, hi]. */
    static double[] ticks(double lo, double hi, boolean whole) {
        double raw = (hi - lo) / 6;
        double mag = Math.pow(10, Math.floor(Math.log10(raw)));
        double step = mag;
        for (double m : new double[] {1, 2, 5, 10}) {
            if (m * mag >= raw) {
                step = m * mag;
                break;
            }
        }
        if (whole) {
            step = Math.max(1, step);
        }
        double first = Math.ceil(lo / step - 1e-9) * step;
        List<Double> out = new ArrayList<>();
        for (double t = first; t <= hi + step * 1e-9; t += step) {
            out.add(Math.abs(t) < step * 1e-9 ? 0.0 : t);
        }
        if (out.isEmpty()) {
            out.add(lo);
        }
        return out.stream().mapToDouble(Double::doubleValue).toArray();
    }

    /** A tick label with as many decimals as the tick spacing needs. */
    static String format(double v, double[] ticks) {
        double step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : Math.abs(v);
        int decimals = step == 0 || step >= 1 ? 0 : (int) Math.min(6, Math.ceil(-Math.log10(step) - 1e-9));
        if (Math.abs(v) >= 1e6 || (v != 0 && Math.abs(v) < 1e-4 && step < 1e-4)) {
            return String.format(Locale.ROOT, "%.1e", v);
        }
        return String.format(Locale.ROOT, "%,." + decimals + "f", v);
    }

    /** Data to pixel coordinates. */
    private record Frame(int left, int top, int pw, int ph, double x0, double x1, double y0, double y1) {
        int px(double x) {
            return (int) Math.round(left + (x - x0) / (x1 - x0) * pw);
        }

        int py(double y) {
            return (int) Math.round(top + ph - (y - y0) / (y1 - y0) * ph);
        }
    }
}
