package dev.infini.datasets.pipeline;

/** How documents become blocks of {@code seq_len} tokens. */
public enum BlockMode {
    /** Documents back to back, EOS after each (BOS before each if asked); blocks cut the stream every seq_len tokens. */
    CONCATENATED,
    /**
     * One document per block: a document (plus EOS) longer than seq_len takes several consecutive blocks, and the
     * last (or only) block of a document is padded, with mask 0 on the padding. Blocks never mix documents.
     */
    PER_DOCUMENT
}
