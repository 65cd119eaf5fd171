package dev.infini.cli.eval;

import dev.infini.cli.plot.Png;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.geom.AffineTransform;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;

/**
 * A heatmap PNG of passkey retrieval accuracy in the style of the paper's figure: context length on the x axis,
 * depth of the key on the y axis, one cell per (length, depth) colored from red (0%) through yellow to green (100%),
 * the percentage written in each cell, and a color bar. Drawn with Java2D, headless.
 */
public final class Heatmap {
    private Heatmap() {
    }

    /** Red (0) - yellow (0.5) - green (1). */
    static Color color(double v) {
        v = Math.max(0, Math.min(1, v));
        Color lo = new Color(0xD7, 0x30, 0x27), mid = new Color(0xFE, 0xE0, 0x8B), hi = new Color(0x1A, 0x98, 0x50);
        Color a = v < 0.5 ? lo : mid, b = v < 0.5 ? mid : hi;
        double f = v < 0.5 ? v / 0.5 : (v - 0.5) / 0.5;
        return new Color((int) Math.round(a.getRed() + f * (b.getRed() - a.getRed())),
                (int) Math.round(a.getGreen() + f * (b.getGreen() - a.getGreen())),
                (int) Math.round(a.getBlue() + f * (b.getBlue() - a.getBlue())));
    }

    /** Writes the heatmap of {@code r} to {@code file} as a PNG. */
    public static void write(PasskeyEval.Result r, String title, Path file) throws IOException {
        Png.write(image(r, title), file);
    }

    /** The heatmap of {@code r} as an image (Jupyter's Java kernels show it inline when a cell ends with it). */
    public static BufferedImage image(PasskeyEval.Result r, String title) {
        int cols = r.lengths().length, rows = r.depths().length;
        int cell = 64, left = 90, top = 60, right = 110, bottom = 70;
        int w = left + cols * cell + right, h = top + rows * cell + bottom;
        BufferedImage img = Png.canvas(w, h);
        Graphics2D g = Png.graphics(img);
        try {
            Font font = new Font(Font.SANS_SERIF, Font.PLAIN, 12);
            g.setFont(font.deriveFont(Font.BOLD, 14f));
            center(g, title, left + cols * cell / 2, 28, Color.BLACK);
            g.setFont(font);
            for (int j = 0; j < rows; j++) {
                for (int i = 0; i < cols; i++) {
                    double acc = r.accuracy(i, j);
                    int x = left + i * cell, y = top + j * cell;
                    g.setColor(color(acc));
                    g.fillRect(x, y, cell, cell);
                    g.setColor(Color.WHITE);
                    g.setStroke(new BasicStroke(1f));
                    g.drawRect(x, y, cell, cell);
                    center(g, String.format("%.0f%%", 100 * acc), x + cell / 2, y + cell / 2 + 4, Color.BLACK);
                }
                String label = String.format("%.2f", r.depths()[j]);
                g.setColor(Color.BLACK);
                FontMetrics fm = g.getFontMetrics();
                g.drawString(label, left - 8 - fm.stringWidth(label), top + j * cell + cell / 2 + 4);
            }
            for (int i = 0; i < cols; i++) {
                center(g, PasskeyEval.lengthLabel(r.lengths()[i]), left + i * cell + cell / 2, top + rows * cell + 18, Color.BLACK);
            }
            center(g, "Context length (tokens)", left + cols * cell / 2, top + rows * cell + 44, Color.BLACK);
            AffineTransform saved = g.getTransform();
            g.rotate(-Math.PI / 2);
            center(g, "Depth of the pass key", -(top + rows * cell / 2), 28, Color.BLACK);
            g.setTransform(saved);
            // Color bar, 100% at the top.
            int bx = left + cols * cell + 30, bw = 18, bh = rows * cell;
            for (int y = 0; y < bh; y++) {
                g.setColor(color(1.0 - (double) y / (bh - 1)));
                g.fillRect(bx, top + y, bw, 1);
            }
            g.setColor(Color.BLACK);
            g.drawRect(bx, top, bw, bh);
            for (int k = 0; k <= 4; k++) {
                int y = top + (int) Math.round(bh * (1 - k / 4.0));
                g.drawLine(bx + bw, y, bx + bw + 4, y);
                g.drawString((k * 25) + "%", bx + bw + 7, y + 4);
            }
        } finally {
            g.dispose();
        }
        return img;
    }

    private static void center(Graphics2D g, String s, int cx, int y, Color c) {
        g.setColor(c);
        g.drawString(s, cx - g.getFontMetrics().stringWidth(s) / 2, y);
    }
}
