package dev.infini.samediff.fast;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas_nolapack;

/**
 * Row-major GEMM straight into OpenBLAS (the library ND4J's CPU backend itself calls) on sub-matrices of
 * {@link Buf}s given by an element offset and a leading dimension, so that a head's {@code [S, d]} block of a
 * {@code [B*S, H*d]} activation is used in place: no permute copies, no op dispatch, results written into
 * preallocated buffers.
 */
final class Blas {
    private Blas() {
    }

    /** With {@code -Dinfini.fast.profile=true}, time and count of the products since the last {@link #resetProfile}. */
    static final boolean PROFILE = Boolean.getBoolean("infini.fast.profile");
    static long profileNanos;
    static long profileCalls;

    /** Per product shape {@code "m x n x k"} (profile mode): {nanos, calls}. */
    static final java.util.Map<String, long[]> PROFILE_BY_SHAPE = new java.util.TreeMap<>();

    static void resetProfile() {
        profileNanos = 0;
        profileCalls = 0;
        PROFILE_BY_SHAPE.clear();
    }

    /**
     * {@code C[m,n] = alpha * op(A)[m,k] op(B)[k,n] + beta * C}, all row-major; {@code op} transposes when
     * {@code ta}/{@code tb}. {@code lda}, {@code ldb}, {@code ldc} are the row strides of the stored matrices.
     */
    static void gemm(boolean ta, boolean tb, int m, int n, int k, double alpha,
                     Buf a, long aOff, int lda, Buf b, long bOff, int ldb, double beta, Buf c, long cOff, int ldc) {
        int order = openblas_nolapack.CblasRowMajor;
        int tA = ta ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans;
        int tB = tb ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans;
        if (m == 0 || n == 0) {
            return;
        }
        long t0 = PROFILE ? System.nanoTime() : 0;
        if (c.isFloat()) {
            openblas_nolapack.cblas_sgemm(order, tA, tB, m, n, k, (float) alpha,
                    new FloatPointer(a.fp).position(aOff), lda, new FloatPointer(b.fp).position(bOff), ldb,
                    (float) beta, new FloatPointer(c.fp).position(cOff), ldc);
        } else {
            openblas_nolapack.cblas_dgemm(order, tA, tB, m, n, k, alpha,
                    new DoublePointer(a.dp).position(aOff), lda, new DoublePointer(b.dp).position(bOff), ldb,
                    beta, new DoublePointer(c.dp).position(cOff), ldc);
        }
        if (PROFILE) {
            long dt = System.nanoTime() - t0;
            profileNanos += dt;
            profileCalls++;
            long[] e = PROFILE_BY_SHAPE.computeIfAbsent(m + "x" + n + "x" + k + (ta ? "T" : "") + (tb ? "t" : ""), key -> new long[2]);
            e[0] += dt;
            e[1]++;
        }
    }

    /** {@code C[m,n] = alpha * A[m,k] B[n,k]^T + beta C} on whole contiguous matrices (a linear layer {@code x W^T}). */
    static void xwt(int m, int n, int k, Buf x, Buf w, double beta, Buf c) {
        gemm(false, true, m, n, k, 1.0, x, 0, k, w, 0, k, beta, c, 0, n);
    }

    /** {@code C[m,n] = A[m,k] B[k,n] + beta C} on whole contiguous matrices. */
    static void xw(int m, int n, int k, Buf x, Buf w, double beta, Buf c) {
        gemm(false, false, m, n, k, 1.0, x, 0, k, w, 0, n, beta, c, 0, n);
    }

    /** {@code C[m,n] = A[k,m]^T B[k,n] + beta C} (a weight gradient {@code dY^T X}). */
    static void atb(int m, int n, int k, Buf a, Buf b, double beta, Buf c) {
        gemm(true, false, m, n, k, 1.0, a, 0, m, b, 0, n, beta, c, 0, n);
    }
}
