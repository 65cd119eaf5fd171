package dev.infini.cli.bench;

import org.nd4j.autodiff.listeners.At;
import org.nd4j.autodiff.listeners.BaseListener;
import org.nd4j.autodiff.listeners.Operation;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.internal.SameDiffOp;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.dataset.api.MultiDataSet;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Where a SameDiff training step's time goes, per op kind: a SameDiff listener that times every op execution
 * (between {@code preOpExecution} and {@code opExecution}) of the graphs it is attached to, summed by the op's
 * libnd4j name ({@code matmul}, {@code matmul_bp}, {@code softmax_bp}, ...). Time outside ops (session bookkeeping,
 * placeholders, the optimizer) is what the caller's wall clock has on top of {@link #totalNanos()}.
 */
public final class OpProfile extends BaseListener {
    /** Calls and nanoseconds of one op kind. */
    public static final class Entry {
        long calls;
        long nanos;

        public long calls() { return calls; }
        public long nanos() { return nanos; }
    }

    private final Map<String, Entry> byOp = new HashMap<>();
    private final ThreadLocal<Long> started = new ThreadLocal<>();
    private volatile boolean recording;

    @Override
    public boolean isActive(Operation operation) {
        return true;
    }

    /** Starts (or stops) recording; ops executed while not recording are not counted (warm-up). */
    public void recording(boolean on) {
        this.recording = on;
    }

    @Override
    public void preOpExecution(SameDiff sd, At at, SameDiffOp op, OpContext opContext) {
        started.set(System.nanoTime());
    }

    @Override
    public void opExecution(SameDiff sd, At at, MultiDataSet batch, SameDiffOp op, OpContext opContext,
                            INDArray[] outputs) {
        Long t0 = started.get();
        if (t0 == null || !recording) {
            return;
        }
        long dt = System.nanoTime() - t0;
        String kind = op.getOp().opName();
        synchronized (byOp) {
            Entry e = byOp.computeIfAbsent(kind, k -> new Entry());
            e.calls++;
            e.nanos += dt;
        }
    }

    /** Op kinds by descending total time. */
    public List<Map.Entry<String, Entry>> sorted() {
        synchronized (byOp) {
            List<Map.Entry<String, Entry>> out = new ArrayList<>(byOp.entrySet());
            out.sort((a, b) -> Long.compare(b.getValue().nanos, a.getValue().nanos));
            return out;
        }
    }

    /** Time spent inside ops. */
    public long totalNanos() {
        synchronized (byOp) {
            return byOp.values().stream().mapToLong(e -> e.nanos).sum();
        }
    }

    /** The table: op kind, calls per step, ms per step, share of the step's wall time; then "outside ops". */
    public String markdown(double wallNanos, int steps, int top) {
        StringBuilder sb = new StringBuilder("| op | calls/step | ms/step | share of step |\n|---|---|---|---|\n");
        List<Map.Entry<String, Entry>> rows = sorted();
        long rest = 0, restCalls = 0;
        for (int i = 0; i < rows.size(); i++) {
            Entry e = rows.get(i).getValue();
            if (i < top) {
                sb.append(String.format("| `%s` | %d | %.1f | %.1f%% |%n", rows.get(i).getKey(), e.calls / steps,
                        e.nanos / 1e6 / steps, 100.0 * e.nanos / wallNanos));
            } else {
                rest += e.nanos;
                restCalls += e.calls;
            }
        }
        if (rest > 0) {
            sb.append(String.format("| %d other op kinds | %d | %.1f | %.1f%% |%n", rows.size() - top, restCalls / steps,
                    rest / 1e6 / steps, 100.0 * rest / wallNanos));
        }
        double outside = wallNanos - totalNanos();
        sb.append(String.format("| outside ops (sessions, placeholders, optimizer, Java) | | %.1f | %.1f%% |%n",
                outside / 1e6 / steps, 100.0 * outside / wallNanos));
        return sb.toString();
    }
}
