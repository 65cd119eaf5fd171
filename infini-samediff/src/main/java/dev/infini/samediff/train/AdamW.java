package dev.infini.samediff.train;

import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.TensorNames;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.util.Collections;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Adam with decoupled weight decay (Loshchilov and Hutter, AdamW), updating a model's weights in place.
 * No weight decay on norms and gates (decay would pull gates towards sigmoid 0.5); gates learn at
 * {@code lr * gateLrMultiplier} (public replications found gates barely move at the base rate).
 */
public final class AdamW {
    /** Hyper-parameters; {@link #defaults()} are common choices for small decoders. */
    public record Settings(double beta1, double beta2, double eps, double weightDecay, double gateLrMultiplier) {
        public static Settings defaults() {
            return new Settings(0.9, 0.95, 1e-8, 0.1, 10.0);
        }
    }

    private static final Set<TensorNames.Kind> DECAYED = EnumSet.of(TensorNames.Kind.LINEAR, TensorNames.Kind.EMBEDDING);

    private final Settings settings;
    private final Map<String, TensorNames.Kind> kinds = new LinkedHashMap<>();
    private final Map<String, INDArray> m = new LinkedHashMap<>();
    private final Map<String, INDArray> v = new LinkedHashMap<>();
    private long step;

    public AdamW(InfiniModel model, Settings settings) {
        this.settings = settings;
        for (TensorNames.Spec s : TensorNames.all(model.config())) {
            kinds.put(s.name(), s.kind());
            INDArray w = model.weights().get(s.name());
            m.put(s.name(), w.ulike().assign(0));
            v.put(s.name(), w.ulike().assign(0));
        }
    }

    /** Applies one update with learning rate {@code lr} to the model's weights (in place). */
    public void update(InfiniModel model, Map<String, INDArray> grads, double lr) {
        step++;
        double b1 = settings.beta1(), b2 = settings.beta2();
        double c1 = 1 - Math.pow(b1, step), c2 = 1 - Math.pow(b2, step);
        for (Map.Entry<String, INDArray> e : grads.entrySet()) {
            String name = e.getKey();
            INDArray g = e.getValue();
            INDArray w = model.weights().get(name);
            INDArray mi = m.get(name), vi = v.get(name);
            TensorNames.Kind kind = kinds.get(name);
            double rate = kind == TensorNames.Kind.GATE ? lr * settings.gateLrMultiplier() : lr;
            mi.muli(b1).addi(g.mul(1 - b1));
            vi.muli(b2).addi(g.mul(g).muli(1 - b2));
            if (DECAYED.contains(kind) && settings.weightDecay() > 0) {
                w.muli(1 - rate * settings.weightDecay());
            }
            // w -= rate * m_hat / (sqrt(v_hat) + eps)
            INDArray denom = Transforms.sqrt(vi.div(c2), false).addi(settings.eps());
            w.subi(mi.div(denom).muli(rate / c1));
        }
    }

    public Settings settings() { return settings; }
    public long step() { return step; }

    /** Optimizer state by name ({@code m.<tensor>}, {@code v.<tensor>}), the live arrays. */
    public Map<String, INDArray> state() {
        Map<String, INDArray> s = new LinkedHashMap<>();
        m.forEach((k, a) -> s.put("m." + k, a));
        v.forEach((k, a) -> s.put("v." + k, a));
        return Collections.unmodifiableMap(s);
    }

    /** Restores a state written by {@link #state()} and the step count. */
    public void restore(Map<String, INDArray> state, long step) {
        for (Map.Entry<String, INDArray> e : state.entrySet()) {
            String k = e.getKey();
            Map<String, INDArray> target = k.startsWith("m.") ? m : k.startsWith("v.") ? v : null;
            INDArray dst = target == null ? null : target.get(k.substring(2));
            if (dst == null) {
                throw new IllegalArgumentException("optimizer state has unknown entry " + k);
            }
            if (!java.util.Arrays.equals(dst.shape(), e.getValue().shape())) {
                throw new IllegalArgumentException("optimizer state " + k + " has shape "
                        + java.util.Arrays.toString(e.getValue().shape()) + ", expected " + java.util.Arrays.toString(dst.shape()));
            }
            dst.assign(e.getValue());
        }
        this.step = step;
    }
}
