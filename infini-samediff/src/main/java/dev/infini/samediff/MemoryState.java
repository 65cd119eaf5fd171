package dev.infini.samediff;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

/**
 * The compressive memory of every layer: {@code M [batch, Hkv, d, d]} and {@code z [batch, Hkv, d]},
 * zero before the first segment, passed into each segment and returned updated. A value: the arrays
 * are never modified in place by this project. It may hold any number of layers (one, inside a DL4J
 * layer), and also carries gradients with respect to a memory (same shapes), as
 * {@link dev.infini.samediff.train.SegmentRecurrence} passes them from segment to segment.
 */
public final class MemoryState {
    private final INDArray[] m;
    private final INDArray[] z;

    public MemoryState(INDArray[] m, INDArray[] z) {
        if (m.length != z.length) {
            throw new IllegalArgumentException("M has " + m.length + " layers but z has " + z.length);
        }
        for (int i = 0; i < m.length; i++) {
            long[] ms = m[i].shape(), zs = z[i].shape();
            if (ms.length != 4 || zs.length != 3 || ms[0] != zs[0] || ms[1] != zs[1] || ms[2] != zs[2] || ms[3] != ms[2]) {
                throw new IllegalArgumentException("layer " + i + ": memory shapes M " + Arrays.toString(ms) + " and z "
                        + Arrays.toString(zs) + " are not [batch, Hkv, d, d] and [batch, Hkv, d]");
            }
        }
        this.m = m.clone();
        this.z = z.clone();
    }

    /** All-zero memory, the state before the first segment (float32 unless the model computes in double). */
    public static MemoryState zeros(InfiniConfig c, int batch, DataType dtype) {
        INDArray[] m = new INDArray[c.numLayers()];
        INDArray[] z = new INDArray[c.numLayers()];
        for (int i = 0; i < m.length; i++) {
            m[i] = Nd4j.zeros(dtype, batch, c.numKvHeads(), c.headDim(), c.headDim());
            z[i] = Nd4j.zeros(dtype, batch, c.numKvHeads(), c.headDim());
        }
        return new MemoryState(m, z);
    }

    public static MemoryState zeros(InfiniConfig c, int batch) {
        return zeros(c, batch, DataType.FLOAT);
    }

    public int numLayers() { return m.length; }
    public long batch() { return m[0].size(0); }
    /** {@code M} of layer {@code i}, {@code [batch, Hkv, d, d]}. */
    public INDArray m(int layer) { return m[layer]; }
    /** {@code z} of layer {@code i}, {@code [batch, Hkv, d]}. */
    public INDArray z(int layer) { return z[layer]; }

    /** Deep copy, e.g. to keep a checkpoint of the state between segments. */
    public MemoryState copy() {
        INDArray[] mc = new INDArray[m.length];
        INDArray[] zc = new INDArray[z.length];
        for (int i = 0; i < m.length; i++) {
            mc[i] = m[i].dup();
            zc[i] = z[i].dup();
        }
        return new MemoryState(mc, zc);
    }

    /** The same memory cast to another data type. */
    public MemoryState castTo(DataType dtype) {
        INDArray[] mc = new INDArray[m.length];
        INDArray[] zc = new INDArray[z.length];
        for (int i = 0; i < m.length; i++) {
            mc[i] = m[i].castTo(dtype);
            zc[i] = z[i].castTo(dtype);
        }
        return new MemoryState(mc, zc);
    }

    /** Frobenius norm of {@code M} per layer (for plots of how memory grows). */
    public double[] memoryNorms() {
        double[] out = new double[m.length];
        for (int i = 0; i < m.length; i++) {
            out[i] = m[i].norm2Number().doubleValue();
        }
        return out;
    }
}
