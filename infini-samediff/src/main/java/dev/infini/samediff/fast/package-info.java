/**
 * A hand-written training engine for one segment of the Infini-attention decoder ({@link
 * dev.infini.samediff.fast.FastSegment}): the function of the SameDiff training graph
 * ({@link dev.infini.samediff.DecoderGraph#build} with a loss) computed with OpenBLAS products on preallocated
 * buffers and fused element-wise loops in plain Java, forward and exact backward, gradients by Hugging Face name
 * and with respect to the incoming memory (Munkhdalai et al. 2024, arXiv 2404.07143; docs/spec.md).
 *
 * <p>Layout: activations are row-major {@code [B*S, features]} ND4J arrays; a head's {@code [S, d]} block is used
 * in place through BLAS leading dimensions (no permute copies); with one KV head all query heads of a batch row are
 * one product (rows {@code s*H + h}); the local attention's products skip the blocks above the diagonal. Element-wise
 * loops read and write whole rows through direct NIO views ({@code Buf}) and split rows over a small pool
 * ({@code -Dinfini.fast.threads}, default the number of cores, at most 4).
 *
 * <p>{@link dev.infini.samediff.fast.SegmentBench} times it against the graph. {@code FastSegmentTest} holds it to
 * the graph (float and double) and to finite differences.
 */
package dev.infini.samediff.fast;
