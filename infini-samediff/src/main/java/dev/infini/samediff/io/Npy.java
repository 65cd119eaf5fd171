package dev.infini.samediff.io;

import org.bytedeco.javacpp.FloatPointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** NumPy {@code .npy} files (format versions 1-3, C order, little-endian): the arrays tools exchange. */
public final class Npy {
    /** Largest file {@link #read} loads (it reads the whole file into one array). */
    static final long MAX_FILE = Integer.MAX_VALUE - 64;
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([^']*)'");
    private static final Pattern FORTRAN = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");

    private Npy() {
    }

    /** A parsed {@code .npy}: its element type code (e.g. {@code <i8}), shape and raw data. */
    public record Array(String descr, long[] shape, ByteBuffer data) {
        public long length() {
            long n = 1;
            for (long s : shape) {
                n *= s;
            }
            return n;
        }

        public boolean isInteger() {
            return descr.length() >= 2 && (descr.charAt(1) == 'i' || descr.charAt(1) == 'u');
        }
    }

    /** Reads a {@code .npy}; a file that is not one is an {@link IOException} naming the file and the problem. */
    public static Array read(Path file) throws IOException {
        dev.infini.samediff.hf.SafeTensors.requireRegularFile(file, ".npy file");
        long size = Files.size(file);
        if (size > MAX_FILE) {
            throw new IOException(file + ": " + size + " bytes is larger than the " + MAX_FILE + " bytes a .npy read here may hold");
        }
        byte[] all = Files.readAllBytes(file);
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        if (all.length < 10) {
            throw new IOException(file + ": not a .npy file (too short)");
        }
        for (int i = 0; i < MAGIC.length; i++) {
            if (all[i] != MAGIC[i]) {
                throw new IOException(file + ": not a .npy file (bad magic bytes)");
            }
        }
        int major = all[6];
        int headerLen;
        int start;
        if (major == 1) {
            headerLen = b.getShort(8) & 0xffff;
            start = 10;
        } else if (major == 2 || major == 3) {
            headerLen = b.getInt(8);
            start = 12;
        } else {
            throw new IOException(file + ": unsupported .npy format version " + major);
        }
        if (headerLen < 0 || start + (long) headerLen > all.length) {
            throw new IOException(file + ": .npy header runs past the end of the file");
        }
        String header = new String(all, start, headerLen, StandardCharsets.ISO_8859_1);
        if (!header.endsWith("\n")) {
            throw new IOException(file + ": malformed .npy header (it must end with a newline; header length wrong?)");
        }
        Matcher d = DESCR.matcher(header), f = FORTRAN.matcher(header), s = SHAPE.matcher(header);
        if (!d.find() || !f.find() || !s.find()) {
            throw new IOException(file + ": malformed .npy header: " + header.trim());
        }
        if (f.group(1).equals("True")) {
            throw new IOException(file + ": Fortran-order arrays are not supported; save with C order");
        }
        String descr = d.group(1);
        long[] sh = parseShape(file, s.group(1));
        int es = elementSize(file, descr);
        long n = 1;
        for (long x : sh) {
            n = x == 0 || n == 0 ? 0 : (n > Long.MAX_VALUE / x ? Long.MAX_VALUE / es : n * x);
        }
        int dataStart = start + headerLen;
        if ((all.length - dataStart) / es < n) {
            throw new IOException(file + ": holds " + (all.length - dataStart) + " bytes of data but shape "
                    + java.util.Arrays.toString(sh) + " of " + descr + " needs " + n * es + " (truncated?)");
        }
        ByteBuffer data = ByteBuffer.wrap(all, dataStart, (int) (n * es)).slice().order(ByteOrder.LITTLE_ENDIAN);
        return new Array(descr, sh, data);
    }

    /** The shape tuple's text, e.g. {@code 3, 4} or {@code 5,}: non-negative integers only. */
    private static long[] parseShape(Path file, String text) throws IOException {
        String[] parts = text.split(",", -1);
        long[] shape = new long[parts.length];
        int rank = 0;
        for (int i = 0; i < parts.length; i++) {
            String p = parts[i].trim();
            if (p.isEmpty() && i == parts.length - 1) {
                continue; // the trailing comma of a 1-tuple
            }
            try {
                shape[rank] = Long.parseLong(p);
            } catch (NumberFormatException e) {
                throw new IOException(file + ": malformed .npy shape (" + text + "): '" + p + "' is not an integer");
            }
            if (shape[rank++] < 0) {
                throw new IOException(file + ": malformed .npy shape (" + text + "): negative dimension");
            }
        }
        return java.util.Arrays.copyOf(shape, rank);
    }

    private static int elementSize(Path file, String descr) throws IOException {
        switch (descr) {
            case "<i8": case "<u8": case "<f8": return 8;
            case "<i4": case "<u4": case "<f4": return 4;
            case "<i2": case "<u2": case "<f2": return 2;
            case "|i1": case "|u1": return 1;
            default: throw new IOException(file + ": unsupported .npy dtype '" + descr + "' (little-endian ints and floats only)");
        }
    }

    /** 1-D integer token ids as an int array; anything else is an error naming the file. */
    public static int[] readTokenIds(Path file) throws IOException {
        Array a = read(file);
        if (!a.isInteger()) {
            throw new IOException(file + ": token ids must be integers, got dtype " + a.descr());
        }
        if (a.shape().length != 1) {
            throw new IOException(file + ": token ids must be a 1-D array, got shape " + java.util.Arrays.toString(a.shape()));
        }
        int n = (int) a.length();
        int[] out = new int[n];
        ByteBuffer d = a.data();
        for (int i = 0; i < n; i++) {
            long v = switch (a.descr()) {
                case "<i8", "<u8" -> d.getLong(i * 8);
                case "<i4" -> d.getInt(i * 4);
                case "<u4" -> d.getInt(i * 4) & 0xffffffffL;
                case "<i2" -> d.getShort(i * 2);
                case "<u2" -> d.getShort(i * 2) & 0xffff;
                case "|i1" -> d.get(i);
                default -> d.get(i) & 0xff;
            };
            if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
                throw new IOException(file + ": token id " + v + " at index " + i + " does not fit in int32");
            }
            out[i] = (int) v;
        }
        return out;
    }

    /** The array as an ND4J array of float64 (any numeric dtype). */
    public static INDArray toINDArray(Array a) {
        int n = (int) a.length();
        double[] v = new double[n];
        ByteBuffer d = a.data();
        for (int i = 0; i < n; i++) {
            v[i] = switch (a.descr()) {
                case "<f8" -> d.getDouble(i * 8);
                case "<f4" -> d.getFloat(i * 4);
                case "<i8" -> d.getLong(i * 8);
                case "<i4" -> d.getInt(i * 4);
                default -> throw new IllegalArgumentException("unsupported dtype " + a.descr());
            };
        }
        return Nd4j.create(v, a.shape().length == 0 ? new long[0] : a.shape(), DataType.DOUBLE);
    }

    /** Writes a float32 {@code .npy} (version 1, C order), atomically. */
    public static void writeFloat32(Path file, INDArray arr) throws IOException {
        INDArray src = arr.dataType() == DataType.FLOAT && !arr.isView() && arr.ordering() == 'c'
                ? arr : arr.castTo(DataType.FLOAT).dup('c');
        write(file, "<f4", src.shape(), (ch) -> {
            FloatPointer p = new FloatPointer(src.data().addressPointer());
            int chunk = 1 << 20;
            float[] buf = new float[chunk];
            ByteBuffer bb = ByteBuffer.allocate(chunk * 4).order(ByteOrder.LITTLE_ENDIAN);
            long n = src.length();
            for (long done = 0; done < n; ) {
                int len = (int) Math.min(chunk, n - done);
                p.position(done).get(buf, 0, len);
                bb.clear();
                bb.asFloatBuffer().put(buf, 0, len);
                bb.limit(len * 4);
                while (bb.hasRemaining()) {
                    ch.write(bb);
                }
                done += len;
            }
        });
    }

    /** Writes 1-D int64 token ids. */
    public static void writeInt64(Path file, int[] ids) throws IOException {
        write(file, "<i8", new long[] {ids.length}, (ch) -> {
            ByteBuffer bb = ByteBuffer.allocate(ids.length * 8).order(ByteOrder.LITTLE_ENDIAN);
            for (int id : ids) {
                bb.putLong(id);
            }
            bb.flip();
            while (bb.hasRemaining()) {
                ch.write(bb);
            }
        });
    }

    /**
     * Writes 1-D int64 token ids one at a time, holding none of them: a fixed 128-byte header whose shape is
     * filled in on {@link #close}, then the ids; the file appears (atomically) only when closed.
     */
    public static final class Int64Writer implements AutoCloseable {
        private static final int HEADER = 128;
        private final Path file;
        private final Path tmp;
        private final FileChannel ch;
        private final ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        private long count;

        public Int64Writer(Path file) throws IOException {
            this.file = file;
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            this.tmp = file.resolveSibling(file.getFileName() + ".tmp");
            this.ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING);
            ch.position(HEADER);
        }

        public void add(long id) throws IOException {
            if (!buf.hasRemaining()) {
                drain();
            }
            buf.putLong(id);
            count++;
        }

        private void drain() throws IOException {
            buf.flip();
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            buf.clear();
        }

        @Override
        public void close() throws IOException {
            try (ch) {
                drain();
                String dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (" + count + ",), }";
                String header = dict + " ".repeat(HEADER - 10 - dict.length() - 1) + "\n";
                ByteBuffer head = ByteBuffer.allocate(HEADER).order(ByteOrder.LITTLE_ENDIAN);
                head.put(MAGIC).put((byte) 1).put((byte) 0).putShort((short) header.length())
                        .put(header.getBytes(StandardCharsets.ISO_8859_1)).flip();
                ch.write(head, 0);
            }
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        }
    }

    private interface Body {
        void write(FileChannel ch) throws IOException;
    }

    private static void write(Path file, String descr, long[] shape, Body body) throws IOException {
        StringBuilder sh = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) {
            sh.append(shape[i]).append(shape.length == 1 ? "," : (i + 1 < shape.length ? ", " : ""));
        }
        sh.append(")");
        String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + sh + ", }";
        int total = MAGIC.length + 4 + dict.length() + 1;
        int pad = (64 - total % 64) % 64;
        String header = dict + " ".repeat(pad) + "\n";
        ByteBuffer head = ByteBuffer.allocate(10 + header.length()).order(ByteOrder.LITTLE_ENDIAN);
        head.put(MAGIC).put((byte) 1).put((byte) 0).putShort((short) header.length())
                .put(header.getBytes(StandardCharsets.ISO_8859_1)).flip();
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            while (head.hasRemaining()) {
                ch.write(head);
            }
            body.write(ch);
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
