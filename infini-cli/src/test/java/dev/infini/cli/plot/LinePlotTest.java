package dev.infini.cli.plot;

import dev.infini.cli.eval.Heatmap;
import dev.infini.cli.eval.PasskeyEval;
import dev.infini.cli.train.LossCurve;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.knowm.xchart.HeatMapChart;
import org.knowm.xchart.XYChart;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LinePlotTest {
    @TempDir
    Path tmp;

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
    @DisplayName("series are drawn in their palette colors where their points are; size as asked; legend outside")
    void drawsSeries() {
        // First series only on the left half of x, second only on the right half; the legend sits right of the plot.
        BufferedImage img = new LinePlot("t", "x", "y")
                .series("left", new double[] {0, 1, 2, 3, 4}, new double[] {1, 2, 3, 2, 1})
                .series("right", new double[] {6, 7, 8, 9, 10}, new double[] {3, 1, 2, 1, 3}).markers()
                .size(640, 400).image();
        assertEquals(640, img.getWidth());
        assertEquals(400, img.getHeight());
        int third = img.getWidth() / 3;
        assertTrue(count(img, LinePlot.PALETTE[0], 0, third) > 100, "first series on the left");
        assertEquals(0, count(img, LinePlot.PALETTE[1], 0, third), "second series only on the right");
        assertTrue(count(img, LinePlot.PALETTE[1], third, img.getWidth()) > 100, "second series on the right");
    }

    @Test
    @DisplayName("the chart is XChart's: one series per line and reference, legend only for several, ranges as fixed")
    void chartModel() {
        XYChart one = new LinePlot("t", "x", "y").series("s", new double[] {1, 2, 3}).chart();
        assertEquals(1, one.getSeriesMap().size());
        assertFalse(one.getStyler().isLegendVisible(), "a single line needs no legend");
        XYChart two = new LinePlot("t", "x", "y").series("s", new double[] {1, 2}).reference(1.5, "baseline")
                .yRange(0, 4).chart();
        assertEquals(2, two.getSeriesMap().size());
        assertTrue(two.getSeriesMap().containsKey("baseline"));
        assertTrue(two.getStyler().isLegendVisible());
        assertEquals(0.0, two.getStyler().getYAxisMin());
        assertEquals(4.0, two.getStyler().getYAxisMax());
    }

    @Test
    @DisplayName("non-finite points, a single point, constant values and empty plots draw without error")
    void degenerateInputs() {
        new LinePlot("nan", "x", "y").series("s", new double[] {1, Double.NaN, 3, Double.POSITIVE_INFINITY}).image();
        new LinePlot("one", "x", "y").series("s", new double[] {0}, new double[] {5}).image();
        new LinePlot("flat", "x", "y").series("s", new double[] {2, 2, 2}).reference(2, "ref").image();
        new LinePlot("empty", "x", "y").image();
        new LinePlot("all nan", "x", "y").series("s", new double[] {Double.NaN}).image();
        assertThrows(IllegalArgumentException.class, () -> new LinePlot("t", "x", "y").series("s", new double[] {1, 2}, new double[] {1}));
        assertThrows(IllegalStateException.class, () -> new LinePlot("t", "x", "y").markers());
    }

    @Test
    @DisplayName("a heatmap has one cell per finite value, labelled rows and columns, and rejects ragged values")
    void heatmap() {
        HeatMapChart c = new HeatmapPlot("recall", "gap", "length").columns("0", "1k", "4k").rows("1k", "4k")
                .values(new double[][] {{1, 0.5, Double.NaN}, {0.25, 0, 1}}).percent().chart();
        var s = c.getHeatMapSeries();
        assertEquals(List.of("0", "1k", "4k"), s.getXData());
        assertEquals(List.of("1k", "4k"), s.getYData());
        assertEquals(5, s.getHeatData().size(), "the NaN cell stays empty");
        assertThrows(IllegalArgumentException.class, () -> new HeatmapPlot("t", "x", "y").columns("a").rows("b")
                .values(new double[][] {{1, 2}}).chart());
        BufferedImage img = new HeatmapPlot("t", "x", "y").columns("a").rows("b").values(new double[][] {{1}}).image();
        assertTrue(count(img, new Color(0x1A, 0x98, 0x50), 0, img.getWidth()) > 500, "a 100% cell is green");
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
        assertEquals(List.of("0.00", "0.50", "1.00"), Heatmap.plot(r, "p").chart().getHeatMapSeries().getXData(),
                "depth across, length up");
    }
}
