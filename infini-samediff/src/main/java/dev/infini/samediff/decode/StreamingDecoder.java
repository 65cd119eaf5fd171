package dev.infini.samediff.decode;

import dev.infini.samediff.DecoderGraph;
import dev.infini.samediff.GraphNames;
import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryState;
import dev.infini.samediff.SegmentKernel;
import dev.infini.samediff.fast.FastStep;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.Arrays;
import java.util.Map;
import java.util.function.IntConsumer;
import java.util.function.IntPredicate;

/**
 * Streaming decoding of one sequence with constant cost per token.
 *
 * <p>State: the memory {@code M, z} of every layer after the completed segments, and the tokens of the current,
 * unfinished segment with every layer's RoPE'd keys and values of them (a cache of {@code segment_size} slots).
 * {@link #feed} consumes any number of tokens with the segment graph ({@link InfiniModel#forwardSegment}): full
 * segments update the memory, a partial tail fills the cache. {@link #step} appends one token with the decode-step
 * graph ({@link DecoderGraph#buildStep}): its query attends over the cache and itself and reads the memory of the
 * earlier segments ({@code InfiniAttention.step}, the same equations as the segment graph). When a segment fills,
 * the segment graph runs over its tokens with the memory from before it and returns the next memory; the cache
 * starts over. The logits are therefore those of one full forward pass over the same tokens.
 *
 * <p>With the fast kernel ({@link InfiniModel#kernel} {@code == FAST} when the decoder is built) {@link #step} runs
 * the hand-written {@link FastStep} instead of the step graph (same equations, its own cache), a prompt's partial
 * tail is fed token by token through it, full segments of a prompt go through {@link InfiniModel#forwardSegment} (the
 * fast segment kernel), and a segment filled by steps is written into memory from the sigma(K) and V FastStep
 * cached ({@link FastStep#writeMemory}), without a second pass over its tokens; with SAMEDIFF everything runs on the graphs as described above.
 *
 * <p>Batch 1, not thread-safe.
 */
public final class StreamingDecoder {
    private final InfiniModel model;
    private final InfiniConfig config;
    private final int segment;
    private final DataType dtype;
    private final int[] segmentTokens;
    private final INDArray[] cacheK;
    private final INDArray[] cacheV;
    private final FastStep fastStep;       // null with the SameDiff kernel
    private MemoryState memory;
    private int filled;
    private long position;
    private long segmentsWritten;

    public StreamingDecoder(InfiniModel model) {
        this.model = model;
        this.config = model.config();
        this.segment = config.segmentSize();
        this.dtype = model.dtype();
        this.segmentTokens = new int[segment];
        this.cacheK = new INDArray[config.numLayers()];
        this.cacheV = new INDArray[config.numLayers()];
        this.fastStep = model.kernel() == SegmentKernel.FAST ? FastStep.of(model) : null;
        for (int i = 0; fastStep == null && i < cacheK.length; i++) {
            cacheK[i] = Nd4j.zeros(dtype, 1, config.numKvHeads(), segment, config.headDim());
            cacheV[i] = Nd4j.zeros(dtype, 1, config.numKvHeads(), segment, config.headDim());
        }
        reset();
    }

    /** Forgets everything: zero memory, empty cache, position 0. */
    public void reset() {
        memory = model.zeroMemory(1);
        filled = 0;
        position = 0;
        segmentsWritten = 0;
    }

    /** Tokens consumed so far. */
    public long position() {
        return position;
    }

    /** Tokens of the current segment held in the cache (0 right after a segment was written into memory). */
    public int cached() {
        return filled;
    }

    /** Segments written into memory so far. */
    public long segmentsWritten() {
        return segmentsWritten;
    }

    /** The memory after the completed segments (not including the cached tokens). */
    public MemoryState memory() {
        return memory;
    }

    public InfiniModel model() {
        return model;
    }

    /** Bytes held by the decoder's state (memory and cache): the same after 1K and after 1M tokens. */
    public long stateBytes() {
        long bytes = fastStep == null ? 0 : fastStep.stateBytes();
        for (int i = 0; i < cacheK.length; i++) {
            long cache = fastStep == null ? cacheK[i].length() + cacheV[i].length() : 0;
            bytes += (cache + memory.m(i).length() + memory.z(i).length()) * dtype.width();
        }
        return bytes;
    }

