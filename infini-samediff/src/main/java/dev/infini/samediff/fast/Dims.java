package dev.infini.samediff.fast;

import dev.infini.samediff.InfiniConfig;

/**
 * Static sizes of one segment: B batch, S segment length, N = B*S rows, D hidden, H query heads, Hkv KV heads,
 * g = H/Hkv, d head_dim, I MLP width, V vocabulary, L layers; {@code qd = H*d}, {@code kvd = Hkv*d}.
 */
record Dims(int b, int s, int n, int dm, int h, int kv, int g, int hd, int im, int voc, int nl, int qd, int kvd) {
    static Dims of(InfiniConfig c, int batch, int seqLen) {
        return new Dims(batch, seqLen, batch * seqLen, c.hiddenSize(), c.numHeads(), c.numKvHeads(), c.groupSize(),
                c.headDim(), c.intermediateSize(), c.vocabSize(), c.numLayers(),
                c.numHeads() * c.headDim(), c.numKvHeads() * c.headDim());
    }
}
