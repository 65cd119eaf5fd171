package dev.infini.datasets;

import dev.infini.datasets.tokenize.HfTokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/** Shared test fixtures: the Mistral-7B tokenizer.json (gzipped, Apache-2.0; see NOTICE.md next to it). */
public final class Fixtures {
    public static final String MISTRAL = "/dev/infini/datasets/mistral-7b-tokenizer.json.gz";
    private static HfTokenizer mistral;

    private Fixtures() {
    }

    /** One shared instance per test JVM (loading takes a few hundred ms). */
    public static synchronized HfTokenizer mistral() {
        if (mistral == null) {
            try (InputStream in = Fixtures.class.getResourceAsStream(MISTRAL)) {
                if (in == null) {
                    throw new IllegalStateException("test fixture " + MISTRAL + " is missing");
                }
                mistral = HfTokenizer.load(in, "mistral-7b-tokenizer.json.gz");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return mistral;
    }
}
