package dev.infini.zoo.dl4j;

import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.ModelFamily;
import dev.infini.zoo.dl4j.InfiniGraph;
import org.bytedeco.javacpp.Pointer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

/**
 * Peak memory of one training step of the graph form with 2 and 16 segments per block, with and without
 * per-segment gradient checkpointing. Reports figures, asserts nothing. Run:
 * {@code mvn -pl zoo -am verify -Dtest=GraphMemoryBench -Dsurefire.failIfNoSpecifiedTests=false}.
 * "off-heap" is JavaCPP's count of live native bytes (ND4J buffers), sampled every millisecond;
 * "RSS" is the process's resident set, sampled the same way (it rarely shrinks, so runs go from small
 * to large and each figure is the growth over the run before).
 */
class GraphMemoryBench {
    static final int SEG = 64, BATCH = 2;

    static InfiniConfig config() {
        return InfiniConfig.builder(ModelFamily.LLAMA).vocabSize(260).hiddenSize(128).intermediateSize(256).numLayers(2)
                .numHeads(4).numKvHeads(2).headDim(32).segmentSize(SEG).bosTokenId(256).eosTokenId(257).padTokenId(258).build();
    }

    static DataSet batch(int t) {
        Random r = new Random(1);
        float[] ids = new float[BATCH * t], lab = new float[BATCH * t];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = r.nextInt(256);
            lab[i] = r.nextInt(256);
        }
        return new DataSet(Nd4j.create(ids, new long[] {BATCH, t}, 'c'), Nd4j.create(lab, new long[] {BATCH, t}, 'c'));
    }

    static long[] peak(Runnable step) throws InterruptedException {
        System.gc();
        Thread.sleep(200);
        long base = Pointer.totalBytes(), baseRss = Pointer.physicalBytes();
        long[] max = {base, baseRss};
        Thread sampler = new Thread(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                max[0] = Math.max(max[0], Pointer.totalBytes());
                max[1] = Math.max(max[1], Pointer.physicalBytes());
                try {
                    Thread.sleep(1);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        sampler.start();
        long t0 = System.nanoTime();
        step.run();
        long ms = (System.nanoTime() - t0) / 1_000_000;
        sampler.interrupt();
        sampler.join();
        return new long[] {max[0] - base, max[1] - baseRss, ms};
    }

    @Test
    @DisplayName("bench: peak memory, 2 vs 16 segments, checkpointing on/off")
    void bench() throws InterruptedException {
        System.out.printf("%-9s %-14s %14s %12s %10s%n", "segments", "checkpointing", "off-heap MiB", "RSS +MiB", "step ms");
        for (int segs : new int[] {2, 16}) {
            for (boolean ckpt : new boolean[] {true, false}) {
                ComputationGraph g = InfiniGraph.create(config(), new InfiniGraph.Options().checkpointing(ckpt).dtype(DataType.FLOAT));
                DataSet ds = batch(segs * SEG);
                g.fit(ds); // builds the graphs
                long[] p = peak(() -> g.fit(ds));
                System.out.printf("%-9d %-14s %14.1f %12.1f %10d%n", segs, ckpt, p[0] / 1048576.0, p[1] / 1048576.0, p[2]);
            }
        }
    }
}
