package dev.infini.samediff.fuzz;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Random;

/**
 * Seeded generators of malformed inputs: a safetensors file (byte-level truncations, appends, header byte flips and
 * header-length changes; JSON-level bad offsets, dtypes, shapes, duplicate names, overlaps, metadata, non-finite
 * values), a config.json (value mutations) and a shard index. Each mutation returns a description and the new bytes.
 */
final class Mutator {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Object[] BAD_VALUES = {0, -1, -8, 1_000_000_000, 2147483648L, 1.5, 256.0, "7", null, true,
            new int[0], "{}", 1_000_000, 65537};
    private static final String[] DTYPES = {"F16", "BF16", "F64", "I64", "U8", "f32", "", "Q4", "F8_E4M3"};

    record Mutant(String what, byte[] bytes) {
    }

    private final Random rnd;

    Mutator(long seed) {
        this.rnd = new Random(seed);
    }

    Random random() {
        return rnd;
    }

    /** One byte-level mutation of a safetensors file. */
    Mutant bytes(byte[] file) {
        long headerLen = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).getLong();
        byte[] out;
        switch (rnd.nextInt(4)) {
            case 0 -> {
                int cut = rnd.nextInt(file.length);
                return new Mutant("truncated to " + cut + " bytes", Arrays.copyOf(file, cut));
            }
            case 1 -> {
                int extra = 1 + rnd.nextInt(16);
                out = Arrays.copyOf(file, file.length + extra);
                return new Mutant(extra + " bytes appended", out);
            }
            case 2 -> {
                out = file.clone();
                int at = 8 + rnd.nextInt((int) headerLen);
                byte b = (byte) rnd.nextInt(256);
                String was = printable(out[at]);
                out[at] = b;
                return new Mutant("header byte " + at + " " + was + " -> " + printable(b), out);
            }
            default -> {
                out = file.clone();
                long[] choices = {headerLen - 1, headerLen + 1, headerLen - 8, headerLen + 8, 0, 1, -1, Long.MAX_VALUE,
                        file.length, file.length - 8, 1L << 40, rnd.nextInt(file.length)};
                long v = choices[rnd.nextInt(choices.length)];
                ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putLong(0, v);
                return new Mutant("header length " + headerLen + " -> " + v, out);
            }
        }
    }

    private static String printable(byte b) {
        return b >= 32 && b < 127 ? "'" + (char) b + "'" : String.format("0x%02x", b & 0xff);
    }

    /** One JSON-level mutation of a safetensors header, written back with a consistent header length. */
    Mutant header(byte[] file) throws IOException {
        long hl = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).getLong();
        ObjectNode h = (ObjectNode) JSON.readTree(new String(file, 8, (int) hl, StandardCharsets.UTF_8));
        byte[] data = Arrays.copyOfRange(file, 8 + (int) hl, file.length);
        List<String> names = new ArrayList<>();
        h.fieldNames().forEachRemaining(n -> {
            if (!n.equals("__metadata__")) {
                names.add(n);
            }
        });
        String name = names.get(rnd.nextInt(names.size()));
        ObjectNode e = (ObjectNode) h.get(name);
        String what = mutateEntry(h, name, e, names);
        if (what == null) {
            return textual(h, name, data);
        }
        return new Mutant(what + " (tensor " + name + ")", assemble(JSON.writeValueAsBytes(h), data));
    }

    private String mutateEntry(ObjectNode h, String name, ObjectNode e, List<String> names) {
        ArrayNode off = (ArrayNode) e.get("data_offsets");
        long b = off.get(0).asLong(), en = off.get(1).asLong();
        switch (rnd.nextInt(12)) {
            case 0 -> { off.set(0, JSON.getNodeFactory().numberNode((double) b)); return "float begin offset"; }
            case 1 -> { off.set(1, JSON.getNodeFactory().textNode("" + en)); return "string end offset"; }
            case 2 -> { off.set(0, en); off.set(1, b); return "offsets swapped"; }
            case 3 -> { int k = 1 + rnd.nextInt(8); off.set(0, b + k); off.set(1, en + k); return "offsets shifted by " + k; }
            case 4 -> { int k = 1 + rnd.nextInt(8); off.set(1, en - k); return "end offset -" + k; }
            case 5 -> { ((ArrayNode) e.get("shape")).add(1 + rnd.nextInt(3)); return "extra dimension"; }
            case 6 -> { e.put("shape", "" + e.get("shape")); return "shape as a string"; }
            case 7 -> { e.put("dtype", otherDtype(e.get("dtype").asText())); return "dtype " + e.get("dtype"); }
            case 8 -> { e.remove(new String[] {"dtype", "shape", "data_offsets"}[rnd.nextInt(3)]); return "key removed"; }
            case 9 -> { h.remove(name); return "entry removed"; }
            case 10 -> { overlapWithOther(h, e, names); return "offsets copied from another tensor (overlap)"; }
            default -> { return null; }
        }
    }

    /**
     * A dtype of another element size, or not a readable one: swapping BF16 for F16 (same size) makes another valid
     * file, which no reader can tell from the original.
     */
    private String otherDtype(String was) {
        while (true) {
            String d = DTYPES[rnd.nextInt(DTYPES.length)];
            if (width(d) != width(was)) {
                return d;
            }
        }
    }

    private static int width(String dtype) {
        return switch (dtype) { case "F32" -> 4; case "F16", "BF16" -> 2; case "F64" -> 8; default -> -1; };
    }

    private void overlapWithOther(ObjectNode h, ObjectNode e, List<String> names) {
        String other = names.get(rnd.nextInt(names.size()));
        e.set("data_offsets", h.get(other).get("data_offsets").deepCopy());
        e.set("shape", h.get(other).get("shape").deepCopy());
        e.set("dtype", h.get(other).get("dtype").deepCopy());
    }

    /** Mutations that JSON trees cannot express: duplicate names, invalid UTF-8, bad metadata, non-object headers. */
    private Mutant textual(ObjectNode h, String name, byte[] data) throws IOException {
        String text = JSON.writeValueAsString(h);
        String entry = "\"" + name + "\":" + JSON.writeValueAsString(h.get(name));
        switch (rnd.nextInt(5)) {
            case 0 -> {
                return new Mutant("duplicate name " + name, assemble(text.replace(entry, entry + "," + entry)
                        .getBytes(StandardCharsets.UTF_8), data));
            }
            case 1 -> {
                byte[] t = text.getBytes(StandardCharsets.UTF_8);
                int at = text.indexOf(name) + 1;
                t[at] = (byte) (0x80 + rnd.nextInt(0x40)); // a lone continuation byte
                return new Mutant("invalid UTF-8 in name " + name, assemble(t, data));
            }
            case 2 -> {
                Object v = new Object[] {1, "[]", "{\"k\":2}", "\"pt\""}[rnd.nextInt(4)];
                String m = text.replaceFirst("\\{\"__metadata__\":\\{[^}]*}", "{\"__metadata__\":" + v);
                return new Mutant("__metadata__ " + v, assemble(m.getBytes(StandardCharsets.UTF_8), data));
            }
            case 3 -> {
                return new Mutant("header is a list", assemble(("[" + text + "]").getBytes(StandardCharsets.UTF_8), data));
            }
            default -> {
                return new Mutant("trailing garbage after the header", assemble((text + "x").getBytes(StandardCharsets.UTF_8), data));
            }
        }
    }

    static byte[] assemble(byte[] header, byte[] data) {
        int padded = (header.length + 7) / 8 * 8;
        ByteBuffer b = ByteBuffer.allocate(8 + padded + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(padded).put(header);
        while (b.position() < 8 + padded) {
            b.put((byte) ' ');
        }
        return b.put(data).array();
    }

    /** One non-finite value (NaN, +Inf or -Inf) written over an element of a tensor's data. */
    Mutant nonFinite(byte[] file) throws IOException {
        long hl = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).getLong();
        JsonNode h = JSON.readTree(new String(file, 8, (int) hl, StandardCharsets.UTF_8));
        List<String> names = new ArrayList<>();
        h.fieldNames().forEachRemaining(n -> {
            if (!n.equals("__metadata__")) {
                names.add(n);
            }
        });
        String name = names.get(rnd.nextInt(names.size()));
        JsonNode e = h.get(name);
        long b = e.get("data_offsets").get(0).asLong(), en = e.get("data_offsets").get(1).asLong();
        int width = switch (e.get("dtype").asText()) { case "F32" -> 4; case "F64" -> 8; default -> 2; };
        int element = rnd.nextInt((int) ((en - b) / width));
        int kind = rnd.nextInt(3);
        float v = kind == 0 ? Float.NaN : kind == 1 ? Float.POSITIVE_INFINITY : Float.NEGATIVE_INFINITY;
        byte[] out = file.clone();
        ByteBuffer bb = ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
        int at = (int) (8 + hl + b) + element * width;
        switch (width) {
            case 4 -> bb.putFloat(at, v);
            case 8 -> bb.putDouble(at, v);
            default -> bb.putShort(at, (short) (Float.floatToRawIntBits(v) >>> 16)); // BF16; F16 inf/NaN below
        }
        if (width == 2 && e.get("dtype").asText().equals("F16")) {
            bb.putShort(at, (short) (kind == 0 ? 0x7e00 : kind == 1 ? 0x7c00 : 0xfc00));
        }
        return new Mutant(v + " at element " + element + " of " + name, out);
    }

    /** One mutation of config.json's text: a value replaced or removed, a key duplicated, the text cut. */
    Mutant config(String text) throws IOException {
        ObjectNode c = (ObjectNode) JSON.readTree(text);
        List<String> keys = new ArrayList<>();
        c.fieldNames().forEachRemaining(keys::add);
        String key = keys.get(rnd.nextInt(keys.size()));
        int kind = rnd.nextInt(10);
        if (kind == 0) {
            c.remove(key);
            return new Mutant("config: " + key + " removed", JSON.writeValueAsBytes(c));
        }
        if (kind == 1) {
            String t = JSON.writeValueAsString(c);
            return new Mutant("config: " + key + " given twice", t.replaceFirst("\\{", "{\"" + key + "\":"
                    + JSON.writeValueAsString(c.get(key)) + ",").getBytes(StandardCharsets.UTF_8));
        }
        if (kind == 2) {
            int cut = rnd.nextInt(text.length());
            return new Mutant("config: text cut at " + cut, text.substring(0, cut).getBytes(StandardCharsets.UTF_8));
        }
        Object v = BAD_VALUES[rnd.nextInt(BAD_VALUES.length)];
        c.set(key, JSON.valueToTree(v));
        return new Mutant("config: " + key + " = " + c.get(key), JSON.writeValueAsBytes(c));
    }

    /** One mutation of a shard index: a tensor moved, dropped or sent elsewhere, the map emptied or retyped. */
    Mutant index(String text, List<String> shardNames) throws IOException {
        ObjectNode root = (ObjectNode) JSON.readTree(text);
        ObjectNode map = (ObjectNode) root.get("weight_map");
        List<String> tensors = new ArrayList<>();
        map.fieldNames().forEachRemaining(tensors::add);
        String t = tensors.get(rnd.nextInt(tensors.size()));
        String what;
        switch (rnd.nextInt(8)) {
            case 0 -> { map.remove(t); what = "tensor " + t + " dropped from the weight_map"; }
            case 1 -> {
                String other = shardNames.get(rnd.nextInt(shardNames.size()));
                map.put(t, other);
                what = "tensor " + t + " sent to " + other;
            }
            case 2 -> { map.put(t, "model-99999-of-99999.safetensors"); what = "tensor " + t + " sent to a missing shard"; }
            case 3 -> { map.put(t, "../" + map.get(t).asText()); what = "tensor " + t + " sent outside the directory"; }
            case 4 -> { map.removeAll(); what = "empty weight_map"; }
            case 5 -> { root.put("weight_map", "x"); what = "weight_map a string"; }
            case 6 -> { map.put(t, 3); what = "tensor " + t + " mapped to a number"; }
            default -> { map.put("model.layers.99.mlp.up_proj.weight", map.get(t).asText()); what = "unknown tensor listed"; }
        }
        return new Mutant("index: " + what, JSON.writeValueAsBytes(root));
    }

    static List<String> fieldNames(JsonNode n) {
        List<String> out = new ArrayList<>();
        for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
            out.add(it.next());
        }
        return out;
    }
}
