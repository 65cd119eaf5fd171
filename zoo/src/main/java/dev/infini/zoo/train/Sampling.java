package dev.infini.zoo.train;

import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryState;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.Random;

/**
 * Sampling a continuation for the training summary: segments of the prompt are written into memory;
 * the current segment is recomputed per token (padded to the segment length, so one graph serves every
 * step) and reads the memory of all earlier segments.
 */
final class Sampling {
    private Sampling() {
    }

    static int[] generate(InfiniModel model, int[] prompt, int maxNew, double temperature, int topK, long seed, int eos) {
        int s = model.config().segmentSize();
        Random rnd = new Random(seed);
        MemoryState mem = model.zeroMemory(1);
        int[] seg = new int[s];
        int len = 0;
        int[] out = new int[maxNew];
        int produced = 0;
        int[] all = Arrays.copyOf(prompt, prompt.length + maxNew);
        int total = prompt.length;
        int consumed = 0;
        while (produced < maxNew) {
            // Fill the segment buffer with pending tokens; write full segments into memory.
            while (consumed < total && len < s) {
                seg[len++] = all[consumed++];
            }
            INDArray ids = Nd4j.createFromArray(seg).reshape(1, s);
            INDArray mask = Nd4j.zeros(DataType.FLOAT, 1, s);
            mask.get(org.nd4j.linalg.indexing.NDArrayIndex.point(0), org.nd4j.linalg.indexing.NDArrayIndex.interval(0, len)).assign(1);
            InfiniModel.SegmentOutput r = model.forwardSegment(ids, mask, mem);
            if (len == s && consumed < total) {
                mem = r.memory();
                len = 0;
                continue;
            }
            float[] logits = r.logits().get(org.nd4j.linalg.indexing.NDArrayIndex.point(0),
                    org.nd4j.linalg.indexing.NDArrayIndex.point(len - 1), org.nd4j.linalg.indexing.NDArrayIndex.all()).toFloatVector();
            int next = pick(logits, temperature, topK, rnd);
            out[produced++] = next;
            if (next == eos) {
                break;
            }
            all[total++] = next;
            if (len == s) {
                mem = r.memory();
                len = 0;
            }
        }
        return Arrays.copyOf(out, produced);
    }

    private static int pick(float[] logits, double temperature, int topK, Random rnd) {
        Integer[] idx = new Integer[logits.length];
        for (int i = 0; i < idx.length; i++) {
            idx[i] = i;
        }
        Arrays.sort(idx, (a, b) -> Float.compare(logits[b], logits[a]));
        if (temperature <= 0) {
            return idx[0];
        }
        int k = Math.min(topK <= 0 ? logits.length : topK, logits.length);
        double[] p = new double[k];
        double sum = 0;
        for (int i = 0; i < k; i++) {
            p[i] = Math.exp((logits[idx[i]] - logits[idx[0]]) / temperature);
            sum += p[i];
        }
        double u = rnd.nextDouble() * sum;
        for (int i = 0; i < k; i++) {
            u -= p[i];
            if (u <= 0) {
                return idx[i];
            }
        }
        return idx[k - 1];
    }
}
