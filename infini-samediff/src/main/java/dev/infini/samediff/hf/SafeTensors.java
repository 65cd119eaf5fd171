package dev.infini.samediff.hf;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.javacpp.FloatPointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header mapping each tensor name
 * to {@code dtype}, {@code shape} and {@code data_offsets} (relative to the end of the header), then the
 * raw little-endian data. Tensors are read by memory-mapping the file and converted chunk by chunk into
 * off-heap float32 arrays, never copied whole through the Java heap.
 */
public final class SafeTensors {
    /** Duplicate names in a header are an error, as in the reference reader (Jackson keeps the last by default). */
    private static final ObjectMapper JSON = new ObjectMapper(JsonFactory.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build())
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    /** System property that lets NaN/Inf weights load (the CLI's {@code --allow-non-finite}). */
    public static final String ALLOW_NON_FINITE = "infini.allowNonFinite";
    private static final String METADATA = "__metadata__";
    /** Dtypes of the format this project does not read (named as unsupported rather than unknown). */
    private static final Set<String> KNOWN_UNREAD = Set.of("BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64",
            "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64");
    /** Elements converted per chunk (4 MB of floats on the heap at most). */
    private static final int CHUNK = 1 << 20;
    /** Largest header accepted (the format's own limit is 100 MB). */
    private static final long MAX_HEADER = 100L << 20;

    private SafeTensors() {
    }

    /** Element types this project reads; weights are computed in float32 whatever they are stored in. */
    public enum Dtype {
        F32(4), F16(2), BF16(2), F64(8);

        private final int bytes;

        Dtype(int bytes) {
            this.bytes = bytes;
        }

        public int bytes() {
            return bytes;
        }

        /** Parses a dtype name (F32, F16, BF16, F64, or float32/float16/bfloat16 as in torch_dtype). */
        public static Dtype parse(String s) {
            switch (s.toLowerCase(Locale.ROOT)) {
                case "f32": case "float32": case "float": return F32;
                case "f16": case "float16": case "half": return F16;
                case "bf16": case "bfloat16": return BF16;
                case "f64": case "float64": case "double": return F64;
                default: throw new IllegalArgumentException("unsupported dtype '" + s + "' (supported: F32, F16, BF16)");
            }
        }

        /** The {@code torch_dtype} value of config.json. */
        public String torchName() {
            return switch (this) {
                case F32 -> "float32";
                case F16 -> "float16";
                case BF16 -> "bfloat16";
                case F64 -> "float64";
            };
        }
    }

    /** One header entry; {@code begin}/{@code end} are absolute file offsets. */
    public record TensorInfo(String name, Dtype dtype, long[] shape, long begin, long end) {
        public long numel() {
            long n = 1;
            for (long s : shape) {
                n *= s;
            }
            return n;
        }
    }

    /** An open safetensors file: its header parsed and checked, its data read on demand. */
    public static final class Reader implements AutoCloseable {
        private final Path file;
        private final FileChannel channel;
        private final Map<String, TensorInfo> tensors;
        private final Map<String, String> metadata;
        private final boolean allowNonFinite;

        private Reader(Path file, FileChannel channel, Map<String, TensorInfo> tensors, Map<String, String> metadata,
                       boolean allowNonFinite) {
            this.file = file;
            this.channel = channel;
            this.tensors = tensors;
            this.metadata = metadata;
            this.allowNonFinite = allowNonFinite;
        }

        public Path file() { return file; }
        /** Header entries in file order. */
        public Map<String, TensorInfo> tensors() { return Collections.unmodifiableMap(tensors); }
        public Map<String, String> metadata() { return Collections.unmodifiableMap(metadata); }

