package dev.infini.zoo.train;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Draws training and validation loss against the step as a PNG (Java2D, headless). */
public final class LossCurve {
    private LossCurve() {
    }

    /** Points are {step, loss}; {@code reference} draws a dashed horizontal line (e.g. the unigram loss), NaN for none. */
    public static void write(Path file, String title, List<double[]> train, List<double[]> val, double reference,
                             String referenceLabel) throws IOException {
        System.setProperty("java.awt.headless", "true");
        int w = 900, h = 520, left = 70, right = 20, top = 40, bottom = 55;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        double maxStep = 1, minLoss = Double.MAX_VALUE, maxLoss = -Double.MAX_VALUE;
        for (List<double[]> series : List.of(train, val)) {
            for (double[] p : series) {
                if (Double.isFinite(p[1])) {
                    maxStep = Math.max(maxStep, p[0]);
                    minLoss = Math.min(minLoss, p[1]);
                    maxLoss = Math.max(maxLoss, p[1]);
                }
            }
        }
        if (Double.isFinite(reference)) {
            minLoss = Math.min(minLoss, reference);
            maxLoss = Math.max(maxLoss, reference);
        }
        if (minLoss > maxLoss) {
            minLoss = 0;
            maxLoss = 1;
        }
        double pad = (maxLoss - minLoss) * 0.05 + 1e-9;
        double lo = Math.max(0, minLoss - pad), hi = maxLoss + pad;
        int pw = w - left - right, ph = h - top - bottom;
        g.setColor(new Color(235, 235, 235));
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        for (int i = 0; i <= 5; i++) {
            int y = top + ph - i * ph / 5;
            g.setColor(new Color(230, 230, 230));
            g.drawLine(left, y, left + pw, y);
            g.setColor(Color.DARK_GRAY);
            g.drawString(String.format("%.2f", lo + (hi - lo) * i / 5), 10, y + 4);
            int x = left + i * pw / 5;
            g.drawString(String.format("%d", Math.round(maxStep * i / 5)), x - 10, top + ph + 18);
        }
        g.setColor(Color.BLACK);
        g.drawRect(left, top, pw, ph);
        g.drawString("step", left + pw / 2 - 10, h - 15);
        g.drawString("loss (nats/token)", 10, 25);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
        g.drawString(title, left + 130, 25);
        g.setStroke(new BasicStroke(1.5f));
        drawSeries(g, train, new Color(31, 119, 180), left, top, pw, ph, maxStep, lo, hi, false);
        drawSeries(g, val, new Color(214, 39, 40), left, top, pw, ph, maxStep, lo, hi, true);
        int ly = top + 15;
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        g.setColor(new Color(31, 119, 180));
        g.drawString("train", left + pw - 120, ly);
        g.setColor(new Color(214, 39, 40));
        g.drawString("validation", left + pw - 120, ly + 16);
        if (Double.isFinite(reference)) {
            int y = (int) (top + ph - (reference - lo) / (hi - lo) * ph);
            g.setColor(Color.GRAY);
            g.setStroke(new BasicStroke(1f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {6f, 4f}, 0f));
            g.drawLine(left, y, left + pw, y);
            g.drawString(referenceLabel, left + 8, y - 4);
        }
        g.dispose();
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        ImageIO.write(img, "png", file.toFile());
    }

    private static void drawSeries(Graphics2D g, List<double[]> pts, Color c, int left, int top, int pw, int ph,
                                   double maxStep, double lo, double hi, boolean markers) {
        g.setColor(c);
        int px = -1, py = -1;
        for (double[] p : pts) {
            if (!Double.isFinite(p[1])) {
                continue;
            }
            int x = (int) (left + p[0] / maxStep * pw);
            int y = (int) (top + ph - (p[1] - lo) / (hi - lo) * ph);
            if (px >= 0) {
                g.drawLine(px, py, x, y);
            }
            if (markers) {
                g.fillOval(x - 3, y - 3, 6, 6);
            }
            px = x;
            py = y;
        }
    }
}
