package dev.infini.samediff.fast;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;

/**
 * A contiguous, row-major (c order), offset-0 ND4J array seen three ways: the {@link INDArray} itself, a direct
 * NIO view of its off-heap memory for element-wise loops in plain Java ({@link #get}, {@link #set}), and its
 * native address for BLAS ({@link Blas}). Exactly one of {@link #f} and {@link #d} is set (float32 or float64);
 * element-wise code computes in double either way.
 */
final class Buf {
    final INDArray arr;
    final FloatBuffer f;
    final DoubleBuffer d;
    final FloatPointer fp;
    final DoublePointer dp;
    final int length;

    private Buf(INDArray arr) {
        if (arr.isView() || arr.ordering() != 'c' || arr.offset() != 0 || arr.length() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("Buf needs a contiguous c-order array with offset 0");
        }
        this.arr = arr;
        this.length = (int) arr.length();
        java.nio.ByteBuffer bb = arr.data().asNio().order(ByteOrder.nativeOrder());
        if (arr.dataType() == DataType.FLOAT) {
            f = bb.asFloatBuffer();
            d = null;
            fp = (FloatPointer) arr.data().addressPointer();
            dp = null;
        } else if (arr.dataType() == DataType.DOUBLE) {
            f = null;
            d = bb.asDoubleBuffer();
            fp = null;
            dp = (DoublePointer) arr.data().addressPointer();
        } else {
            throw new IllegalArgumentException("float32 or float64 only, got " + arr.dataType());
        }
    }

    /** A zero-filled new array of this shape. */
    static Buf zeros(DataType dtype, long... shape) {
        return new Buf(Nd4j.create(dtype, shape, 'c'));
    }

    /** A view of {@code a} itself when it is contiguous, c order, offset 0 and of {@code dtype}; else a copy. */
    static Buf of(INDArray a, DataType dtype) {
        INDArray c = a.dataType() == dtype ? a : a.castTo(dtype);
        if (c.isView() || c.ordering() != 'c' || c.offset() != 0) {
            c = c.dup('c');
        }
        return new Buf(c);
    }

    boolean isFloat() {
        return f != null;
    }

    double get(int i) {
        return f != null ? f.get(i) : d.get(i);
    }

    void set(int i, double v) {
        if (f != null) {
            f.put(i, (float) v);
        } else {
            d.put(i, v);
        }
    }

    void add(int i, double v) {
        if (f != null) {
            f.put(i, (float) (f.get(i) + v));
        } else {
            d.put(i, d.get(i) + v);
        }
    }

    /**
     * Bulk read of {@code len} elements from {@code off} into {@code dst} (converted to double); {@code tmp} is
     * the calling thread's float staging array of at least {@code len} (unused for float64).
     */
    void read(int off, double[] dst, int len, float[] tmp) {
        if (f != null) {
            f.get(off, tmp, 0, len);
            for (int i = 0; i < len; i++) {
                dst[i] = tmp[i];
            }
        } else {
            d.get(off, dst, 0, len);
        }
    }

    /** Bulk write of {@code len} elements of {@code src} at {@code off}; {@code tmp} as for {@link #read}. */
    void write(int off, double[] src, int len, float[] tmp) {
        if (f != null) {
            for (int i = 0; i < len; i++) {
                tmp[i] = (float) src[i];
            }
            f.put(off, tmp, 0, len);
        } else {
            d.put(off, src, 0, len);
        }
    }

    void zero() {
        arr.assign(0);
    }

    /** Copies {@code src} (same length) into this buffer. */
    void copyFrom(Buf src) {
        arr.assign(src.arr);
    }
}