        /**
         * The tensor as a new float32 array (converted from F16/BF16/F64), read through a memory map. A NaN or
         * infinite value is an error naming the tensor and the element, unless the reader allows them.
         */
        public INDArray readFloat(String name) throws IOException {
            TensorInfo t = tensors.get(name);
            if (t == null) {
                throw new SafeTensorsException(file + ": no tensor named " + name);
            }
            long n = t.numel();
            INDArray out = Nd4j.createUninitialized(DataType.FLOAT, t.shape().length == 0 ? new long[0] : t.shape());
            FloatPointer dst = new FloatPointer(out.data().addressPointer());
            float[] chunk = new float[(int) Math.min(CHUNK, Math.max(1, n))];
            int eb = t.dtype().bytes();
            for (long done = 0; done < n; ) {
                int len = (int) Math.min(chunk.length, n - done);
                MappedByteBuffer map = channel.map(FileChannel.MapMode.READ_ONLY, t.begin() + done * eb, (long) len * eb);
                map.order(ByteOrder.LITTLE_ENDIAN);
                decode(t.dtype(), map, chunk, len);
                if (!allowNonFinite) {
                    checkFinite(t, chunk, len, done);
                }
                dst.position(done).put(chunk, 0, len);
                done += len;
            }
            dst.position(0);
            return out;
        }

        private void checkFinite(TensorInfo t, float[] chunk, int len, long offset) throws SafeTensorsException {
            for (int i = 0; i < len; i++) {
                if (!Float.isFinite(chunk[i])) {
                    throw new SafeTensorsException(file + ": tensor " + t.name() + " holds a non-finite value (" + chunk[i]
                            + " at element " + (offset + i) + " of " + t.numel() + "); corrupt or diverged weights"
                            + " (--allow-non-finite or -D" + ALLOW_NON_FINITE + "=true loads them anyway)");
                }
            }
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }

    /**
     * Opens a file and checks it as strictly as the format's reference reader: the header length against the file
     * size, the header as UTF-8 JSON without duplicate names, every dtype, shape and offset as integers, every
     * shape against its byte count, and the data ranges laid end to end from the start of the data section to the
     * end of the file (no gap, no overlap, nothing after the last tensor).
     */
    public static Reader open(Path file) throws IOException {
        return open(file, allowNonFiniteByDefault());
    }

