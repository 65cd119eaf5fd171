package dev.infini.samediff;

import org.bytedeco.javacpp.Pointer;
import org.nd4j.linalg.api.buffer.DataType;

import java.lang.management.ManagementFactory;
import java.lang.management.OperatingSystemMXBean;
import java.util.Locale;

/**
 * The bytes a model shape needs (its parameters, plus the activations of one segment) checked against what this
 * machine has, before anything is allocated: a shape that cannot fit is refused with the estimate instead of an
 * {@code OutOfMemoryError} or an integer overflow half-way through. All arithmetic is in double (no overflow).
 *
 * <p>The estimate is a lower bound: parameters in the compute type, and for one segment of one sequence the
 * residual stream, projections and MLP, the attention scores of every head ({@code S^2}), the logits, the memory
 * {@code M, z} of every layer and a decode cache of one segment. The budget is the machine's physical memory, or
 * ND4J's off-heap limit ({@code -Dorg.bytedeco.javacpp.maxbytes}, which defaults to the Java heap's maximum) when
 * that is set and smaller. {@code -D}{@value #SKIP_PROPERTY}{@code =true} skips the check.
 */
public record MemoryEstimate(double parameterBytes, double activationBytes) {
    /** System property that turns the check off. */
    public static final String SKIP_PROPERTY = "infini.skipMemoryCheck";

    /** The estimate for {@code config} computed in {@code dtype}, {@code batch} sequences of one segment. */
    public static MemoryEstimate of(InfiniConfig c, DataType dtype, int batch) {
        double w = dtype.width();
        double d = c.hiddenSize(), inter = c.intermediateSize(), v = c.vocabSize(), layers = c.numLayers();
        double h = c.numHeads(), kv = c.numKvHeads(), hd = c.headDim(), s = c.segmentSize(), b = batch;
        double attn = d * h * hd * 2 + 2 * d * kv * hd + h;
        double params = v * d * (c.tieWordEmbeddings() ? 1 : 2) + layers * (attn + 3 * d * inter + 2 * d) + d;
        double perToken = 4 * d + 2 * h * hd + 2 * kv * hd + 3 * inter + 2 * v;
        double activations = b * s * perToken + 2 * b * h * s * s
                + layers * b * kv * (hd * hd + hd) + 2 * layers * kv * s * hd;
        return new MemoryEstimate(params * w, activations * w);
    }

    public double totalBytes() {
        return parameterBytes + activationBytes;
    }

    /**
     * Refuses {@code config} when its estimate exceeds {@link #budgetBytes}; {@code what} names the input (a file,
     * the options) in the message.
     */
    public static void check(InfiniConfig config, DataType dtype, int batch, String what) {
        if (Boolean.getBoolean(SKIP_PROPERTY)) {
            return;
        }
        MemoryEstimate e = of(config, dtype, batch);
        double budget = budgetBytes();
        if (e.totalBytes() > budget) {
            throw new InfiniConfigException("memory", String.format(Locale.ROOT, "%s: the model %s needs at least %s "
                    + "(%s of %s parameters + %s of activations for one segment of %d tokens) but this machine has %s "
                    + "(%s); use a smaller shape or segment_size (-D%s=true skips this check)", what, config,
                    human(e.totalBytes()), human(e.parameterBytes()), dtype.name().toLowerCase(Locale.ROOT),
                    human(e.activationBytes()), config.segmentSize(), human(budget), budgetSource(), SKIP_PROPERTY));
        }
    }

    /** The smaller of physical memory and ND4J's off-heap limit (when set). */
    public static double budgetBytes() {
        double budget = physicalBytes();
        long max = Pointer.maxBytes();
        return max > 0 ? Math.min(budget, max) : budget;
    }

    private static String budgetSource() {
        long max = Pointer.maxBytes();
        String phys = "physical memory " + human(physicalBytes());
        return max > 0 ? phys + ", off-heap limit " + human(max) + " (-Dorg.bytedeco.javacpp.maxbytes, Java heap max "
                + human(Runtime.getRuntime().maxMemory()) + ")" : phys + ", no off-heap limit";
    }

    /** Total physical memory, or Pointer's idea of it, or infinity when nothing says. */
    static double physicalBytes() {
        OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean sun && sun.getTotalMemorySize() > 0) {
            return sun.getTotalMemorySize();
        }
        long p = Pointer.totalPhysicalBytes();
        return p > 0 ? p : Double.POSITIVE_INFINITY;
    }

    /** Bytes in B, KB, MB, GB, TB or PB with three significant digits. */
    public static String human(double bytes) {
        String[] units = {"B", "KB", "MB", "GB", "TB", "PB", "EB"};
        int u = 0;
        while (bytes >= 1024 && u < units.length - 1) {
            bytes /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, u == 0 ? "%.0f %s" : "%.3g %s", bytes, units[u]);
    }
}
