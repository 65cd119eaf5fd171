package dev.infini.datasets.corpus;

/** Counts of one pass of a {@link DocumentRecordReader} over its input. */
public final class ReaderStats {
    long files;
    long documents;
    long emptySkipped;
    long malformedUtf8Skipped;
    long malformedUtf8Replaced;
    long missingFieldSkipped;
    long invalidJsonSkipped;

    public long files() {
        return files;
    }

    public long documents() {
        return documents;
    }

    public long emptySkipped() {
        return emptySkipped;
    }

    public long malformedUtf8Skipped() {
        return malformedUtf8Skipped;
    }

    public long malformedUtf8Replaced() {
        return malformedUtf8Replaced;
    }

    public long missingFieldSkipped() {
        return missingFieldSkipped;
    }

    public long invalidJsonSkipped() {
        return invalidJsonSkipped;
    }

    public long skipped() {
        return emptySkipped + malformedUtf8Skipped + missingFieldSkipped + invalidJsonSkipped;
    }

    ReaderStats copy() {
        ReaderStats c = new ReaderStats();
        c.files = files;
        c.documents = documents;
        c.emptySkipped = emptySkipped;
        c.malformedUtf8Skipped = malformedUtf8Skipped;
        c.malformedUtf8Replaced = malformedUtf8Replaced;
        c.missingFieldSkipped = missingFieldSkipped;
        c.invalidJsonSkipped = invalidJsonSkipped;
        return c;
    }

    @Override
    public String toString() {
        return files + " files, " + documents + " documents; skipped: " + emptySkipped + " empty, "
                + malformedUtf8Skipped + " invalid UTF-8, " + missingFieldSkipped + " JSONL lines without the text field, "
                + invalidJsonSkipped + " invalid JSON lines; " + malformedUtf8Replaced + " invalid UTF-8 documents repaired";
    }
}
