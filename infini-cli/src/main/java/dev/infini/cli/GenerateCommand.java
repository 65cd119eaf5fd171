package dev.infini.cli;

import dev.infini.datasets.tokenize.Tokenizer;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.decode.Sampler;
import dev.infini.samediff.decode.StreamingDecoder;
import dev.infini.samediff.hf.HfCheckpoint;
import dev.infini.samediff.io.Npy;
import dev.infini.cli.text.Tokenizers;
import dev.infini.cli.train.OutputPaths;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;

/**
 * {@code infini generate}: consumes a prompt segment by segment (memory updated), then decodes token by token with
 * a key/value cache of the current segment and a memory read at every step, streaming the text to stdout.
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate text from a prompt; tokens stream to stdout as they are produced.")
final class GenerateCommand implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger(GenerateCommand.class);

    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "Checkpoint directory (config.json + safetensors; tokenizer.json if the model has one).")
    Path model;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Prompt prompt;

    static final class Prompt {
        @Option(names = "--prompt", required = true, paramLabel = "TEXT", description = "The prompt text.")
        String text;
        @Option(names = "--prompt-file", required = true, paramLabel = "F", description = "A UTF-8 file holding the prompt.")
        Path file;
        @Option(names = "--prompt-ids", required = true, paramLabel = "IDS.npy",
                description = "The prompt as 1-D integer token ids (.npy), for models without a tokenizer.")
        Path ids;
    }

    @Option(names = "--output-ids", paramLabel = "OUT.npy", description = "Also write the generated token ids (1-D int64 .npy).")
    Path outputIds;

    @Option(names = "--max-new-tokens", paramLabel = "N", defaultValue = "200",
            description = "Most tokens to generate (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--temperature", paramLabel = "T", defaultValue = "1.0",
            description = "Sampling temperature; 0 = greedy (default: ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--top-k", paramLabel = "K", defaultValue = "0",
            description = "Sample among the K most likely tokens only; 0 = all (default: ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--top-p", paramLabel = "P", defaultValue = "1.0",
            description = "Sample among the most likely tokens whose probability reaches P (default: ${DEFAULT-VALUE}).")
    double topP;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "42", description = "Random seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--no-bos", description = "Do not put the BOS token before a text prompt.")
    boolean noBos;

    @Option(names = "--segment", paramLabel = "N", description = "Segment length (default: segment_size of config.json).")
    Integer segment;

    @Mixin
    NonFiniteOption nonFinite;

    @Override
    public Integer call() throws Exception {
        checkOptions();
        Sampler sampler = new Sampler(temperature, topK, topP, seed);
        String promptText = promptText();
        int[] promptIds = prompt.ids != null ? Npy.readTokenIds(prompt.ids) : null;

        InfiniModel m = HfCheckpoint.load(model, nonFinite.apply(new HfCheckpoint.Options().segmentSize(segment)));
        Optional<Tokenizer> tok = promptIds != null ? Tokenizers.forModel(model, m.config())
                : Optional.of(Tokenizers.require(model, m.config(), "a text prompt (--prompt or --prompt-file)"));
        promptIds = checkedPromptIds(promptIds, tok, promptText, m.config().vocabSize());
        if (tok.isPresent() && tok.get().vocabSize() < m.config().vocabSize()) {
            // Ids the tokenizer cannot decode (e.g. a vocabulary padded to a multiple of 64) are never sampled.
            log.info("the model has {} token ids, the tokenizer {}: ids >= {} are never sampled", m.config().vocabSize(),
                    tok.get().vocabSize(), tok.get().vocabSize());
            sampler = sampler.limitedTo(tok.get().vocabSize());
        }
        log.info("prompt: {} tokens ({} segment(s) of {}), generating up to {} tokens, {}", promptIds.length,
                (promptIds.length + m.config().segmentSize() - 1) / m.config().segmentSize(), m.config().segmentSize(),
                maxNewTokens, sampler.isGreedy() ? "greedy" : "T=" + temperature + " top-k=" + topK + " top-p=" + topP
                        + " seed=" + seed);

        long t0 = System.nanoTime();
        long[] firstAt = {0};
        long count;
        // Tokens stream out as they come and none is kept (bounded memory for any --max-new-tokens); --output-ids
        // streams them to the file as well.
        try (Npy.Int64Writer idsOut = outputIds == null ? null : new Npy.Int64Writer(outputIds)) {
            count = stream(m, promptIds, sampler, isEos(tok, m), tok.map(TextStream::new).orElse(null), idsOut, firstAt);
        }
        long t1 = System.nanoTime();
        double prefill = ((firstAt[0] == 0 ? t1 : firstAt[0]) - t0) / 1e9;
        double decode = (t1 - (firstAt[0] == 0 ? t1 : firstAt[0])) / 1e9;
        log.info("{} tokens generated{}; prompt {} s, {} tokens/s decoding", count,
                count < maxNewTokens ? " (stopped at EOS)" : "", String.format("%.2f", prefill),
                count > 1 ? String.format("%.1f", (count - 1) / Math.max(decode, 1e-9)) : "-");
        return 0;
    }

    /** The tokenizer's end token, or any of config.json's when it lists several (Llama 3). */
    private static java.util.function.IntPredicate isEos(Optional<Tokenizer> tok, InfiniModel m) {
        int eos = Tokenizers.eosId(tok, m.config());
        int[] more = m.config().eosTokenIds().length > 1 ? m.config().eosTokenIds() : new int[0];
        return t -> t == eos || java.util.Arrays.stream(more).anyMatch(e -> e == t);
    }

    /** Generates, printing each token (as text, or as ids without a tokenizer) and writing it to {@code idsOut}. */
    private long stream(InfiniModel m, int[] promptIds, Sampler sampler, java.util.function.IntPredicate isEos,
                        TextStream text, Npy.Int64Writer idsOut, long[] firstAt) {
        PrintStream out = System.out;
        long[] n = {0};
        new StreamingDecoder(m).stream(promptIds, maxNewTokens, sampler, isEos, t -> {
            if (n[0]++ == 0) {
                firstAt[0] = System.nanoTime();
            }
            out.print(text != null ? text.append(t) : (n[0] > 1 ? " " : "") + t);
            out.flush();
            try {
                if (idsOut != null) {
                    idsOut.add(t);
                }
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(outputIds + ": " + e.getMessage(), e);
            }
        });
        if (text != null) {
            out.print(text.flush());
        }
        out.println();
        out.flush();
        return n[0];
    }

    private void checkOptions() {
        if (maxNewTokens < 0) {
            throw new IllegalArgumentException("--max-new-tokens must be >= 0, got " + maxNewTokens);
        }
        if (segment != null && segment <= 0) {
            throw new IllegalArgumentException("--segment must be a positive integer, got " + segment);
        }
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("--temperature must be a finite number >= 0, got " + temperature);
        }
        if (outputIds != null) {
            OutputPaths.file("--output-ids", outputIds);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("--top-k must be >= 0 (0 = no limit), got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("--top-p must be in (0, 1], got " + topP);
        }
    }

    /** The text of --prompt-file or --prompt; null with --prompt-ids. */
    private String promptText() throws java.io.IOException {
        if (prompt.file != null) {
            if (!Files.isRegularFile(prompt.file)) {
                throw new IllegalArgumentException("--prompt-file: " + prompt.file + " does not exist or is not a file");
            }
            try {
                return Files.readString(prompt.file, StandardCharsets.UTF_8);
            } catch (java.nio.charset.CharacterCodingException e) {
                throw new IllegalArgumentException("--prompt-file: " + prompt.file + " is not UTF-8 text (a binary file?); "
                        + "give token ids with --prompt-ids IDS.npy instead");
            }
        } else if (prompt.text != null) {
            return prompt.text;
        }
        return null;
    }

    /** The prompt's token ids (the given ones, or the encoded text after BOS), checked against the vocabulary. */
    private int[] checkedPromptIds(int[] promptIds, Optional<Tokenizer> tok, String promptText, int vocab) {
        if (promptIds == null) {
            int[] enc = tok.get().encode(promptText);
            promptIds = new int[enc.length + (noBos ? 0 : 1)];
            if (!noBos) {
                promptIds[0] = tok.get().bosId();
            }
            System.arraycopy(enc, 0, promptIds, noBos ? 0 : 1, enc.length);
        }
        if (promptIds.length == 0) {
            throw new IllegalArgumentException("the prompt is empty (no tokens): give some text, or leave out --no-bos");
        }
        for (int i = 0; i < promptIds.length; i++) {
            if (promptIds[i] < 0 || promptIds[i] >= vocab) {
                throw new IllegalArgumentException((prompt.ids != null ? prompt.ids + ": " : "") + "token id " + promptIds[i]
                        + " at index " + i + " is outside the model's vocabulary [0, " + vocab + ")");
            }
        }
        return promptIds;
    }

    /** Turns tokens into text as they come, holding back an incomplete UTF-8 character. */
    static final class TextStream {
        private final Tokenizer tokenizer;
        private final List<Integer> ids = new ArrayList<>();
        private int printed;

        TextStream(Tokenizer tokenizer) {
            this.tokenizer = tokenizer;
        }

        String append(int id) {
            ids.add(id);
            String all = tokenizer.decode(ids.stream().mapToInt(Integer::intValue).toArray());
            if (all.endsWith("\uFFFD") || all.length() < printed) {
                return "";
            }
            String fresh = all.substring(printed);
            printed = all.length();
            if (ids.size() > 64) {
                // Keep a short tail as context for the next decode, so the cost per token stays bounded.
                List<Integer> tail = new ArrayList<>(ids.subList(ids.size() - 8, ids.size()));
                ids.clear();
                ids.addAll(tail);
                printed = tokenizer.decode(tail.stream().mapToInt(Integer::intValue).toArray()).length();
            }
            return fresh;
        }

        String flush() {
            String all = tokenizer.decode(ids.stream().mapToInt(Integer::intValue).toArray());
            String rest = all.length() > printed ? all.substring(printed) : "";
            printed = all.length();
            return rest;
        }
    }
}
