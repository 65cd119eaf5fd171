package dev.infini.samediff;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Map;

/**
 * A plain causal-attention Gemma/Llama decoder written with loops in double precision, independent of
 * the SameDiff graph and of {@link InfiniAttention}: no memory, RoPE by index arithmetic, one head at a time.
 */
final class PlainDecoder {
    private final InfiniConfig c;
    private final Map<String, INDArray> w;

    PlainDecoder(InfiniConfig c, Map<String, INDArray> weights) {
        this.c = c;
        this.w = weights;
    }

    private double[][] mat(String name) {
        return w.get(name).castTo(DataType.DOUBLE).toDoubleMatrix();
    }

    private double[] vec(String name) {
        return w.get(name).castTo(DataType.DOUBLE).toDoubleVector();
    }

    /** Logits {@code [T][V]} of a segment attended causally from its first token (positions from 0). */
    double[][] logits(int[] ids) {
        int t = ids.length, d = c.hiddenSize();
        boolean gemma = c.family() == ModelFamily.GEMMA;
        double[][] emb = mat(TensorNames.EMBED);
        double[][] x = new double[t][];
        for (int i = 0; i < t; i++) {
            x[i] = emb[ids[i]].clone();
            if (gemma) {
                for (int j = 0; j < d; j++) {
                    x[i][j] *= Math.sqrt(d);
                }
            }
        }
        for (int l = 0; l < c.numLayers(); l++) {
            double[][] h = norm(x, vec(TensorNames.inputNorm(l)));
            double[][] att = attention(h, l);
            for (int i = 0; i < t; i++) {
                for (int j = 0; j < d; j++) {
                    x[i][j] += att[i][j];
                }
            }
            double[][] h2 = norm(x, vec(TensorNames.postAttentionNorm(l)));
            double[][] gate = linear(h2, mat(TensorNames.mlpGate(l)));
            double[][] up = linear(h2, mat(TensorNames.mlpUp(l)));
            for (int i = 0; i < t; i++) {
                for (int j = 0; j < gate[i].length; j++) {
                    double g = gate[i][j];
                    double act = gemma ? 0.5 * g * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (g + 0.044715 * g * g * g)))
                            : g / (1 + Math.exp(-g));
                    gate[i][j] = act * up[i][j];
                }
            }
            double[][] down = linear(gate, mat(TensorNames.mlpDown(l)));
            for (int i = 0; i < t; i++) {
                for (int j = 0; j < d; j++) {
                    x[i][j] += down[i][j];
                }
            }
        }
        double[][] hf = norm(x, vec(TensorNames.FINAL_NORM));
        return linear(hf, mat(c.tieWordEmbeddings() ? TensorNames.EMBED : TensorNames.LM_HEAD));
    }

    private double[][] attention(double[][] h, int l) {
        int t = h.length, hd = c.headDim(), nh = c.numHeads(), g = c.groupSize();
        double[][] q = linear(h, mat(TensorNames.qProj(l)));
        double[][] k = linear(h, mat(TensorNames.kProj(l)));
        double[][] v = linear(h, mat(TensorNames.vProj(l)));
        double[][] concat = new double[t][nh * hd];
        for (int head = 0; head < nh; head++) {
            int kv = head / g;
            for (int i = 0; i < t; i++) {
                double[] qi = rope(q[i], head * hd, i);
                double[] scores = new double[i + 1];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j <= i; j++) {
                    double[] kj = rope(k[j], kv * hd, j);
                    double dot = 0;
                    for (int e = 0; e < hd; e++) {
                        dot += qi[e] * kj[e];
                    }
                    scores[j] = dot / Math.sqrt(hd);
                    max = Math.max(max, scores[j]);
                }
                double sum = 0;
                for (int j = 0; j <= i; j++) {
                    scores[j] = Math.exp(scores[j] - max);
                    sum += scores[j];
                }
                for (int j = 0; j <= i; j++) {
                    for (int e = 0; e < hd; e++) {
                        concat[i][head * hd + e] += scores[j] / sum * v[j][kv * hd + e];
                    }
                }
            }
        }
        return linear(concat, mat(TensorNames.oProj(l)));
    }

    /** RoPE of one head's slice starting at {@code off}, position {@code pos}, pairs (e, e + d/2). */
    private double[] rope(double[] x, int off, int pos) {
        int hd = c.headDim(), half = hd / 2;
        double[] out = new double[hd];
        for (int e = 0; e < half; e++) {
            double theta = pos * Math.pow(c.ropeTheta(), -2.0 * e / hd);
            double a = x[off + e], b = x[off + e + half];
            out[e] = a * Math.cos(theta) - b * Math.sin(theta);
            out[e + half] = b * Math.cos(theta) + a * Math.sin(theta);
        }
        return out;
    }

    private double[][] norm(double[][] x, double[] w) {
        boolean gemma = c.family() == ModelFamily.GEMMA;
        double[][] out = new double[x.length][];
        for (int i = 0; i < x.length; i++) {
            double ms = 0;
            for (double v : x[i]) {
                ms += v * v;
            }
            double inv = 1 / Math.sqrt(ms / x[i].length + c.rmsNormEps());
            out[i] = new double[x[i].length];
            for (int j = 0; j < x[i].length; j++) {
                out[i][j] = x[i][j] * inv * (gemma ? 1 + w[j] : w[j]);
            }
        }
        return out;
    }

    /** {@code x W^T} with W {@code [out][in]}. */
    private static double[][] linear(double[][] x, double[][] wt) {
        double[][] out = new double[x.length][wt.length];
        for (int i = 0; i < x.length; i++) {
            for (int o = 0; o < wt.length; o++) {
                double s = 0;
                for (int e = 0; e < x[i].length; e++) {
                    s += x[i][e] * wt[o][e];
                }
                out[i][o] = s;
            }
        }
        return out;
    }
}
