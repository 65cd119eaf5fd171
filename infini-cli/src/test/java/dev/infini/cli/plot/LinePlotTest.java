package dev.infini.cli.plot;

import dev.infini.cli.eval.Heatmap;
import dev.infini.cli.eval.PasskeyEval;
import dev.infini.cli.train.LossCurve;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LinePlotTest {
    @TempDir
    Path tmp;

    private static final Color FIRST = new Color(31, 119, 180);
    private static final Color SECOND = new Color(214, 39, 40);

    private static int count(BufferedImage img, Color c, int x0, int x1) {
        int n = 0;
        for (int x = x0; x < x1; x++) {
            for (int y = 0; y < img.getHeight(); y++) {
                if ((img.getRGB(x, y) & 0xFFFFFF) == (c.getRGB() & 0xFFFFFF)) {
                    n++;
                }
            }
        }
        return n;
    }

    @Test
    @DisplayName("series are drawn in their colors where their points are; size as asked")
    void drawsSeries() {
        // First series only on the left half of x, second only on the right half.
        BufferedImage img = new LinePlot("t", "x", "y")
                .series("left", new double[] {0, 1, 2, 3, 4}, new double[] {1, 2, 3, 2, 1})
                .series("right", new double[] {6, 7, 8, 9, 10}, new double[] {3, 1, 2, 1, 3}).markers()
                .size(640, 400).image();
        assertEquals(640, img.getWidth());
        assertEquals(400, img.getHeight());
        int mid = img.getWidth() / 2 + 15;
        // The legend sits at the top right, so only count below it.
        assertTrue(count(img, FIRST, 0, mid - 40) > 100, "first series on the left");
        assertTrue(count(img, SECOND, mid + 10, img.getWidth() - 150) > 100, "second series on the right");
        assertEquals(0, count(img, SECOND, 0, mid - 40), "second series only on the right");
    }

    @Test
    @DisplayName("non-finite points, a single point, constant values and empty plots draw without error")
    void degenerateInputs() {
        new LinePlot("nan", "x", "y").series("s", new double[] {1, Double.NaN, 3, Double.POSITIVE_INFINITY}).image();
        new LinePlot("one", "x", "y").series("s", new double[] {0}, new double[] {5}).image();
        new LinePlot("flat", "x", "y").series("s", new double[] {2, 2, 2}).reference(2, "ref").image();
        new LinePlot("empty", "x", "y").image();
        assertThrows(IllegalArgumentException.class, () -> new LinePlot("t", "x", "y").series("s", new double[] {1, 2}, new double[] {1}));
        assertThrows(IllegalStateException.class, () -> new LinePlot("t", "x", "y").markers());
    }

    @Test
    @DisplayName("ticks are round numbers 1, 2 or 5 times a power of ten apart, covering the range; whole x, whole ticks")
    void roundTicks() {
        assertArrayEquals(new double[] {0, 20, 40, 60, 80, 100}, LinePlot.ticks(0, 100, false), 1e-9);
        assertArrayEquals(new double[] {2.4, 2.6, 2.8, 3.0}, LinePlot.ticks(2.31, 3.05, false), 1e-9);
        assertArrayEquals(new double[] {-1, -0.5, 0, 0.5, 1}, LinePlot.ticks(-1, 1.2, false), 1e-9);
        assertArrayEquals(new double[] {0, 1, 2, 3}, LinePlot.ticks(0, 3, true), 1e-9, "whole numbers: no 0.5 steps");
        assertEquals("0.25", LinePlot.format(0.25, new double[] {0, 0.05}));
        assertEquals("1,000", LinePlot.format(1000, new double[] {0, 200}));
    }

    @Test
    @DisplayName("PNG files of a plot, a loss curve and a passkey heatmap read back with their sizes")
    void writesPngs() throws IOException {
        Path plot = tmp.resolve("a/plot.png");
        new LinePlot("t", "x", "y").series("s", new double[] {1, 3, 2}).write(plot);
        assertEquals(900, ImageIO.read(plot.toFile()).getWidth());

        Path loss = tmp.resolve("loss.png");
        LossCurve.write(loss, "loss", List.of(new double[] {1, 3.0}, new double[] {2, 2.5}),
                List.of(new double[] {2, 2.7}), Math.log(20), "unigram");
        assertEquals(LossCurve.image("loss", List.of(), List.of(), Double.NaN, "").getHeight(),
                ImageIO.read(loss.toFile()).getHeight());

        PasskeyEval.Result r = new PasskeyEval.Result(new int[] {1024, 4096}, new double[] {0, 0.5, 1}, 2,
                new int[][] {{2, 1, 0}, {0, 1, 2}}, new int[][] {{10, 7, 3}, {2, 6, 10}});
        BufferedImage hm = Heatmap.image(r, "passkey");
        Path hmFile = tmp.resolve("hm.png");
        Heatmap.write(r, "passkey", hmFile);
        BufferedImage back = ImageIO.read(hmFile.toFile());
        assertEquals(hm.getWidth(), back.getWidth());
        assertEquals(hm.getHeight(), back.getHeight());
    }
}
