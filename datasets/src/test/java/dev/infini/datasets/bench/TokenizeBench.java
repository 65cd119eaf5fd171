package dev.infini.datasets.bench;

import dev.infini.datasets.Fixtures;
import dev.infini.datasets.corpus.Corpus;
import dev.infini.datasets.corpus.Document;
import dev.infini.datasets.corpus.DocumentRecordReader;
import dev.infini.datasets.pipeline.TokenBlockIterator;
import dev.infini.datasets.pipeline.TokenCache;
import dev.infini.datasets.pipeline.TokenizedCorpus;
import dev.infini.datasets.tokenize.ByteTokenizer;
import dev.infini.datasets.tokenize.Tokenizer;
import org.nd4j.linalg.dataset.DataSet;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * Throughput of tokenization plus batching on the bundled corpora, and cache timings. Run with
 * {@code mvn -q -pl datasets -am test-compile exec:java -Dexec.classpathScope=test
 * -Dexec.mainClass=dev.infini.datasets.bench.TokenizeBench}. Prints tokens/s (wall clock, this machine).
 */
public final class TokenizeBench {
    private static final int SEQ_LEN = 2048;
    private static final int BATCH = 8;

    static final String USAGE = "Usage: TokenizeBench [--help]\n"
            + "Tokenizes and batches the bundled corpora (Moby-Dick, SOTU) with the byte and a Hugging Face tokenizer into ["
            + BATCH + ", " + SEQ_LEN + "] blocks, prints tokens/s, then times the token cache. Takes no arguments.";

    public static void main(String[] args) throws IOException {
        if (args.length > 0) {
            boolean help = args.length == 1 && (args[0].equals("--help") || args[0].equals("-h"));
            (help ? System.out : System.err).println((help ? "" : "unknown arguments " + List.of(args) + "\n") + USAGE);
            if (!help) {
                System.exit(2);
            }
            return;
        }
        List<Corpus> corpora = List.of(Corpus.mobyDick(), Corpus.stateOfTheUnion());
        List<Tokenizer> tokenizers = List.of(new ByteTokenizer(), Fixtures.mistral());
        // warm-up (JIT, ND4J and DJL native loading)
        run(Corpus.mobyDick(), tokenizers.get(0), false);
        run(Corpus.mobyDick(), tokenizers.get(1), false);
        System.out.printf("%n%-10s %-14s %10s %8s %8s %8s %14s %14s%n", "corpus", "tokenizer", "tokens", "read s", "tok s",
                "batch s", "tokens/s e2e", "tok+batch/s");
        for (Corpus c : corpora) {
            for (Tokenizer t : tokenizers) {
                run(c, t, true);
            }
        }
        Path dir = Files.createTempDirectory("infini-cache-bench");
        try {
            System.out.printf("%ncache (%s):%n", dir);
            for (Corpus c : corpora) {
              for (Tokenizer tok : tokenizers) {
                TokenCache cache = new TokenCache(dir);
                long t0 = System.nanoTime();
                TokenCache.Loaded first = cache.loadWithInfo(c, tok);
                long t1 = System.nanoTime();
                TokenCache.Loaded second = new TokenCache(dir).loadWithInfo(c, tok);
                long t2 = System.nanoTime();
                TokenBlockIterator it = TokenBlockIterator.builder(second.corpus()).tokenizer(tok).seqLen(SEQ_LEN)
                        .batchSize(BATCH).build();
                it.next();
                long t3 = System.nanoTime();
                System.out.printf("  %-10s %-14s first run (read+tokenize+write+map) %7.1f ms (cached=%s); second run (map) %6.1f ms "
                                + "(cached=%s); second run to first batch %6.1f ms%n", c.name(), tok.getClass().getSimpleName(), (t1 - t0) / 1e6, first.fromCache(),
                        (t2 - t1) / 1e6, second.fromCache(), (t3 - t1) / 1e6);
              }
            }
        } finally {
            try (Stream<Path> s = Files.walk(dir)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
        tokenizers.forEach(Tokenizer::close);
    }

    private static void run(Corpus corpus, Tokenizer tokenizer, boolean print) {
        long t0 = System.nanoTime();
        DocumentRecordReader r = corpus.newReader();
        long chars = 0;
        while (r.hasNext()) {
            Document d = r.nextDocument();
            chars += d.text().length();
        }
        long t1 = System.nanoTime();
        TokenizedCorpus tc = TokenizedCorpus.tokenize(corpus, tokenizer);
        long t2 = System.nanoTime();
        TokenBlockIterator it = TokenBlockIterator.builder(tc).tokenizer(tokenizer).seqLen(SEQ_LEN).batchSize(BATCH).seed(1).build();
        while (it.hasNext()) {
            DataSet ds = it.next();
            if (ds.getFeatures().size(1) != SEQ_LEN) {
                throw new IllegalStateException("unexpected batch shape");
            }
        }
        long t3 = System.nanoTime();
        double read = (t1 - t0) / 1e9;
        double readTok = (t2 - t1) / 1e9; // tokenize() reads the files again, then tokenizes
        double tok = Math.max(1e-9, readTok - read);
        double batch = (t3 - t2) / 1e9;
        if (print) {
            System.out.printf("%-10s %-14s %10d %8.2f %8.2f %8.2f %14.0f %14.0f%n", corpus.name(), tokenizer.getClass().getSimpleName(),
                    tc.numTokens(), read, tok, batch, tc.numTokens() / (readTok + batch), tc.numTokens() / (tok + batch));
        }
    }
}
