package dev.infini.samediff.train;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * One batch of token blocks: {@code inputIds [B, T]}, next-token {@code labels [B, T]} (label at t is
 * token t+1), {@code lossMask [B, T]} (1 where the label counts) and {@code attentionMask [B, T]}
 * (1 for real tokens, 0 for padding; null when there is no padding).
 */
public record TrainBatch(INDArray inputIds, INDArray labels, INDArray lossMask, INDArray attentionMask) {
    public TrainBatch {
        if (inputIds.rank() != 2 || !Arrays.equals(inputIds.shape(), labels.shape())
                || !Arrays.equals(inputIds.shape(), lossMask.shape())
                || (attentionMask != null && !Arrays.equals(inputIds.shape(), attentionMask.shape()))) {
            throw new IllegalArgumentException("batch arrays must all be [batch, T]: ids " + Arrays.toString(inputIds.shape())
                    + ", labels " + Arrays.toString(labels.shape()) + ", loss mask " + Arrays.toString(lossMask.shape())
                    + (attentionMask == null ? "" : ", attention mask " + Arrays.toString(attentionMask.shape())));
        }
    }

    /** A batch from token rows of length T+1: inputs are the first T tokens, labels the last T. */
    public static TrainBatch fromTokens(int[][] rows) {
        int b = rows.length, t = rows[0].length - 1;
        int[] ids = new int[b * t], lab = new int[b * t];
        for (int i = 0; i < b; i++) {
            System.arraycopy(rows[i], 0, ids, i * t, t);
            System.arraycopy(rows[i], 1, lab, i * t, t);
        }
        INDArray in = org.nd4j.linalg.factory.Nd4j.createFromArray(ids).reshape(b, t);
        INDArray out = org.nd4j.linalg.factory.Nd4j.createFromArray(lab).reshape(b, t);
        return new TrainBatch(in, out, org.nd4j.linalg.factory.Nd4j.ones(DataType.FLOAT, b, t), null);
    }

    public int batchSize() { return (int) inputIds.size(0); }
    public int length() { return (int) inputIds.size(1); }

    /** Real (non-padding) input tokens: what throughput is counted in. */
    public double inputTokens() {
        return attentionMask == null ? (double) batchSize() * length() : attentionMask.sumNumber().doubleValue();
    }

    /** Sum of the loss weights (the number of label positions that count when weights are 0/1). */
    public double tokens() {
        return lossMask.sumNumber().doubleValue();
    }
}
