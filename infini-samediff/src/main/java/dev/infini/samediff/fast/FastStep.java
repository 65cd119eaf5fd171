package dev.infini.samediff.fast;

import dev.infini.samediff.InfiniAttention;
import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryState;
import dev.infini.samediff.ModelFamily;
import dev.infini.samediff.TensorNames;
import org.bytedeco.openblas.global.openblas_nolapack;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.HashMap;
import java.util.Map;

/**
 * A hand-written decode step: one token (batch 1) at position {@code p} of the current segment, the same function
 * as the SameDiff decode-step graph ({@link dev.infini.samediff.DecoderGraph#buildStep},
 * {@link InfiniAttention#step}) without SameDiff (Munkhdalai et al. 2024, arXiv 2404.07143, section 2.1;
 * docs/spec.md, docs/generation.md). Per layer:
 * <ul>
 *   <li>{@code h = RMSNorm(x)}; {@code q = h Wq^T [H*d]}, {@code k = h Wk^T}, {@code v = h Wv^T [Hkv*d]};</li>
 *   <li>the token's RoPE'd key and its value are written into cache slot {@code p} ({@code [Hkv, S, d]});</li>
 *   <li>{@code A_dot = softmax(RoPE(q) K[0..p]^T / sqrt(d)) V[0..p]} per query head (its KV head {@code h / g});
 *   slots after {@code p} are never read, which is the step graph's mask;</li>
 *   <li>{@code A_mem = sigma(q) M / (sigma(q) z + eps)} with {@code q} before RoPE, {@code sigma = ELU + 1}
 *   (paper eq. 3), the memory of the earlier segments, only read (the segment kernel writes it, eq. 4/5);</li>
 *   <li>{@code A = sigmoid(g_h) A_mem + (1 - sigmoid(g_h)) A_dot} (eq. 6), {@code x += A Wo^T};
 *   {@code x += MLP(RMSNorm(x))};</li>
 * </ul>
 * then {@code logits = RMSNorm(x) W_head^T}. The matrix-vector products are BLAS GEMMs with one row
 * ({@link Blas}) straight on the model's weight arrays; everything else is plain Java in double. The cache is
 * this engine's own (double precision), preallocated; the memory is loaded once per {@link MemoryState} object
 * (a value, never changed in place). Float32 or float64 weights. Not thread-safe.
 */
public final class FastStep {
    private final InfiniConfig config;
    private final Map<String, INDArray> weights;
    private final DataType dtype;
    private final Dims d;
    private final boolean gemma;
    private final boolean gelu;
    private final double[] invFreq;         // [d/2] theta^(-2i/d)
    private final double[][] cacheK;        // [L][Hkv * S * d] RoPE'd keys of the current segment
    private final double[][] cacheV;        // [L][Hkv * S * d]
    private final double[][] cacheSk;       // [L][Hkv * S * d] sigma(K) of the raw keys, for the memory write
    private final double[][] memM;          // [L][Hkv * d * d] the memory being read
    private final double[][] memZ;          // [L][Hkv * d]
    private MemoryState loaded;
    private final Buf x;                    // [1, D]   residual stream
    private final Buf h;                    // [1, D]   normalised input of a block
    private final Buf q;                    // [1, H*d]
    private final Buf k;                    // [1, Hkv*d]
    private final Buf v;                    // [1, Hkv*d]
    private final Buf a;                    // [1, H*d] gated mix
    private final Buf gt;                   // [1, I]
    private final Buf up;                   // [1, I]
    private final Buf logits;               // [1, V]
    private final Map<String, Buf> weightBufs = new HashMap<>();
    private final int[] segmentTokens;      // the tokens of the current segment by slot (token shift reads the last)