    /** As {@link #open(Path)}; {@code allowNonFinite} lets {@link Reader#readFloat} return NaN/Inf values. */
    public static Reader open(Path file, boolean allowNonFinite) throws IOException {
        requireRegularFile(file, "safetensors file");
        FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
        try {
            long size = ch.size();
            if (size < 8) {
                throw new SafeTensorsException(file + ": file is " + size + " bytes, too short for a safetensors header (truncated?)");
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long headerLen = lenBuf.flip().getLong();
            if (headerLen < 2 || headerLen > MAX_HEADER || headerLen > size - 8) {
                throw new SafeTensorsException(file + ": header length " + headerLen + " runs past the end of the file ("
                        + size + " bytes) or outside [2, " + MAX_HEADER + "]: truncated or not a safetensors file");
            }
            ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
            readFully(ch, hb, 8);
            JsonNode header = parseHeader(file, hb.array());
            long dataStart = 8 + headerLen;
            Map<String, String> metadata = new LinkedHashMap<>();
            Map<String, TensorInfo> tensors = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (e.getKey().equals(METADATA)) {
                    parseMetadata(file, e.getValue(), metadata);
                } else {
                    tensors.put(e.getKey(), parseEntry(file, e.getKey(), e.getValue(), dataStart));
                }
            }
            checkLayout(file, tensors, dataStart, size);
            return new Reader(file, ch, tensors, metadata, allowNonFinite);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    /** Whether NaN/Inf weights are accepted when no option says: the system property {@value #ALLOW_NON_FINITE}. */
    public static boolean allowNonFiniteByDefault() {
        return Boolean.getBoolean(ALLOW_NON_FINITE);
    }

    /**
     * Fails unless {@code file} is a regular file (after following links), saying what it is instead: missing, a
     * directory, a FIFO or device, or a link that cannot be resolved. Checked before opening, so a FIFO never blocks.
     */
    public static void requireRegularFile(Path file, String what) throws IOException {
        BasicFileAttributes attrs;
        try {
            attrs = Files.readAttributes(file, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            boolean danglingLink = Files.isSymbolicLink(file);
            throw new SafeTensorsException(what + " not found: " + file
                    + (danglingLink ? " (a symbolic link to a missing target)" : ""));
        } catch (FileSystemException e) {
            String reason = e.getReason() == null ? e.getClass().getSimpleName() : e.getReason();
            throw new SafeTensorsException(what + " " + file + " cannot be read: " + reason
                    + (Files.isSymbolicLink(file) ? " (a symbolic link that does not resolve, e.g. a loop)" : ""));
        }
        if (attrs.isDirectory()) {
            throw new SafeTensorsException(what + " " + file + " is a directory, not a file");
        }
        if (!attrs.isRegularFile()) {
            throw new SafeTensorsException(what + " " + file + " is not a regular file (a FIFO, socket or device)");
        }
    }

    /** The header bytes as a JSON object: valid UTF-8, valid JSON, no duplicate names, nothing after the object. */
    private static JsonNode parseHeader(Path file, byte[] bytes) throws SafeTensorsException {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new SafeTensorsException(file + ": header is not valid UTF-8 (" + e + ")");
        }
        if (!text.startsWith("{")) {
            throw new SafeTensorsException(file + ": header does not start with '{' (not a safetensors file?)");
        }
        JsonNode header;
        try {
            header = JSON.readTree(text);
        } catch (IOException e) {
            throw new SafeTensorsException(file + ": header is not valid JSON: " + oneLine(e));
        }
        if (header == null || !header.isObject()) {
            throw new SafeTensorsException(file + ": header is not a JSON object");
        }
        return header;
    }

    private static String oneLine(IOException e) {
        String m = e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
        return String.valueOf(m).replace('\n', ' ');
    }

    private static void parseMetadata(Path file, JsonNode v, Map<String, String> out) throws SafeTensorsException {
        if (!v.isObject()) {
            throw new SafeTensorsException(file + ": " + METADATA + " must be a map of strings, got " + abbreviate(v));
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> m = it.next();
            if (!m.getValue().isTextual()) {
                throw new SafeTensorsException(file + ": " + METADATA + " value of '" + m.getKey()
                        + "' must be a string, got " + abbreviate(m.getValue()));
            }
            out.put(m.getKey(), m.getValue().textValue());
        }
    }

    private static String abbreviate(JsonNode v) {
        String s = String.valueOf(v);
        return s.length() > 80 ? s.substring(0, 77) + "..." : s;
    }

    /** One entry: known dtype, integer shape and offsets, begin <= end, byte count = product(shape) x dtype size. */
    private static TensorInfo parseEntry(Path file, String name, JsonNode v, long dataStart) throws SafeTensorsException {
        String where = file + ": tensor " + name;
        if (!v.isObject() || !v.has("dtype") || !v.has("shape") || !v.has("data_offsets")) {
            throw new SafeTensorsException(where + ": header entry needs dtype, shape and data_offsets, got " + abbreviate(v));
        }
        Dtype dtype = parseDtype(where, v.get("dtype"));
        JsonNode shapeNode = v.get("shape");
        if (!shapeNode.isArray()) {
            throw new SafeTensorsException(where + ": shape must be a list of integers, got " + abbreviate(shapeNode));
        }
        long[] shape = new long[shapeNode.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = integer(where, "shape", shapeNode, shapeNode.get(i));
            numel = multiply(where, numel, shape[i]);
        }
        JsonNode off = v.get("data_offsets");
        if (!off.isArray() || off.size() != 2) {
            throw new SafeTensorsException(where + ": data_offsets must be [begin, end], got " + abbreviate(off));
        }
        long b = integer(where, "data_offsets", off, off.get(0)), en = integer(where, "data_offsets", off, off.get(1));
        if (en < b) {
            throw new SafeTensorsException(where + ": data_offsets " + off + " end before they begin");
        }
        long bytes = multiply(where, numel, dtype.bytes());
        if (en - b != bytes) {
            throw new SafeTensorsException(where + ": shape " + Arrays.toString(shape) + " of " + dtype + " needs "
                    + bytes + " bytes but data_offsets " + off + " hold " + (en - b));
        }
        if (en > Long.MAX_VALUE - dataStart) {
            throw new SafeTensorsException(where + ": data_offsets " + off + " are out of range");
        }
        return new TensorInfo(name, dtype, shape, dataStart + b, dataStart + en);
    }

    private static Dtype parseDtype(String where, JsonNode n) throws SafeTensorsException {
        String dt = n.isTextual() ? n.textValue() : String.valueOf(n);
        try {
            return Dtype.valueOf(dt);
        } catch (IllegalArgumentException ex) {
            String kind = n.isTextual() && KNOWN_UNREAD.contains(dt) ? "unsupported" : "unknown";
            throw new SafeTensorsException(where + ": " + kind + " dtype '" + dt + "' (supported: F32, F16, BF16, F64)");
        }
    }

    /** A non-negative JSON integer that fits a long (not a float, string or negative number). */
    private static long integer(String where, String key, JsonNode list, JsonNode n) throws SafeTensorsException {
        if (n == null || !n.isIntegralNumber() || !n.canConvertToLong() || n.longValue() < 0) {
            throw new SafeTensorsException(where + ": " + key + " must hold non-negative integers, got " + abbreviate(list));
        }
        return n.longValue();
    }

    private static long multiply(String where, long a, long b) throws SafeTensorsException {
        try {
            return Math.multiplyExact(a, b);
        } catch (ArithmeticException e) {
            throw new SafeTensorsException(where + ": shape is too large (its byte count overflows 64 bits)");
        }
    }

    /**
     * The data ranges, in offset order, must tile the data section exactly: the first begins at 0, each begins
     * where the one before ended (no overlap, no gap), the last ends at the end of the file.
     */
    private static void checkLayout(Path file, Map<String, TensorInfo> tensors, long dataStart, long size)
            throws SafeTensorsException {
        List<TensorInfo> byOffset = new ArrayList<>(tensors.values());
        byOffset.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        long expected = dataStart;
        TensorInfo prev = null;
        for (TensorInfo t : byOffset) {
            if (t.begin() < expected) {
                throw new SafeTensorsException(file + ": tensor " + t.name() + " (data_offsets [" + (t.begin() - dataStart)
                        + ", " + (t.end() - dataStart) + "]) overlaps tensor " + prev.name() + " (ends at "
                        + (prev.end() - dataStart) + ")");
            }
            if (t.begin() > expected) {
                throw new SafeTensorsException(file + ": tensor " + t.name() + " begins at data offset "
                        + (t.begin() - dataStart) + " but " + (prev == null ? "the data section begins at 0"
                        : "tensor " + prev.name() + " ends at " + (expected - dataStart)) + ": a gap in the data section");
            }
            if (t.end() > size) {
                throw new SafeTensorsException(file + ": tensor " + t.name() + " data ends at byte " + (t.end() - dataStart)
                        + " of the data section but the file holds only " + (size - dataStart) + " bytes of data: file truncated");
            }
            expected = t.end();
            prev = t;
        }
        if (expected != size) {
            throw new SafeTensorsException(file + ": the data section holds " + (size - dataStart) + " bytes but the "
                    + "tensors cover " + (expected - dataStart) + " (header length wrong, or bytes after the last tensor)");
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
        while (buf.hasRemaining()) {
            int r = ch.read(buf, pos + buf.position());
            if (r < 0) {
                throw new SafeTensorsException("unexpected end of file");
            }
        }
    }

    private static void decode(Dtype dtype, ByteBuffer src, float[] dst, int len) {
        switch (dtype) {
            case F32 -> src.asFloatBuffer().get(dst, 0, len);
            case F64 -> {
                for (int i = 0; i < len; i++) {
                    dst[i] = (float) src.getDouble(i * 8);
                }
            }
            case BF16 -> {
                for (int i = 0; i < len; i++) {
                    dst[i] = Float.intBitsToFloat((src.getShort(i * 2) & 0xffff) << 16);
                }
            }
            case F16 -> {
                for (int i = 0; i < len; i++) {
                    dst[i] = halfToFloat(src.getShort(i * 2));
                }
            }
        }
    }

    private static void encode(Dtype dtype, float[] src, int len, ByteBuffer dst) {
        for (int i = 0; i < len; i++) {
            switch (dtype) {
                case F32 -> dst.putFloat(src[i]);
                case F64 -> dst.putDouble(src[i]);
                case BF16 -> dst.putShort(floatToBf16(src[i]));
                case F16 -> dst.putShort(floatToHalf(src[i]));
            }
        }
    }

    /** IEEE 754 half to float. */
    static float halfToFloat(short h) {
        int bits = h & 0xffff;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1f;
        int mant = bits & 0x3ff;
        if (exp == 0) {
            if (mant == 0) {
                return Float.intBitsToFloat(sign);
            }
            float v = mant / 1024f * (float) Math.pow(2, -14); // subnormal
            return sign != 0 ? -v : v;
        }
        if (exp == 31) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }

    /** Float to IEEE 754 half, round to nearest even. */
    static short floatToHalf(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        if (Float.isNaN(f)) {
            return (short) (sign | 0x7e00);
        }
        float a = Math.abs(f);
        if (a >= 65520f) {
            return (short) (sign | 0x7c00);
        }
        if (a < 6.103515625e-05f) { // subnormal half: multiples of 2^-24
            int m = Math.round(a * 16777216f); // Math.round is half-up; fix ties to even
            float exact = a * 16777216f;
            if (exact - Math.floor(exact) == 0.5 && (m & 1) == 1) {
                m--;
            }
            return (short) (sign | m);
        }
        int exp = ((bits >>> 23) & 0xff) - 127 + 15;
        int mant = bits & 0x7fffff;
        int half = (exp << 10) | (mant >>> 13);
        int rest = mant & 0x1fff;
        if (rest > 0x1000 || (rest == 0x1000 && (half & 1) == 1)) {
            half++;
        }
        return (short) (sign | half);
    }

    /** Float to bfloat16, round to nearest even. */
    static short floatToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        int lsb = (bits >>> 16) & 1;
        return (short) ((bits + 0x7fff + lsb) >>> 16);
    }

    /**
     * Writes tensors to {@code file} in {@code dtype}, atomically (a temporary file moved into place):
     * a crash leaves either the old file or the new one.
     */
    public static void write(Path file, Map<String, INDArray> tensors, Dtype dtype, Map<String, String> metadata)
            throws IOException {
        ObjectNode header = JSON.createObjectNode();
        ObjectNode meta = header.putObject("__metadata__");
        meta.put("format", "pt");
        if (metadata != null) {
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (Map.Entry<String, INDArray> e : tensors.entrySet()) {
            long bytes = e.getValue().length() * dtype.bytes();
            ObjectNode t = header.putObject(e.getKey());
            t.put("dtype", dtype.name());
            var shape = t.putArray("shape");
            for (long s : e.getValue().shape()) {
                shape.add(s);
            }
            t.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
        }
        byte[] hj = JSON.writeValueAsBytes(header);
        int padded = (hj.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(hj);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        head.flip();
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            writeFully(ch, head);
            float[] chunk = new float[CHUNK];
            ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK * dtype.bytes()).order(ByteOrder.LITTLE_ENDIAN);
            for (INDArray arr : tensors.values()) {
                INDArray src = arr.dataType() == DataType.FLOAT && !arr.isView() && arr.ordering() == 'c'
                        ? arr : arr.castTo(DataType.FLOAT).dup('c');
                FloatPointer p = new FloatPointer(src.data().addressPointer());
                long n = src.length();
                for (long done = 0; done < n; ) {
                    int len = (int) Math.min(CHUNK, n - done);
                    p.position(done).get(chunk, 0, len);
                    buf.clear();
                    encode(dtype, chunk, len, buf);
                    buf.flip();
                    writeFully(ch, buf);
                    done += len;
                }
            }
            ch.force(true);
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
    }
}
