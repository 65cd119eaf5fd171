package dev.infini.tests;

import dev.infini.datasets.corpus.Corpus;
import dev.infini.datasets.pipeline.BlockMode;
import dev.infini.datasets.pipeline.TokenBlockIterator;
import dev.infini.datasets.pipeline.TokenizedCorpus;
import dev.infini.datasets.tokenize.ByteTokenizer;
import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.SegmentRunner;
import dev.infini.samediff.train.SegmentGradients;
import dev.infini.samediff.train.TrainBatch;
import dev.infini.samediff.Presets;
import dev.infini.cli.train.TrainingData;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.indexing.NDArrayIndex;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The DataVec pipeline feeding the core model's segment runner and loss. */
class PipelineToModelTest {

    @Test
    @DisplayName("blocks of the DataVec iterator run through the segment runner; padded documents are masked")
    void iteratorFeedsSegmentRunner() {
        InfiniConfig c = Presets.get("tiny").toBuilder().hiddenSize(32).intermediateSize(64).numLayers(2).numHeads(2)
                .headDim(16).segmentSize(16).build();
        InfiniModel model = InfiniModel.random(c, 3, 0.02, 0.0, DataType.FLOAT);
        ByteTokenizer tok = new ByteTokenizer();
        TokenizedCorpus corpus = TokenizedCorpus.tokenize(Corpus.mobyDickChapters(), tok);
        for (BlockMode mode : BlockMode.values()) {
            TokenBlockIterator it = TokenBlockIterator.builder(corpus).tokenizer(tok).seqLen(40).batchSize(3)
                    .mode(mode).shuffle(true).seed(1).build();
            DataSet ds = it.next();
            TrainBatch b = TrainingData.toBatch(ds);
            SegmentRunner.Result r = new SegmentRunner(model).run(b.inputIds(), b.attentionMask(), null, null);
            assertArrayEquals(new long[] {3, 40, c.vocabSize()}, r.logits().shape());   // 2 segments of 16 + 8
            // Token ids are bytes of Moby-Dick: the labels are the next inputs.
            INDArray ids = b.inputIds();
            assertEquals(ids.getInt(0, 1), b.labels().getInt(0, 0));
            SegmentGradients.Result loss = new SegmentGradients(model, 16).evaluate(b);
            // A fresh model predicts about uniformly over 260 ids.
            assertEquals(Math.log(c.vocabSize()), loss.meanLoss(), 0.05, mode + " mean loss");
            assertEquals(ds.getLabelsMaskArray().sumNumber().doubleValue(), loss.tokens());
            // Logits of real tokens do not depend on padded positions after them.
            if (b.attentionMask() != null) {
                INDArray padded = b.inputIds().dup();
                padded.muli(b.attentionMask().castTo(DataType.INT32));
                INDArray again = new SegmentRunner(model).run(padded, b.attentionMask(), null, null).logits();
                for (int row = 0; row < 3; row++) {
                    int real = b.attentionMask().getRow(row).sumNumber().intValue();
                    INDArray x = r.logits().get(NDArrayIndex.point(row), NDArrayIndex.interval(0, real), NDArrayIndex.all());
                    INDArray y = again.get(NDArrayIndex.point(row), NDArrayIndex.interval(0, real), NDArrayIndex.all());
                    assertTrue(x.equalsWithEps(y, 1e-5), "row " + row);
                }
            }
        }
    }
}
