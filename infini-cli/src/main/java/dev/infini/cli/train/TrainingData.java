package dev.infini.cli.train;

import dev.infini.datasets.corpus.Corpora;
import dev.infini.datasets.passkey.PasskeyIterator;
import dev.infini.datasets.passkey.PasskeyTask;
import dev.infini.datasets.recall.RecallIterator;
import dev.infini.datasets.recall.RecallTask;
import dev.infini.datasets.tokenize.ByteTokenizer;
import dev.infini.cli.eval.RecallEval;
import dev.infini.datasets.pipeline.BlockMode;
import dev.infini.datasets.pipeline.IteratorState;
import dev.infini.datasets.pipeline.TokenBlockIterator;
import dev.infini.datasets.pipeline.TokenCache;
import dev.infini.datasets.pipeline.TokenizedCorpus;
import dev.infini.datasets.tokenize.Tokenizer;
import dev.infini.samediff.train.TrainBatch;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * Where a run's batches come from: a DataVec iterator of training batches, its position as text (for checkpoints)
 * and how to restore it, the validation batches, and the default prompt of the sample.
 */
public record TrainingData(DataSetIterator train, Supplier<String> position, Consumer<String> restore,
                           List<TrainBatch> validation, int[] samplePrompt) {
    /** The pseudo-corpus name of the passkey task. */
    public static final String PASSKEY = "passkey";

    /** The pseudo-corpus name of the associative-recall task. */
    public static final String RECALL = "recall";

    /** The data of {@code --corpus}: the passkey or recall task, or a corpus of the registry ({@link Corpora}). */
    public static TrainingData of(TrainOptions o, Tokenizer tok) throws IOException {
        return switch (o.corpus) {
            case PASSKEY -> passkey(o, tok);
            case RECALL -> recall(o, tok);
            default -> corpus(o, tok);
        };
    }

    /**
     * The associative-recall task ({@code --corpus recall}, {@link RecallTask}) at {@code --segment}: {@code --pairs}
     * pairs, a gap from {@code --gaps} per batch; the loss counts the queried values only, in training and validation.
     */
    static TrainingData recall(TrainOptions o, Tokenizer tok) {
        if (!(tok instanceof ByteTokenizer)) {
            throw new IllegalArgumentException("--corpus recall needs the byte tokenizer (ids are bytes), got " + tok);
        }
        RecallTask task = new RecallTask(o.recallBlock != null ? o.recallBlock : o.segment);
        int[] pr = parsePairs(o.pairs);
        int[] gaps = RecallEval.parseGaps(o.gaps);
        RecallIterator train = new RecallIterator(task, pr[0], pr[1], gaps, o.steps * o.accumulation, o.batch, o.seed);
        int valBatches = Math.max(1, o.valBatches);
        RecallIterator val = new RecallIterator(task, pr[1], pr[1], gaps, valBatches, o.batch, o.seed + 1_000_003L);
        List<TrainBatch> valSet = new ArrayList<>();
        while (val.hasNext()) {
            valSet.add(toBatch(val.next()));
        }
        return new TrainingData(train, () -> Integer.toString(train.cursor()), st -> train.setCursor(Integer.parseInt(st)),
                valSet, Arrays.copyOf(val.samples(0)[0].ids(), task.segment()));
    }

    /** "8" or "2-8". */
    static int[] parsePairs(String s) {
        try {
            String[] p = s.trim().split("-");
            int lo = Integer.parseInt(p[0].trim()), hi = p.length > 1 ? Integer.parseInt(p[1].trim()) : lo;
            if (p.length > 2 || lo < 1 || hi < lo) {
                throw new NumberFormatException();
            }
            return new int[] {lo, hi};
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--pairs must be a number N or a range MIN-MAX with 1 <= MIN <= MAX, got '" + s + "'");
        }
    }

    /** A corpus split into train and validation by document, in blocks of seq_len tokens. */
    static TrainingData corpus(TrainOptions o, Tokenizer tok) throws IOException {
        TokenizedCorpus corpus = TokenCache.defaultCache().load(Corpora.get(o.corpus), tok);
        TokenizedCorpus.DocumentSplit split = corpus.split(o.valFraction, o.seed);
        TokenBlockIterator train = TokenBlockIterator.builder(corpus).tokenizer(tok).documents(split.train())
                .seqLen(o.seqLen).batchSize(o.batch).mode(BlockMode.CONCATENATED).shuffle(true).seed(o.seed)
                .dropLast(true).build();
        if (train.numBatches() == 0) {
            throw new IllegalArgumentException("corpus " + o.corpus + " has too few training tokens (" + corpus.numTokens()
                    + ") for one batch of " + o.batch + " x " + o.seqLen);
        }
        int[] doc = corpus.document(split.validation()[0]);
        return new TrainingData(train, () -> train.state().encode(), st -> train.restore(IteratorState.decode(st)),
                validationSet(o, corpus, tok, split.validation()), Arrays.copyOf(doc, Math.min(doc.length, 48)));
    }

    private static List<TrainBatch> validationSet(TrainOptions o, TokenizedCorpus corpus, Tokenizer tok, int[] docs) {
        TokenBlockIterator it = TokenBlockIterator.builder(corpus).tokenizer(tok).documents(docs).seqLen(o.seqLen)
                .batchSize(o.batch).mode(BlockMode.CONCATENATED).shuffle(false).dropLast(false).build();
        List<TrainBatch> out = new ArrayList<>();
        while (it.hasNext() && (o.valBatches <= 0 || out.size() < o.valBatches)) {
            out.add(toBatch(it.next()));
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("corpus " + o.corpus + ": the validation documents hold no full block of "
                    + o.seqLen + " tokens");
        }
        return out;
    }

    /**
     * The passkey task ({@code --corpus passkey}): prompts of seq_len tokens (filler, a 5-digit key at a random
     * depth, the question) followed by the answer; in training, prompt tokens count with weight
     * {@code --prompt-weight} and answer tokens with 1; in validation only the answer counts (so the validation
     * loss is the retrieval loss).
     */
    static TrainingData passkey(TrainOptions o, Tokenizer tok) {
        PasskeyTask task = new PasskeyTask(tok);
        int prompt = o.seqLen - task.maxAnswerLength();
        PasskeyIterator train = new PasskeyIterator(task, prompt, o.steps * o.batch * o.accumulation, o.batch, 0.0, 1.0,
                o.seed, o.promptWeight);
        PasskeyIterator val = new PasskeyIterator(task, prompt, o.batch * Math.max(1, o.valBatches), o.batch, 0.0, 1.0,
                o.seed + 1_000_003L, true);
        List<TrainBatch> valSet = new ArrayList<>();
        while (val.hasNext()) {
            valSet.add(toBatch(val.next()));
        }
        return new TrainingData(train, () -> Integer.toString(train.cursor()), st -> train.setCursor(Integer.parseInt(st)),
                valSet, val.sample(0).promptIds());
    }

    /** A DataVec DataSet of the token pipeline as a training batch. */
    public static TrainBatch toBatch(DataSet ds) {
        INDArray fm = ds.getFeaturesMaskArray();
        boolean padded = fm != null && fm.minNumber().doubleValue() < 1;
        return new TrainBatch(ds.getFeatures().castTo(DataType.INT32), ds.getLabels().castTo(DataType.INT32),
                ds.getLabelsMaskArray() != null ? ds.getLabelsMaskArray() : Nd4j.onesLike(ds.getFeatures()).castTo(DataType.FLOAT),
                padded ? fm : null);
    }
}
