package dev.infini.cli.plot;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.Styler;

import java.awt.Color;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** What every chart of the project shares: the look (white, no chart border) and PNG output. */
final class Charts {
    private Charts() {
    }

    static void style(Styler st) {
        st.setChartBackgroundColor(Color.WHITE);
        st.setChartTitleBoxVisible(false);
        st.setLegendBorderColor(Color.LIGHT_GRAY);
        st.setAntiAlias(true);
    }

    /** Writes {@code chart} as a PNG, creating parent directories. */
    static void writePng(Chart<?, ?> chart, Path file) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        try (OutputStream out = Files.newOutputStream(file)) {
            BitmapEncoder.saveBitmap(chart, out, BitmapEncoder.BitmapFormat.PNG);
        }
    }
}