    /**
     * @param weights the model's arrays by Hugging Face name (read live at every step, never written)
     */
    public FastStep(InfiniConfig config, Map<String, INDArray> weights, DataType dtype) {
        if (dtype != DataType.FLOAT && dtype != DataType.DOUBLE) {
            throw new IllegalArgumentException("float32 or float64 only, got " + dtype);
        }
        this.config = config;
        this.weights = weights;
        this.dtype = dtype;
        this.d = Dims.of(config, 1, config.segmentSize());
        this.gemma = config.family() == ModelFamily.GEMMA;
        this.gelu = config.activation() == InfiniConfig.Activation.GELU_TANH;
        this.invFreq = new double[d.hd() / 2];
        for (int i = 0; i < invFreq.length; i++) {
            invFreq[i] = Math.pow(config.ropeTheta(), -2.0 * i / d.hd());
        }
        int nl = d.nl();
        cacheK = new double[nl][d.kv() * d.s() * d.hd()];
        cacheV = new double[nl][d.kv() * d.s() * d.hd()];
        cacheSk = new double[nl][d.kv() * d.s() * d.hd()];
        memM = new double[nl][d.kv() * d.hd() * d.hd()];
        memZ = new double[nl][d.kvd()];
        x = Buf.zeros(dtype, 1, d.dm());
        h = Buf.zeros(dtype, 1, d.dm());
        q = Buf.zeros(dtype, 1, d.qd());
        k = Buf.zeros(dtype, 1, d.kvd());
        v = Buf.zeros(dtype, 1, d.kvd());
        a = Buf.zeros(dtype, 1, d.qd());
        gt = Buf.zeros(dtype, 1, d.im());
        up = Buf.zeros(dtype, 1, d.im());
        logits = Buf.zeros(dtype, 1, d.voc());
        segmentTokens = new int[d.s()];
    }

    /** An engine over a model's own weights, in the model's dtype. */
    public static FastStep of(InfiniModel model) {
        return new FastStep(model.config(), model.weights(), model.dtype());
    }

    /**
     * Runs one token at position {@code pos} of the current segment (cache slots {@code 0..pos-1} hold the
     * earlier tokens of the segment), writes its RoPE'd key and value into slot {@code pos} of every layer's
     * cache, and returns the logits {@code [V]} (a new array in the model's dtype) that predict the next token.
     *
     * @param memory the memory of the completed segments (read, not written)
     */
    public INDArray step(int token, int pos, MemoryState memory) {
        if (token < 0 || token >= d.voc()) {
            throw new IllegalArgumentException("token id " + token + " is outside the vocabulary [0, " + d.voc() + ")");
        }
        if (pos < 0 || pos >= d.s()) {
            throw new IllegalArgumentException("position " + pos + " is outside the segment [0, " + d.s() + ")");
        }
        loadMemory(memory);
        segmentTokens[pos] = token;
        embed(token, pos > 0 && config.tokenShift() ? segmentTokens[pos - 1] : -1);
        for (int l = 0; l < d.nl(); l++) {
            attention(l, pos);
            mlp(l);
        }
        rmsNorm(x, w(TensorNames.FINAL_NORM), h);
        matvec(d.voc(), d.dm(), h, w(headName()), 0, logits);                // logits = h_f W_head^T  [1, V]
        return logits.arr.dup().reshape(d.voc());
    }

    /**
     * The memory after the current segment once all its {@code S} slots are filled by {@link #step}, from the
     * cached {@code sigma(K)} and {@code V} of its tokens, without running the segment again: linear
     * {@code M' = M + sigma(K)^T V} (paper eq. 4) or delta {@code M' = M + sigma(K)^T (V - sigma(K) M /
     * (sigma(K) z + eps))} (eq. 5), {@code z' = z + sum_t sigma(K_t)}. Each token's K and V depend only on the
     * tokens before it in the segment and on {@code memory}, so this equals the segment forward's memory.
     *
     * @param memory the memory before the segment (the one the steps read)
     * @return new arrays in the model's dtype, {@code M [1, Hkv, d, d]}, {@code z [1, Hkv, d]}
     */
    public MemoryState writeMemory(MemoryState memory) {
        loadMemory(memory);
        boolean delta = config.memoryUpdate() == dev.infini.samediff.MemoryUpdate.DELTA;
        INDArray[] m = new INDArray[d.nl()], z = new INDArray[d.nl()];
        for (int l = 0; l < d.nl(); l++) {
            double[] mo = memM[l].clone(), zo = memZ[l].clone();
            for (int kv = 0; kv < d.kv(); kv++) {
                writeHead(l, kv, delta, mo, zo);
            }
            m[l] = org.nd4j.linalg.factory.Nd4j.create(mo, new long[] {1, d.kv(), d.hd(), d.hd()}, DataType.DOUBLE)
                    .castTo(dtype);
            z[l] = org.nd4j.linalg.factory.Nd4j.create(zo, new long[] {1, d.kv(), d.hd()}, DataType.DOUBLE).castTo(dtype);
        }
        return new MemoryState(m, z);
    }

