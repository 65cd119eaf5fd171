package dev.infini.samediff.runtime;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;

class QuietGradFunctionTest {
    @Test
    @DisplayName("gradient functions built on many threads at once print nothing and leave System.out as it was")
    void concurrentBuildsRestoreStdout() throws Exception {
        PrintStream original = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        PrintStream mine = new PrintStream(captured, true);
        System.setOut(mine);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<SameDiff>> builds = new ArrayList<>();
            for (int t = 0; t < 16; t++) {
                builds.add(pool.submit(() -> {
                    SameDiff sd = SameDiff.create();
                    SDVariable x = sd.placeHolder("x", DataType.DOUBLE, 2, 3);
                    SDVariable w = sd.var("w", Nd4j.rand(DataType.DOUBLE, 3, 4));
                    sd.setLossVariables(sd.math.tanh(x.mmul(w)).sum("loss"));
                    GraphRuntime.createGradFunction(sd, "x");
                    return sd;
                }));
            }
            for (Future<SameDiff> f : builds) {
                assertNotNull(f.get().getFunction("grad"), "a gradient function was built");
            }
            assertSame(mine, System.out, "System.out is the stream that was there before");
            assertEquals("", captured.toString(), "nothing printed while building");
        } finally {
            pool.shutdown();
            System.setOut(original);
        }
    }
}
