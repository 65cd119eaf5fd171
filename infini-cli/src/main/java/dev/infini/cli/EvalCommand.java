package dev.infini.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.infini.datasets.corpus.Corpora;
import dev.infini.datasets.corpus.Corpus;
import dev.infini.datasets.pipeline.TokenCache;
import dev.infini.datasets.pipeline.TokenizedCorpus;
import dev.infini.datasets.tokenize.ByteTokenizer;
import dev.infini.datasets.tokenize.Tokenizer;
import dev.infini.samediff.InfiniModel;
import dev.infini.cli.eval.Perplexity;
import dev.infini.samediff.hf.HfCheckpoint;
import dev.infini.cli.text.Tokenizers;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import dev.infini.samediff.MemoryMode;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Locale;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code infini eval}: perplexity on held-out text, long sequences run segment by segment with memory. */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Perplexity (and bits per byte for byte-level models) on held-out text, over long sequences with memory.")
final class EvalCommand implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger(EvalCommand.class);

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Checkpoint directory.")
    Path model;

    @Option(names = "--corpus", required = true, paramLabel = "NAME|PATH",
            description = {"A bundled corpus or a text/JSONL file or folder: moby-dick (one document per chapter; held out: "
                    + "a fraction of the chapters, with the training seed among those training validated on), "
                    + "moby-dick-book (the book as one document; held out: its tail), sotu (held out: a fraction of the "
                    + "addresses)."})
    String corpus;

    @Option(names = "--seq-len", required = true, paramLabel = "N",
            description = "Tokens per sequence; memory is carried across the segments of a sequence.")
    int seqLen;

    @Option(names = "--held-out", paramLabel = "F", defaultValue = "0.05",
            description = "Fraction held out: validation documents (several documents) or the tail (one) (default: ${DEFAULT-VALUE}).")
    double heldOut;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "42",
            description = "Seed of the split by document (default: ${DEFAULT-VALUE}, as in training).")
    long seed;

    @Option(names = "--max-sequences", paramLabel = "N", defaultValue = "0",
            description = "Evaluate at most N sequences; 0 = all (default: ${DEFAULT-VALUE}).")
    int maxSequences;

    @Option(names = "--cache-dir", paramLabel = "DIR", description = "Token cache directory (default: ~/.cache/infini/tokens).")
    Path cacheDir;

    @Option(names = "--memory", paramLabel = "on|off|foreign[,...]", defaultValue = "on",
            description = {"What each segment reads: on (the memory of the sequence's earlier segments), off (empty "
                    + "memory: each segment alone), foreign (the memory another held-out sequence carries to the same "
                    + "segment). Several modes, e.g. on,off,foreign, print the NLL per segment position for each "
                    + "(default: ${DEFAULT-VALUE})."})
    String memory;

    @Mixin
    NonFiniteOption nonFinite;

    @Override
    public Integer call() throws Exception {
        if (seqLen < 2) {
            throw new IllegalArgumentException("--seq-len must be at least 2, got " + seqLen);
        }
        if (maxSequences < 0) {
            throw new IllegalArgumentException("--max-sequences must be >= 0, got " + maxSequences);
        }
        if (!(heldOut > 0 && heldOut < 1)) {
            throw new IllegalArgumentException("--held-out must be in (0, 1), got " + heldOut);
        }
        Corpus c = Corpora.get(corpus);
        InfiniModel m = HfCheckpoint.load(model, nonFinite.apply(new HfCheckpoint.Options()));
        Tokenizer tok = Tokenizers.require(model, m.config(), "eval");
        boolean byteLevel = tok instanceof ByteTokenizer;
        TokenCache cache = cacheDir != null ? new TokenCache(cacheDir) : TokenCache.defaultCache();
        TokenizedCorpus tc = cache.load(c, tok);
        // The registry's name for bundled corpora (the corpus's own name keys token caches: moby-dick-chapters).
        String name = Corpora.isBundled(corpus) ? corpus : tc.name();
        int[] stream = Perplexity.heldOut(tc, heldOut, seed, tok.eosId());
        List<int[]> seqs = Perplexity.sequences(stream, seqLen, maxSequences);
        if (seqs.isEmpty()) {
            throw new IllegalArgumentException("--corpus " + corpus + ": the held-out text has fewer than 2 tokens");
        }
        List<MemoryMode> modes = Arrays.stream(memory.split(",")).map(MemoryMode::parse).distinct().toList();
        if (!modes.equals(List.of(MemoryMode.ON))) {
            return memoryTable(m, name, seqs, modes);
        }
        int segsPerSeq = (seqs.get(0).length + m.config().segmentSize() - 1) / m.config().segmentSize();
        log.info("{}: {} held-out tokens ({} of {} document(s)), {} sequence(s) of {} tokens, segment {}", name,
                stream.length, tc.numDocuments() == 1 ? "tail" : "validation split", tc.numDocuments(), seqs.size(),
                seqs.get(0).length, m.config().segmentSize());
        Progress progress = new Progress("eval", (long) seqs.size() * segsPerSeq);
        long t0 = System.nanoTime();
        double nll = 0;
        long predicted = 0, tokens = 0;
        for (int i = 0; i < seqs.size(); i++) {
            int[] s = seqs.get(i);
            long base = (long) i * segsPerSeq, tokBase = tokens;
            nll += Perplexity.sequenceNll(m, s, (k, n, done) -> progress.update(base + k, tokBase + done));
            predicted += s.length - 1;
            tokens += s.length;
        }
        progress.finish();
        double secs = (System.nanoTime() - t0) / 1e9;
        double mean = nll / predicted;
        PrintStream out = System.out;
        out.printf("corpus %s, %d sequence(s) of %d tokens, %d predicted tokens%n", name, seqs.size(),
                seqs.get(0).length, predicted);
        out.printf("mean NLL %.4f nats/token, perplexity %.3f%s, %.1f tokens/s%n", mean, Math.exp(mean),
                byteLevel ? String.format(", %.4f bits per byte", mean / Math.log(2)) : "", tokens / secs);
        ObjectNode json = new ObjectMapper().createObjectNode();
        json.put("corpus", name);
        json.put("seq_len", seqs.get(0).length);
        json.put("sequences", seqs.size());
        json.put("tokens", predicted);
        json.put("mean_nll", mean);
        json.put("perplexity", Math.exp(mean));
        if (byteLevel) {
            json.put("bits_per_byte", mean / Math.log(2));
        } else {
            json.putNull("bits_per_byte");
        }
        json.put("tokens_per_s", tokens / secs);
        out.println(json);
        out.flush();
        return 0;
    }

    /**
     * The NLL per segment position with each memory mode: how much the memory helps at each distance from the start.
     * With foreign memory, sequence i reads the memory of sequence i+1 (the last reads the first's).
     */
    private int memoryTable(InfiniModel m, String name, List<int[]> seqs, List<MemoryMode> modes) {
        if (modes.contains(MemoryMode.FOREIGN) && seqs.size() < 2) {
            throw new IllegalArgumentException("--memory foreign needs at least 2 held-out sequences of " + seqLen
                    + " tokens, got " + seqs.size() + " (lower --seq-len or raise --held-out)");
        }
        int segment = m.config().segmentSize();
        Progress progress = new Progress("eval", (long) seqs.size() * modes.size(), "sequences x modes");
        ObjectNode json = new ObjectMapper().createObjectNode();
        json.put("corpus", name).put("seq_len", seqs.get(0).length).put("sequences", seqs.size()).put("segment", segment);
        ObjectNode per = json.putObject("memory");
        List<double[]> table = new ArrayList<>();
        long done = 0;
        for (MemoryMode mode : modes) {
            List<double[]> nll = new ArrayList<>();
            for (int i = 0; i < seqs.size(); i++) {
                int[] donor = mode == MemoryMode.FOREIGN ? seqs.get((i + 1) % seqs.size()) : null;
                nll.add(Perplexity.tokenNll(m, seqs.get(i), mode, donor, null));
                progress.update(++done, 0);
            }
            double[] bySeg = Perplexity.perSegment(nll, segment);
            double mean = nll.stream().flatMapToDouble(Arrays::stream).average().orElse(Double.NaN);
            table.add(bySeg);
            ObjectNode o = per.putObject(mode.key()).put("mean_nll", mean).put("perplexity", Math.exp(mean));
            Arrays.stream(bySeg).forEach(o.putArray("per_segment_nll")::add);
        }
        progress.finish();
        PrintStream out = System.out;
        out.printf("corpus %s, %d sequence(s) of %d tokens, segment %d; mean NLL (nats/token) per segment%n", name,
                seqs.size(), seqs.get(0).length, segment);
        StringBuilder head = new StringBuilder(String.format("%8s", "segment"));
        modes.forEach(md -> head.append(String.format("%16s", "memory " + md.key())));
        out.println(head);
        for (int k = 0; k < table.get(0).length; k++) {
            StringBuilder row = new StringBuilder(String.format("%8d", k));
            for (double[] t : table) {
                row.append(String.format(Locale.ROOT, "%16.4f", t[k]));
            }
            out.println(row);
        }
        StringBuilder all = new StringBuilder(String.format("%8s", "all"));
        modes.forEach(md -> all.append(String.format(Locale.ROOT, "%16.4f", per.get(md.key()).get("mean_nll").asDouble())));
        out.println(all);
        out.println(json);
        out.flush();
        return 0;
    }
}