    /**
     * Consumes {@code ids} (a prompt of any length) and returns the logits {@code [V]} after the last of them.
     * Tokens already in the cache are run again together with the new ones, so the result is the same as
     * feeding everything at once.
     */
    public INDArray feed(int[] ids) {
        if (ids.length == 0) {
            throw new IllegalArgumentException("nothing to feed: no token ids");
        }
        checkIds(ids);
        if (fastStep != null && filled + ids.length < segment) {
            INDArray last = null;
            for (int id : ids) {                            // the segment does not fill: token by token
                last = fastStep(id);
            }
            return last;
        }
        int[] all = new int[filled + ids.length];
        System.arraycopy(segmentTokens, 0, all, 0, filled);
        System.arraycopy(ids, 0, all, filled, ids.length);
        position -= filled;
        filled = 0;
        INDArray last = null;
        int start = 0;
        for (; all.length - start >= segment; start += segment) {
            INDArray seg = Nd4j.createFromArray(Arrays.copyOfRange(all, start, start + segment)).reshape(1, segment);
            InfiniModel.SegmentOutput out = model.forwardSegment(seg, null, memory);
            memory = out.memory();
            segmentsWritten++;
            position += segment;
            last = out.logits().get(NDArrayIndex.point(0), NDArrayIndex.point(segment - 1), NDArrayIndex.all());
        }
        int tail = all.length - start;
        if (tail > 0 && fastStep != null) {
            for (int t = start; t < all.length; t++) {      // the partial tail into FastStep's cache
                last = fastStep(all[t]);
            }
        } else if (tail > 0) {
            last = fillCache(Arrays.copyOfRange(all, start, all.length));
        }
        return last.dup();
    }

    /**
     * Runs the segment graph over a partial segment (padded to full length, padding masked) to get its logits and
     * every layer's keys and values, which become the cache; the memory it would write is discarded.
     */
    private INDArray fillCache(int[] tail) {
        int n = tail.length;
        INDArray ids = Nd4j.zeros(DataType.INT32, 1, segment);
        INDArray mask = Nd4j.zeros(dtype, 1, segment);
        ids.get(NDArrayIndex.all(), NDArrayIndex.interval(0, n)).assign(Nd4j.createFromArray(tail).reshape(1, n));
        mask.get(NDArrayIndex.all(), NDArrayIndex.interval(0, n)).assign(1);
        DecoderGraph g = model.graph(1, segment, false);
        Map<String, INDArray> out = g.sameDiff().output(model.placeholders(ids, mask, memory), keyValueOutputs());
        for (int i = 0; i < cacheK.length; i++) {
            cacheK[i].assign(out.get(GraphNames.layerKeys(i)));
            cacheV[i].assign(out.get(GraphNames.layerValues(i)));
        }
        System.arraycopy(tail, 0, segmentTokens, 0, n);
        filled = n;
        position += n;
        return out.get(GraphNames.LOGITS).get(NDArrayIndex.point(0), NDArrayIndex.point(n - 1), NDArrayIndex.all());
    }

