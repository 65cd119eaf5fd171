package dev.infini.samediff.fuzz;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Malformed {@code .npy} token files, and an independent strict reader of the one layout a 1-D integer array
 * has, to tell a correct read of a still-valid mutant from a wrong one.
 */
final class NpyMutations {
    private static final Pattern HEADER = Pattern.compile(
            "\\{'descr': '(<i8|<i4|<i2|\\|i1|<u8|<u4|<u2|\\|u1)', 'fortran_order': False, 'shape': \\((\\d+),\\), } *\n");
    private static final String[] DESCRS = {"<f4", "<i4", ">i8", "|b1", "<c8", "<i8", "'"};

    private NpyMutations() {
    }

    static Mutator.Mutant mutate(Random rnd, byte[] file) {
        byte[] out = file.clone();
        String header = new String(file, 10, ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).getShort(8),
                StandardCharsets.ISO_8859_1);
        switch (rnd.nextInt(6)) {
            case 0 -> {
                int cut = rnd.nextInt(file.length);
                return new Mutator.Mutant("truncated to " + cut, Arrays.copyOf(file, cut));
            }
            case 1 -> {
                int at = rnd.nextInt(10 + header.length());
                out[at] = (byte) rnd.nextInt(256);
                return new Mutator.Mutant("header byte " + at + " flipped", out);
            }
            case 2 -> {
                short v = (short) new int[] {0, 1, 0x7fff, 0xffff, header.length() + 1, header.length() - 1}[rnd.nextInt(6)];
                ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putShort(8, v);
                return new Mutator.Mutant("header length " + (v & 0xffff), out);
            }
            case 3 -> {
                out[6] = (byte) rnd.nextInt(5);
                return new Mutator.Mutant("version " + out[6], out);
            }
            case 4 -> {
                String shape = new String[] {"(-3,)", "(abc,)", "(40, 2)", "(99999999999999999999,)", "(1,)", "()",
                        "(2147483648,)", "(0,)"}[rnd.nextInt(8)];
                return new Mutator.Mutant("shape " + shape, replace(file, header, header.replace("(40,)", shape)));
            }
            default -> {
                String d = DESCRS[rnd.nextInt(DESCRS.length)];
                return new Mutator.Mutant("descr " + d, replace(file, header, header.replace("'<i8'", "'" + d + "'")));
            }
        }
    }

    /** The file with its header text replaced (the header length updated, the data kept). */
    private static byte[] replace(byte[] file, String header, String now) {
        byte[] h = now.getBytes(StandardCharsets.ISO_8859_1);
        ByteBuffer b = ByteBuffer.allocate(file.length - header.length() + h.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(file, 0, 8).putShort((short) h.length).put(h).put(file, 10 + header.length(), file.length - 10 - header.length());
        return b.array();
    }

    /** A read is correct if it gives the original ids, or exactly what the strict reader reads from the mutant. */
    static boolean correct(byte[] mutant, int[] original, int[] read) {
        return Arrays.equals(read, original) || Arrays.equals(read, strictRead(mutant));
    }

    private static int[] strictRead(byte[] f) {
        if (f.length < 10 || f[0] != (byte) 0x93 || !new String(f, 1, 5, StandardCharsets.ISO_8859_1).equals("NUMPY")
                || f[6] != 1) {
            return null;
        }
        int hl = ByteBuffer.wrap(f).order(ByteOrder.LITTLE_ENDIAN).getShort(8) & 0xffff;
        if (10 + hl > f.length) {
            return null;
        }
        Matcher m = HEADER.matcher(new String(f, 10, hl, StandardCharsets.ISO_8859_1));
        if (!m.matches()) {
            return null;
        }
        int es = m.group(1).endsWith("8") ? 8 : m.group(1).endsWith("4") ? 4 : m.group(1).endsWith("2") ? 2 : 1;
        long n = Long.parseLong(m.group(2));
        if (f.length - 10 - hl < n * es) {
            return null;
        }
        ByteBuffer d = ByteBuffer.wrap(f, 10 + hl, (int) (n * es)).slice().order(ByteOrder.LITTLE_ENDIAN);
        int[] out = new int[(int) n];
        for (int i = 0; i < n; i++) {
            long v = es == 8 ? d.getLong() : es == 4 ? d.getInt() : es == 2 ? d.getShort() : d.get();
            if (m.group(1).startsWith("<u") || m.group(1).equals("|u1")) {
                v = es == 4 ? v & 0xffffffffL : es == 2 ? v & 0xffff : es == 1 ? v & 0xff : v;
            }
            out[i] = (int) v;
        }
        return out;
    }
}
