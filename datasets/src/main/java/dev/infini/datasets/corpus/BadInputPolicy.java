package dev.infini.datasets.corpus;

/** What the document reader does with a bad document (empty, invalid UTF-8, JSONL line without the field). */
public enum BadInputPolicy {
    /** Skip it, count it, and log a warning naming it (the default). */
    SKIP,
    /** Throw an exception naming the file and line. */
    FAIL
}