    /**
     * Appends one token and returns the logits {@code [V]} that predict the next one. Cost is independent of how
     * many tokens came before; once every {@code segment_size} tokens the segment is also written into memory.
     */
    public INDArray step(int token) {
        checkIds(new int[] {token});
        if (fastStep != null) {
            return fastStep(token);
        }
        int pos = filled;
        DecoderGraph g = model.stepGraph(1);
        Map<String, INDArray> ph = model.memoryPlaceholders(memory);
        ph.put(GraphNames.STEP_INPUT_ID, Nd4j.createFromArray(new int[] {token}));
        ph.put(GraphNames.STEP_POSITION, Nd4j.createFromArray(new int[] {pos}));
        if (config.tokenShift()) {
            ph.put(GraphNames.STEP_PREV_ID, Nd4j.createFromArray(new int[] {pos > 0 ? segmentTokens[pos - 1] : 0}));
        }
        for (int i = 0; i < cacheK.length; i++) {
            ph.put(GraphNames.cacheKeys(i), cacheK[i]);
            ph.put(GraphNames.cacheValues(i), cacheV[i]);
        }
        String[] names = keyValueOutputs();
        Map<String, INDArray> out = g.sameDiff().output(ph, names);
        INDArray logits = out.get(GraphNames.LOGITS).getRow(0).dup();
        for (int i = 0; i < cacheK.length; i++) {
            cacheK[i].get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(pos), NDArrayIndex.all())
                    .assign(out.get(GraphNames.layerKeys(i)).reshape(1, config.numKvHeads(), config.headDim()));
            cacheV[i].get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(pos), NDArrayIndex.all())
                    .assign(out.get(GraphNames.layerValues(i)).reshape(1, config.numKvHeads(), config.headDim()));
        }
        segmentTokens[pos] = token;
        filled++;
        position++;
        if (filled == segment) {
            writeSegment();
        }
        return logits;
    }

    /** One token through {@link FastStep} at the next slot of the segment; writes the segment when it fills. */
    private INDArray fastStep(int token) {
        INDArray logits = fastStep.step(token, filled, memory);
        segmentTokens[filled] = token;
        filled++;
        position++;
        if (filled == segment) {
            writeSegment();
        }
        return logits;
    }

    /** Logits and every layer's keys and values: what the segment and step graphs hand the cache. */
    private String[] keyValueOutputs() {
        String[] names = new String[1 + 2 * cacheK.length];
        names[0] = GraphNames.LOGITS;
        for (int i = 0; i < cacheK.length; i++) {
            names[1 + 2 * i] = GraphNames.layerKeys(i);
            names[2 + 2 * i] = GraphNames.layerValues(i);
        }
        return names;
    }

    /**
     * The full segment into memory: the segment graph over its tokens from the memory before it, or with the fast
     * kernel {@link FastStep#writeMemory} from the sigma(K) and V its steps cached (the same memory).
     */
    private void writeSegment() {
        if (fastStep != null) {           // from the keys and values FastStep kept: no second pass over the segment
            memory = fastStep.writeMemory(memory);
        } else {
            INDArray ids = Nd4j.createFromArray(segmentTokens.clone()).reshape(1, segment);
            memory = model.forwardSegment(ids, null, memory).memory();
        }
        segmentsWritten++;
        filled = 0;
        // Every written segment, not every 16th: each decode step is a graph call whose session keeps ~20 KB,
        // so releasing once per segment keeps the heap flat however long decoding goes on.
        model.runtime().release();
    }

    /**
     * Feeds {@code prompt}, then samples up to {@code maxNewTokens} tokens one at a time, handing each to
     * {@code onToken} as soon as it is chosen; stops early when {@code eosId} is sampled (not returned). The
     * last token returned is not fed back (nothing needs its logits); {@link #step} it to continue.
     *
     * @return the generated tokens (held in an array that grows with them; {@link #stream} holds none)
     */
    public int[] generate(int[] prompt, int maxNewTokens, Sampler sampler, int eosId, IntConsumer onToken) {
        int[][] out = {new int[Math.min(Math.max(maxNewTokens, 0), 1024)]};
        int[] n = {0};
        stream(prompt, maxNewTokens, sampler, t -> t == eosId, t -> {
            if (n[0] == out[0].length) {
                out[0] = Arrays.copyOf(out[0], (int) Math.min((long) out[0].length * 2, Integer.MAX_VALUE - 8));
            }
            out[0][n[0]++] = t;
            if (onToken != null) {
                onToken.accept(t);
            }
        });
        return Arrays.copyOf(out[0], n[0]);
    }

    /**
     * Generation in bounded memory: feeds {@code prompt}, then samples up to {@code maxNewTokens} tokens and hands
     * each to {@code onToken} without keeping any (the decoder's state is the memory and one segment's cache);
     * stops early at a token {@code isEos} accepts (not handed on). Non-finite logits are an
     * {@link IllegalStateException} naming the position, never a sampled token.
     *
     * @return how many tokens were handed to {@code onToken}
     */
    public long stream(int[] prompt, long maxNewTokens, Sampler sampler, IntPredicate isEos, IntConsumer onToken) {
        if (maxNewTokens < 0) {
            throw new IllegalArgumentException("the number of new tokens must be >= 0, got " + maxNewTokens);
        }
        long n = 0;
        INDArray logits = feed(prompt);
        while (n < maxNewTokens) {
            double[] v = logits.toDoubleVector();
            checkFinite(v);
            int next = sampler.sample(v);
            if (isEos.test(next)) {
                break;
            }
            n++;
            onToken.accept(next);
            if (n < maxNewTokens) {
                logits = step(next);
            }
        }
        return n;
    }

    /** NaN or infinite logits mean broken weights or an overflow: an error, not a token. */
    private void checkFinite(double[] logits) {
        for (int i = 0; i < logits.length; i++) {
            if (!Double.isFinite(logits[i])) {
                throw new IllegalStateException("the model's logits after token " + position + " are not finite ("
                        + logits[i] + " for token id " + i + "): the weights hold NaN/Inf or the activations overflowed");
            }
        }
    }

    private void checkIds(int[] ids) {
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= config.vocabSize()) {
                throw new IllegalArgumentException("token id " + ids[i] + " at index " + i
                        + " is outside the model's vocabulary [0, " + config.vocabSize() + ")");
            }
        }
    }
}
