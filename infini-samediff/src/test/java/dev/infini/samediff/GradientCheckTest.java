package dev.infini.samediff;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** SameDiff's gradients against central finite differences, in double precision, on a tiny model. */
class GradientCheckTest {

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"GEMMA,LINEAR", "LLAMA,DELTA"})
    @DisplayName("gradients of every kind of parameter, the gate and the memory inputs match finite differences")
    void gradientsMatchFiniteDifferences(ModelFamily family, MemoryUpdate rule) {
        InfiniConfig c = InfiniConfig.builder(family).vocabSize(11).hiddenSize(8).intermediateSize(12).numLayers(2)
                .numHeads(4).numKvHeads(2).headDim(4).segmentSize(5).memoryUpdate(rule)
                .tieWordEmbeddings(family == ModelFamily.GEMMA).build();
        InfiniModel model = TestModels.randomModel(c, 21, DataType.DOUBLE);
        int b = 2, s = 5;
        DecoderGraph g = model.graph(b, s, true);
        SameDiff sd = g.sameDiff();

        // A non-zero incoming memory (written by an earlier segment) so that reads and delta updates matter.
        MemoryState mem = new SegmentRunner(model, s).run(TestModels.randomIds(b, 2 * s, c.vocabSize(), 8)).memory();
        INDArray ids = TestModels.randomIds(b, s, c.vocabSize(), 9);
        INDArray mask = Nd4j.ones(DataType.DOUBLE, b, s);
        mask.putScalar(1, s - 1, 0.0); // one padded position
        Map<String, INDArray> ph = model.placeholders(ids, mask, mem);
        INDArray labels = Nd4j.zeros(DataType.DOUBLE, b * s, c.vocabSize());
        Random rnd = new Random(5);
        for (int r = 0; r < b * s; r++) {
            if (r != b * s - 1) {
                labels.putScalar(r, rnd.nextInt(c.vocabSize()), 1.0);
            }
        }
        ph.put(GraphNames.LABELS, labels);
        // Upstream gradients of the memory this segment returns (what the segment after would send back).
        for (int l = 0; l < c.numLayers(); l++) {
            ph.put(GraphNames.memoryMGrad(l), Nd4j.randn(40L + l, new long[] {b, c.numKvHeads(), c.headDim(), c.headDim()}).muli(0.1));
            ph.put(GraphNames.memoryZGrad(l), Nd4j.randn(50L + l, new long[] {b, c.numKvHeads(), c.headDim()}).muli(0.1));
        }

        List<String> wrt = new ArrayList<>(g.parameterNames());
        for (int l = 0; l < c.numLayers(); l++) {
            wrt.add(GraphNames.memoryM(l));
            wrt.add(GraphNames.memoryZ(l));
        }
        Map<String, INDArray> grads = model.runtime().outputsAndGradients(sd, ph, List.of(), wrt);

        Set<TensorNames.Kind> kindsChecked = EnumSet.noneOf(TensorNames.Kind.class);
        double eps = 1e-6;
        int checked = 0;
        double worst = 0;
        for (String name : wrt) {
            boolean placeholder = name.startsWith("memory.");
            INDArray arr = placeholder ? ph.get(name) : sd.getArrForVarName(name);
            INDArray grad = grads.get(name);
            assertTrue(grad != null, "no gradient for " + name + " (have " + grads.keySet() + ")");
            assertEquals(arr.length(), grad.length(), "gradient shape of " + name);
            // Check up to 4 entries, the largest-gradient one included.
            long[] idx = {grad.reshape(grad.length()).argMax().getLong(0), rnd.nextInt((int) arr.length()),
                    rnd.nextInt((int) arr.length()), rnd.nextInt((int) arr.length())};
            for (long i : idx) {
                INDArray flat = arr.reshape(arr.length());
                double orig = flat.getDouble(i);
                flat.putScalar(i, orig + eps);
                double plus = loss(sd, ph);
                flat.putScalar(i, orig - eps);
                double minus = loss(sd, ph);
                flat.putScalar(i, orig);
                double numeric = (plus - minus) / (2 * eps);
                double analytic = grad.reshape(grad.length()).getDouble(i);
                // Relative error, with an absolute floor of 1e-8 for the finite-difference rounding noise.
                double err = Math.abs(numeric - analytic) / Math.max(1e-3, Math.abs(numeric) + Math.abs(analytic));
                worst = Math.max(worst, err);
                assertTrue(err < 1e-5, name + "[" + i + "]: analytic " + analytic + " vs numeric " + numeric);
                checked++;
            }
            if (!placeholder) {
                kindsChecked.add(TensorNames.all(c).stream().filter(sp -> sp.name().equals(name)).findFirst().orElseThrow().kind());
            }
        }
        assertEquals(EnumSet.allOf(TensorNames.Kind.class), kindsChecked);
        // The gate gradient is a real signal, not zero.
        for (int l = 0; l < c.numLayers(); l++) {
            assertTrue(grads.get(TensorNames.gate(l)).norm2Number().doubleValue() > 1e-6, "gate gradient of layer " + l);
        }
        System.out.printf("gradient check %s/%s: %d entries, worst relative error %.2e%n", family, rule, checked, worst);
    }

    private static double loss(SameDiff sd, Map<String, INDArray> ph) {
        return sd.output(ph, GraphNames.LOSS).get(GraphNames.LOSS).getDouble(0);
    }
}