    /** Adds KV head {@code kv}'s write of layer {@code l} into {@code mo [Hkv*d*d]}, {@code zo [Hkv*d]}. */
    private void writeHead(int l, int kv, boolean delta, double[] mo, double[] zo) {
        int hd = d.hd(), base = kv * d.s() * hd, mBase = kv * hd * hd, zBase = kv * hd;
        double[] m = memM[l], z = memZ[l], sk = cacheSk[l], vs = cacheV[l], val = new double[hd];
        for (int t = 0; t < d.s(); t++) {
            int o = base + t * hd;
            System.arraycopy(vs, o, val, 0, hd);
            if (delta) {                                   // V - sigma(K) M / (sigma(K) z + eps), M before the write
                double den = InfiniAttention.EPS;
                for (int i = 0; i < hd; i++) {
                    den += sk[o + i] * z[zBase + i];
                }
                for (int i = 0; i < hd; i++) {
                    double c = sk[o + i] / den;
                    for (int j = 0, r = mBase + i * hd; j < hd; j++) {
                        val[j] -= c * m[r + j];
                    }
                }
            }
            for (int i = 0; i < hd; i++) {                 // M' += sigma(K_t)^T value_t, z' += sigma(K_t)
                double s = sk[o + i];
                zo[zBase + i] += s;
                for (int j = 0, r = mBase + i * hd; j < hd; j++) {
                    mo[r + j] += s * val[j];
                }
            }
        }
    }

    /** Bytes of this engine's cache and memory copy (fixed at construction). */
    public long stateBytes() {
        long n = 0;
        for (int l = 0; l < d.nl(); l++) {
            n += cacheK[l].length + cacheV[l].length + cacheSk[l].length + memM[l].length + memZ[l].length;
        }
        return n * Double.BYTES;
    }

    /** Copies {@code M [1, Hkv, d, d]}, {@code z [1, Hkv, d]} of every layer once per memory object. */
    private void loadMemory(MemoryState memory) {
        if (memory == loaded) {
            return;
        }
        if (memory.numLayers() != d.nl() || memory.batch() != 1) {
            throw new IllegalArgumentException("memory has " + memory.numLayers() + " layers x batch " + memory.batch()
                    + ", expected " + d.nl() + " x 1");
        }
        for (int l = 0; l < d.nl(); l++) {
            Buf m = Buf.of(memory.m(l), dtype), z = Buf.of(memory.z(l), dtype);
            m.read(0, memM[l], memM[l].length, new float[memM[l].length]);
            z.read(0, memZ[l], memZ[l].length, new float[memZ[l].length]);
        }
        loaded = memory;
    }

    /**
     * {@code x_0 = E[token]}, plus {@code P[prev]} when {@code prev >= 0} (token shift: the token in the slot before,
     * as {@link FastEmbedding}), times sqrt(D) for Gemma.
     */
    private void embed(int token, int prev) {
        Buf e = w(TensorNames.EMBED);
        double[] row = new double[d.dm()];
        float[] tmp = new float[d.dm()];
        e.read(token * d.dm(), row, d.dm(), tmp);
        if (prev >= 0) {
            double[] p = new double[d.dm()];
            w(TensorNames.PREV_EMBED).read(prev * d.dm(), p, d.dm(), tmp);
            for (int j = 0; j < row.length; j++) {
                row[j] += p[j];
            }
        }
        double scale = gemma ? Math.sqrt(d.dm()) : 1.0;
        for (int j = 0; j < row.length; j++) {
            row[j] *= scale;
        }
        x.write(0, row, d.dm(), tmp);
    }

