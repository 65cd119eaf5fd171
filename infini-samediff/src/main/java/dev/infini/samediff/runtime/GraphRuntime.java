package dev.infini.samediff.runtime;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.OutputStream;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The one owner of what running SameDiff 1.0.0-M2.1 graphs over many segments needs beyond
 * {@code sd.output}: every workaround for that version lives here, and code elsewhere neither builds
 * gradient functions, nor clears sessions, nor calls the garbage collector.
 *
 * <ul>
 *   <li><b>Quiet gradient functions</b> ({@link #createGradFunction}): M2.1 prints a line per
 *   differentiated op to System.out, which belongs to the tools' own output.</li>
 *   <li><b>Gradients through a cached gradient function</b> ({@link #outputsAndGradients}): the gradient
 *   function of a graph is built once, with the placeholders whose gradients are wanted (the incoming
 *   memory) named when it is built, and run with its array cache on. {@code SameDiff.calculateGradients}
 *   turns that cache off on every call, which on a CPU cost several GB of resident memory and unsteady step
 *   times; and in M2.1 no gradient reaches a placeholder through an op whose only other inputs are
 *   constants (a reshape, a product with ones) unless the placeholder was named when the gradient function
 *   was built. Asking the gradient function for the gradient variables' names also gives placeholder
 *   gradients, which {@code calculateGradientsAndOutputs} leaves out.</li>
 *   <li><b>Releasing sessions and off-heap memory</b> ({@link #segmentDone}, {@link #release}), for loops
 *   over many segments:
 *     <ul>
 *       <li>the graphs' per-thread execution sessions remember the id of every array they ever freed
 *       (~20 KB of heap per call: token-by-token decoding would grow without bound); the next call starts a
 *       new session;</li>
 *       <li>the off-heap buffers of arrays that are no longer referenced are only freed when the JVM collects
 *       their handles: those handles are small, so the heap rarely fills, and a 65,536-token training step
 *       grew the process to over 2 GB (577 MB with a collection every 16 segments, at the same speed).
 *       ND4J's periodic-GC setting did not fire during SameDiff execution, hence the explicit
 *       collection.</li>
 *     </ul></li>
 * </ul>
 *
 * <p>One runtime per set of graphs that share weights (an {@code InfiniModel}, a DL4J layer): graphs are
 * {@linkplain #register registered} when built. Thread-safe; gradient runs of one graph take turns.
 */
public final class GraphRuntime {
    /** How often {@link #segmentDone} releases sessions and collects garbage, in segments. */
    public static final int RELEASE_EVERY_SEGMENTS = 16;
    /** The name M2.1 gives a graph's gradient function. */
    private static final String GRAD_FN = "grad";
    /** Held while System.out is swapped: workers build their gradient functions on several threads at once. */
    private static final Object STDOUT_LOCK = new Object();

    /** Registered graphs and the placeholders whose gradients their gradient function computes. */
    private final Map<SameDiff, String[]> graphs = new IdentityHashMap<>();
    private final int releaseEvery;
    private final AtomicLong segments = new AtomicLong();

    public GraphRuntime() {
        this(RELEASE_EVERY_SEGMENTS);
    }

    /** @param releaseEvery segments between two {@link #release}s by {@link #segmentDone} */
    public GraphRuntime(int releaseEvery) {
        if (releaseEvery <= 0) {
            throw new IllegalArgumentException("release interval must be positive, got " + releaseEvery);
        }
        this.releaseEvery = releaseEvery;
    }

    /**
     * {@code sd.createGradFunction(inputs)} without its output: M2.1 prints a line per differentiated op to
     * System.out, and stdout belongs to the tools' own output. Callers on several threads (ParallelWrapper and
     * Spark workers) take turns, so each puts back the real stream.
     *
     * @param inputs placeholders whose gradients the function computes (none: variables only)
     */
    public static void createGradFunction(SameDiff sd, String... inputs) {
        synchronized (STDOUT_LOCK) {
            PrintStream stdout = System.out;
            System.setOut(new PrintStream(OutputStream.nullOutputStream()));
            try {
                if (inputs.length == 0) {
                    sd.createGradFunction();
                } else {
                    sd.createGradFunction(inputs);
                }
            } finally {
                System.setOut(stdout);
            }
        }
    }

    /**
     * Puts a graph under this runtime: its sessions are released by {@link #release}, and its gradient
     * function, built on first use by {@link #outputsAndGradients}, computes gradients of the placeholders
     * {@code gradientPlaceholders} too.
     *
     * @return {@code sd}
     */
    public synchronized SameDiff register(SameDiff sd, String... gradientPlaceholders) {
        graphs.put(sd, gradientPlaceholders.clone());
        return sd;
    }

    /** Lets go of every registered graph (their weights were replaced, new graphs will be built). */
    public synchronized void forgetAll() {
        graphs.clear();
    }

    /**
     * Outputs and gradients of the graph's loss in one pass of its gradient function, which is built once
     * (quietly, with the registered placeholders among the inputs that get gradients) and run with its array
     * cache on.
     *
     * @param outputs forward outputs wanted (e.g. the summed NLL, the memory out)
     * @param wrt     variables and/or registered placeholders whose gradients are wanted; a name the loss
     *                does not reach has no entry in the result
     * @return outputs and gradients by variable name: new arrays owned by the caller (the session does not
     *         reuse them), which may release them as soon as it is done with them
     */
    public Map<String, INDArray> outputsAndGradients(SameDiff sd, Map<String, INDArray> placeholders,
                                                     List<String> outputs, List<String> wrt) {
        String[] inputs;
        synchronized (this) {
            inputs = graphs.computeIfAbsent(sd, k -> new String[0]);
        }
        synchronized (sd) {
            SameDiff gradFn = sd.getFunction(GRAD_FN);
            if (gradFn == null) {
                createGradFunction(sd, inputs);
                gradFn = sd.getFunction(GRAD_FN);
                gradFn.setEnableCache(true);
            }
            List<String> names = new ArrayList<>(outputs);
            Map<String, String> gradOf = new HashMap<>();
            for (String w : wrt) {
                SDVariable g = sd.getVariable(w).getGradient();
                if (g != null) {
                    names.add(g.name());
                    gradOf.put(g.name(), w);
                }
            }
            Map<String, INDArray> res = gradFn.output(placeholders, names);
            Map<String, INDArray> out = new HashMap<>();
            for (String o : outputs) {
                out.put(o, res.get(o));
            }
            gradOf.forEach((g, w) -> out.put(w, res.get(g)));
            return out;
        }
    }

    /** Counts a segment run by any graph of this runtime; every {@link #RELEASE_EVERY_SEGMENTS}th, {@link #release}s. */
    public void segmentDone() {
        if (segments.incrementAndGet() % releaseEvery == 0) {
            release();
        }
    }

    /**
     * Drops the execution sessions of every registered graph and of its gradient function, then collects
     * garbage so that the off-heap buffers of unreferenced arrays are freed (see the class comment).
     */
    public void release() {
        List<SameDiff> all;
        synchronized (this) {
            all = new ArrayList<>(graphs.keySet());
        }
        for (SameDiff sd : all) {
            synchronized (sd) {
                sd.getSessions().clear();
                SameDiff gradFn = sd.getFunction(GRAD_FN);
                if (gradFn != null) {
                    gradFn.getSessions().clear();
                }
            }
        }
        collectGarbage();
    }

    /**
     * A full collection, so that off-heap buffers whose Java handles are unreachable are freed now (also
     * what benchmarks call before measuring memory).
     */
    public static void collectGarbage() {
        System.gc();
    }
}
