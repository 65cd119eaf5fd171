package dev.infini.datasets.corpus;

import org.datavec.api.records.metadata.RecordMetaData;

import java.net.URI;

/**
 * Where a document came from: the file (URI), the byte offset of its first byte in the (decompressed)
 * file, and for JSONL its 1-based line number (0 for plain text files).
 */
public record DocumentMetaData(URI uri, long byteOffset, long line, Class<?> readerClass) implements RecordMetaData {

    @Override
    public String getLocation() {
        return line > 0 ? uri + ":line " + line + " (byte " + byteOffset + ")" : uri + " (byte " + byteOffset + ")";
    }

    @Override
    public URI getURI() {
        return uri;
    }

    @Override
    public Class<?> getReaderClass() {
        return readerClass;
    }

    /** Short location for logs and cache indexes: file name plus line or byte offset. */
    public String shortLocation() {
        String path = uri.getPath() != null ? uri.getPath() : uri.toString();
        if (path == null || path.isEmpty()) {
            path = uri.toString();
        }
        String name = path.substring(path.lastIndexOf('/') + 1);
        return line > 0 ? name + ":" + line : name + "@" + byteOffset;
    }
}