    /** {@code x += A Wo^T} with {@code A} the gated mix of local attention and memory read of layer {@code l}. */
    private void attention(int l, int pos) {
        rmsNorm(x, w(TensorNames.inputNorm(l)), h);
        matvec(d.qd(), d.dm(), h, w(TensorNames.qProj(l)), 0, q);        // q = h Wq^T  [1, H*d]
        matvec(d.kvd(), d.dm(), h, w(TensorNames.kProj(l)), 0, k);       // k = h Wk^T  [1, Hkv*d]
        matvec(d.kvd(), d.dm(), h, w(TensorNames.vProj(l)), 0, v);       // v = h Wv^T  [1, Hkv*d]
        double[] qr = toArray(q), kr = toArray(k), vr = toArray(v);
        double[] qRope = rope(qr, d.h(), pos), kRope = rope(kr, d.kv(), pos), sk = sigma(kr);
        int hd = d.hd(), slot = pos * hd, perHead = d.s() * hd;
        for (int kv = 0; kv < d.kv(); kv++) {                                   // append to the cache
            System.arraycopy(kRope, kv * hd, cacheK[l], kv * perHead + slot, hd);
            System.arraycopy(vr, kv * hd, cacheV[l], kv * perHead + slot, hd);
            System.arraycopy(sk, kv * hd, cacheSk[l], kv * perHead + slot, hd);
        }
        double[] out = new double[d.qd()], sq = sigma(qr);
        double[] gates = FastAttention.gates(w(TensorNames.gate(l)), d.h());
        double[] aDot = new double[hd], aMem = new double[hd];
        for (int hh = 0; hh < d.h(); hh++) {
            int kv = hh / d.g();
            local(l, kv, qRope, hh * hd, pos, aDot);
            readMemory(l, kv, sq, hh * hd, aMem);
            double g = gates[hh];
            for (int i = 0; i < hd; i++) {                                      // A = A_dot + (A_mem - A_dot) sigmoid(g)
                out[hh * hd + i] = aDot[i] + (aMem[i] - aDot[i]) * g;
            }
        }
        a.write(0, out, d.qd(), new float[d.qd()]);
        matvec(d.dm(), d.qd(), a, w(TensorNames.oProj(l)), 1, x);         // x1 = x + A Wo^T
    }

    /**
     * {@code out = softmax(q_h K[kv, 0..pos]^T / sqrt(d)) V[kv, 0..pos]} for the query head at {@code qOff} of
     * {@code qRope [H*d]}.
     */
    private void local(int l, int kv, double[] qRope, int qOff, int pos, double[] out) {
        int hd = d.hd(), base = kv * d.s() * hd;
        double[] keys = cacheK[l], values = cacheV[l], p = new double[pos + 1];
        double scale = 1.0 / Math.sqrt(hd), max = Double.NEGATIVE_INFINITY;
        for (int t = 0; t <= pos; t++) {
            double s = 0;
            for (int i = 0, o = base + t * hd; i < hd; i++) {
                s += qRope[qOff + i] * keys[o + i];
            }
            p[t] = s * scale;
            max = Math.max(max, p[t]);
        }
        double sum = 0;
        for (int t = 0; t <= pos; t++) {
            p[t] = Math.exp(p[t] - max);
            sum += p[t];
        }
        java.util.Arrays.fill(out, 0.0);
        for (int t = 0; t <= pos; t++) {
            double pt = p[t] / sum;
            for (int i = 0, o = base + t * hd; i < hd; i++) {
                out[i] += pt * values[o + i];
            }
        }
    }

    /** {@code out = sigma(q_h) M_kv / (sigma(q_h) z_kv + eps)} (paper eq. 3) for the head at {@code qOff}. */
    private void readMemory(int l, int kv, double[] sq, int qOff, double[] out) {
        int hd = d.hd(), mBase = kv * hd * hd, zBase = kv * hd;
        double[] m = memM[l], z = memZ[l];
        double den = InfiniAttention.EPS;
        java.util.Arrays.fill(out, 0.0);
        for (int i = 0; i < hd; i++) {
            double s = sq[qOff + i];
            den += s * z[zBase + i];
            for (int j = 0, o = mBase + i * hd; j < hd; j++) {
                out[j] += s * m[o + j];
            }
        }
        for (int j = 0; j < hd; j++) {
            out[j] /= den;
        }
    }

    /** {@code x += (act(h2 Wg^T) * (h2 Wu^T)) Wd^T} with {@code h2 = RMSNorm(x)}; GeLU-tanh or SiLU. */
    private void mlp(int l) {
        rmsNorm(x, w(TensorNames.postAttentionNorm(l)), h);
        matvec(d.im(), d.dm(), h, w(TensorNames.mlpGate(l)), 0, gt);      // [1, I]
        matvec(d.im(), d.dm(), h, w(TensorNames.mlpUp(l)), 0, up);        // [1, I]
        double[] g = toArray(gt), u = toArray(up);
        for (int i = 0; i < g.length; i++) {
            double xi = g[i];
            double act = gelu ? 0.5 * xi * (1.0 + tanh(GELU_C * (xi + 0.044715 * xi * xi * xi)))
                    : xi / (1.0 + Math.exp(-xi));
            u[i] *= act;
        }
        up.write(0, u, d.im(), new float[d.im()]);
        matvec(d.dm(), d.im(), up, w(TensorNames.mlpDown(l)), 1, x);     // x2 = x1 + mm Wd^T
    }

