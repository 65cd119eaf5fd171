package dev.infini.tests;

import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.SegmentRunner;
import dev.infini.samediff.TensorNames;
import dev.infini.samediff.TestModels;
import dev.infini.cli.InfiniCli;
import dev.infini.samediff.hf.HfCheckpoint;
import dev.infini.samediff.io.Npy;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code ./infini logits} against logits computed by the independent float64 NumPy reference in
 * {@code fixtures/golden/make_golden.py}: 29 tokens = three segments of 8 plus a partial one.
 */
class GoldenLogitsTest {
    static final double TOLERANCE = 1e-4;

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"gemma-mqa-linear-f32", "gemma-mqa-delta-bf16", "llama-gqa-delta-f32-sharded",
            "llama-gqa-linear-bf16", "llama-gqa-linear-f16", "gemma-mqa-delta-shift-f32"})
    @DisplayName("infini logits reproduces the float64 reference to relative error <= 1e-4")
    void logitsCommandMatchesReference(String name, @TempDir Path tmp) throws Exception {
        Path dir = Fixtures.golden(name);
        Path out = tmp.resolve("logits.npy");
        int code = InfiniCli.execute("logits", "--model", dir.toString(), "--tokens", dir.resolve("tokens.npy").toString(),
                "--out", out.toString());
        assertEquals(0, code, "exit code");
        Npy.Array actual = Npy.read(out);
        assertEquals("<f4", actual.descr());
        INDArray expected = Npy.toINDArray(Npy.read(dir.resolve("logits.npy")));
        assertArrayEquals(expected.shape(), actual.shape());
        double err = TestModels.relError(Npy.toINDArray(actual), expected);
        System.out.printf("golden %-28s relative error %.3e%n", name, err);
        assertTrue(err <= TOLERANCE, name + ": relative error " + err);
    }

    @Test
    @DisplayName("with gates forced shut the model reproduces the reference's memory-off logits")
    void memoryOffMatchesReference() throws Exception {
        Path dir = Fixtures.golden("gemma-mqa-linear-f32");
        InfiniModel m = HfCheckpoint.load(dir);
        for (int l = 0; l < m.config().numLayers(); l++) {
            m.weights().get(TensorNames.gate(l)).assign(-1e4);
        }
        int[] ids = Npy.readTokenIds(dir.resolve("tokens.npy"));
        INDArray logits = new SegmentRunner(m).run(Nd4j.createFromArray(ids).reshape(1, ids.length)).logits()
                .reshape(ids.length, m.config().vocabSize());
        INDArray expected = Npy.toINDArray(Npy.read(dir.resolve("logits_memory_off.npy")));
        double err = TestModels.relError(logits, expected);
        System.out.printf("golden memory-off relative error %.3e%n", err);
        assertTrue(err <= TOLERANCE, "relative error " + err);
        // and the memory really mattered in the gated case
        INDArray gated = Npy.toINDArray(Npy.read(dir.resolve("logits.npy")));
        assertTrue(TestModels.relError(gated, expected) > 1e-2);
    }
}
