package dev.infini.datasets.corpus;

/** One document's text and where it came from. */
public record Document(String text, DocumentMetaData metaData) {
}
