package dev.infini.zoo.plot;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Writes images as PNG files (the one place the project's plots are saved). */
public final class Png {
    private Png() {
    }

    /** Writes {@code img} to {@code file} as a PNG, creating parent directories. */
    public static void write(BufferedImage img, Path file) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        if (!ImageIO.write(img, "png", file.toFile())) {
            throw new IOException("no PNG writer available for " + file);
        }
    }
}
