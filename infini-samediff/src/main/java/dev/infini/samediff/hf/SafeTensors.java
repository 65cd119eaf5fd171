package dev.infini.samediff.hf;

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
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header mapping each tensor name
 * to {@code dtype}, {@code shape} and {@code data_offsets} (relative to the end of the header), then the
 * raw little-endian data. Tensors are read by memory-mapping the file and converted chunk by chunk into
 * off-heap float32 arrays, never copied whole through the Java heap.
 */
public final class SafeTensors {
    private static final ObjectMapper JSON = new ObjectMapper();
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

        private Reader(Path file, FileChannel channel, Map<String, TensorInfo> tensors, Map<String, String> metadata) {
            this.file = file;
            this.channel = channel;
            this.tensors = tensors;
            this.metadata = metadata;
        }

        public Path file() { return file; }
        /** Header entries in file order. */
        public Map<String, TensorInfo> tensors() { return Collections.unmodifiableMap(tensors); }
        public Map<String, String> metadata() { return Collections.unmodifiableMap(metadata); }

        /** The tensor as a new float32 array (converted from F16/BF16/F64), read through a memory map. */
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
                dst.position(done).put(chunk, 0, len);
                done += len;
            }
            dst.position(0);
            return out;
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }

    /**
     * Opens a file and checks its header: the header length against the file size, every dtype,
     * every shape against its byte count, every data range against the data section.
     */
    public static Reader open(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new SafeTensorsException("safetensors file not found: " + file);
        }
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
                        + size + " bytes): truncated or not a safetensors file");
            }
            ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
            readFully(ch, hb, 8);
            JsonNode header;
            try {
                header = JSON.readTree(new String(hb.array(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new SafeTensorsException(file + ": header is not valid JSON: " + e.getMessage());
            }
            if (header == null || !header.isObject()) {
                throw new SafeTensorsException(file + ": header is not a JSON object");
            }
            long dataStart = 8 + headerLen;
            long dataLen = size - dataStart;
            Map<String, TensorInfo> tensors = new LinkedHashMap<>();
            Map<String, String> metadata = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String name = e.getKey();
                JsonNode v = e.getValue();
                if (name.equals("__metadata__")) {
                    v.fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
                    continue;
                }
                tensors.put(name, parseEntry(file, name, v, dataStart, dataLen));
            }
            return new Reader(file, ch, tensors, metadata);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    private static TensorInfo parseEntry(Path file, String name, JsonNode v, long dataStart, long dataLen)
            throws SafeTensorsException {
        String where = file + ": tensor " + name;
        if (!v.isObject() || !v.has("dtype") || !v.has("shape") || !v.has("data_offsets")) {
            throw new SafeTensorsException(where + ": header entry needs dtype, shape and data_offsets, got " + v);
        }
        String dt = v.get("dtype").asText();
        Dtype dtype;
        try {
            dtype = Dtype.valueOf(dt);
        } catch (IllegalArgumentException ex) {
            throw new SafeTensorsException(where + ": unknown dtype '" + dt + "' (supported: F32, F16, BF16, F64)");
        }
        JsonNode shapeNode = v.get("shape");
        long[] shape = new long[shapeNode.size()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = shapeNode.get(i).asLong(-1);
            if (shape[i] < 0) {
                throw new SafeTensorsException(where + ": bad shape " + shapeNode);
            }
        }
        JsonNode off = v.get("data_offsets");
        if (off.size() != 2) {
            throw new SafeTensorsException(where + ": data_offsets must be [begin, end], got " + off);
        }
        long b = off.get(0).asLong(), en = off.get(1).asLong();
        long numel = 1;
        for (long s : shape) {
            numel *= s;
        }
        if (b < 0 || en < b) {
            throw new SafeTensorsException(where + ": bad data_offsets " + off);
        }
        if (en - b != numel * dtype.bytes()) {
            throw new SafeTensorsException(where + ": shape " + Arrays.toString(shape) + " of " + dtype + " needs "
                    + numel * dtype.bytes() + " bytes but data_offsets " + off + " hold " + (en - b));
        }
        if (en > dataLen) {
            throw new SafeTensorsException(where + ": data ends at byte " + en + " of the data section but the file holds only "
                    + dataLen + " bytes of data: file truncated");
        }
        return new TensorInfo(name, dtype, shape, dataStart + b, dataStart + en);
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
