package dev.infini.cli.train;

import dev.infini.cli.plot.LinePlot;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** Training and validation loss against the step (a {@link LinePlot}), as an image or a PNG file. */
public final class LossCurve {
    private LossCurve() {
    }

    /**
     * Points are {step, loss}; {@code reference} draws a dashed horizontal line (e.g. the unigram loss), NaN for none.
     */
    public static BufferedImage image(String title, List<double[]> train, List<double[]> val, double reference,
                                      String referenceLabel) {
        return plot(title, train, val, reference, referenceLabel).image();
    }

    /** The curve as a {@link LinePlot}, to restyle or write. */
    public static LinePlot plot(String title, List<double[]> train, List<double[]> val, double reference,
                                String referenceLabel) {
        return new LinePlot(title, "step", "loss (nats/token)")
                .series("train", train)
                .series("validation", val).markers()
                .reference(reference, referenceLabel)
                .xRange(0, Double.NaN);
    }

    /** {@link #image} written as a PNG. */
    public static void write(Path file, String title, List<double[]> train, List<double[]> val, double reference,
                             String referenceLabel) throws IOException {
        plot(title, train, val, reference, referenceLabel).write(file);
    }
}