    /** RMSNorm {@code y = x / sqrt(mean(x^2) + eps) * s}, {@code s = 1 + w} (Gemma) or {@code w} (Llama). */
    private void rmsNorm(Buf in, Buf weight, Buf out) {
        int n = d.dm();
        double[] xr = toArray(in), s = toArray(weight);
        double ss = 0;
        for (double xi : xr) {
            ss += xi * xi;
        }
        double inv = 1.0 / Math.sqrt(ss / n + config.rmsNormEps());
        for (int j = 0; j < n; j++) {
            xr[j] *= inv * (gemma ? 1.0 + s[j] : s[j]);
        }
        out.write(0, xr, n, new float[n]);
    }

    /**
     * RoPE at position {@code pos} of {@code heads} heads of {@code x [heads*d]} (rotate_half layout):
     * {@code x cos + rotate_half(x) sin}, angle {@code pos * theta^(-2i/d)}, {@code i = j mod d/2}.
     */
    private double[] rope(double[] xr, int heads, int pos) {
        int hd = d.hd(), half = hd / 2;
        double[] y = new double[heads * hd];
        for (int i = 0; i < half; i++) {
            double ang = pos * invFreq[i], c = Math.cos(ang), s = Math.sin(ang);
            for (int o = 0; o < heads * hd; o += hd) {
                y[o + i] = xr[o + i] * c - xr[o + i + half] * s;
                y[o + i + half] = xr[o + i + half] * c + xr[o + i] * s;
            }
        }
        return y;
    }

    /** How the matrix-vector products run: {@code gemv} (default) or {@code gemm} (M = 1), for measurements. */
    static final String MATVEC = System.getProperty("infini.step.matvec", "gemv");

    /** {@code y[n] = W[n, k] x[k] + beta y} (a linear layer {@code x W^T} of one row), BLAS sgemv/dgemv. */
    private static void matvec(int n, int k, Buf x, Buf w, double beta, Buf y) {
        if (!"gemv".equals(MATVEC)) {
            Blas.xwt(1, n, k, x, w, beta, y);
            return;
        }
        int order = openblas_nolapack.CblasRowMajor, noTrans = openblas_nolapack.CblasNoTrans;
        if (y.isFloat()) {
            openblas_nolapack.cblas_sgemv(order, noTrans, n, k, 1f, w.fp, k, x.fp, 1, (float) beta, y.fp, 1);
        } else {
            openblas_nolapack.cblas_dgemv(order, noTrans, n, k, 1.0, w.dp, k, x.dp, 1, beta, y.dp, 1);
        }
    }

    private static final double GELU_C = Math.sqrt(2.0 / Math.PI);

    /** {@code tanh(u) = 1 - 2 / (exp(2u) + 1)}: one intrinsic exp instead of the slower {@link Math#tanh}. */
    private static double tanh(double u) {
        return 1.0 - 2.0 / (Math.exp(2.0 * u) + 1.0);
    }

    /** {@code sigma(x) = ELU(x) + 1}. */
    private static double[] sigma(double[] xr) {
        double[] y = new double[xr.length];
        for (int i = 0; i < xr.length; i++) {
            y[i] = xr[i] > 0 ? xr[i] + 1.0 : Math.exp(xr[i]);
        }
        return y;
    }

    private static double[] toArray(Buf b) {
        double[] out = new double[b.length];
        b.read(0, out, b.length, new float[b.length]);
        return out;
    }

    private String headName() {
        return config.tieWordEmbeddings() ? TensorNames.EMBED : TensorNames.LM_HEAD;
    }

    /** The weight's buffer: the model's array itself when usable in place (cached), else a fresh copy. */
    private Buf w(String name) {
        INDArray arr = weights.get(name);
        if (arr == null) {
            throw new IllegalArgumentException("missing weight " + name);
        }
        Buf b = weightBufs.get(name);
        if (b != null && b.arr == arr) {
            return b;
        }
        b = Buf.of(arr, dtype);
        if (b.arr == arr) {
            weightBufs.put(name, b);
        }
        return b;
    }

    public InfiniConfig config() { return config; }
    public DataType dtype() { return dtype; }
}
