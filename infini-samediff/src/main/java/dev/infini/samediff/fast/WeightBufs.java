package dev.infini.samediff.fast;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.HashMap;
import java.util.Map;

/**
 * The weights an engine reads, by Hugging Face name: read live at every call (never written), each seen as a
 * {@link Buf} — the array itself when usable in place (cached while the map holds that same array), else a fresh
 * copy (a view, e.g. a Deeplearning4j parameter view of the flat parameter array, or another dtype).
 */
final class WeightBufs {
    private final Map<String, INDArray> weights;
    private final DataType dtype;
    private final Map<String, Buf> cache = new HashMap<>();

    WeightBufs(Map<String, INDArray> weights, DataType dtype) {
        this.weights = weights;
        this.dtype = dtype;
    }

    /** The weight's buffer. */
    Buf get(String name) {
        INDArray a = weights.get(name);
        if (a == null) {
            throw new IllegalArgumentException("missing weight " + name);
        }
        Buf b = cache.get(name);
        if (b != null && b.arr == a) {
            return b;
        }
        b = Buf.of(a, dtype);
        if (b.arr == a) {
            cache.put(name, b);
        }
        return b;
    }
}
