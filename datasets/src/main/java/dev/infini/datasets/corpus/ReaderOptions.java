package dev.infini.datasets.corpus;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Options of a {@link DocumentRecordReader}.
 *
 * @param textField     the JSONL field that holds a document's text ({@code "text"} by default)
 * @param splitRegex    for plain text files: a regex at whose matches a file is cut into several documents
 *                      (a zero-width lookahead keeps the match, e.g. {@code (?m)^(?=CHAPTER \d+\.)}); null for one
 *                      document per file
 * @param badInput      what to do with an empty document, invalid UTF-8, invalid JSON or a JSONL line without the field
 * @param repairUtf8    when true, invalid UTF-8 bytes become U+FFFD (counted) instead of going to {@code badInput}
 */
public record ReaderOptions(String textField, String splitRegex, BadInputPolicy badInput, boolean repairUtf8) {

    public ReaderOptions {
        Objects.requireNonNull(textField, "textField");
        Objects.requireNonNull(badInput, "badInput");
        if (splitRegex != null) {
            Pattern.compile(splitRegex);
        }
    }

    public static ReaderOptions defaults() {
        return new ReaderOptions("text", null, BadInputPolicy.SKIP, false);
    }

    public ReaderOptions withTextField(String field) {
        return new ReaderOptions(field, splitRegex, badInput, repairUtf8);
    }

    public ReaderOptions withSplitRegex(String regex) {
        return new ReaderOptions(textField, regex, badInput, repairUtf8);
    }

    public ReaderOptions withBadInput(BadInputPolicy policy) {
        return new ReaderOptions(textField, splitRegex, policy, repairUtf8);
    }

    public ReaderOptions withRepairUtf8(boolean repair) {
        return new ReaderOptions(textField, splitRegex, badInput, repair);
    }

    String key() {
        return "field=" + textField + ";split=" + splitRegex + ";bad=" + badInput + ";repair=" + repairUtf8;
    }
}
