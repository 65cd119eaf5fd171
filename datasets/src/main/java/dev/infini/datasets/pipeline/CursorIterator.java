package dev.infini.datasets.pipeline;

import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.DataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

import java.util.List;

/**
 * The plumbing of an iterator whose items (samples or batches) are a pure function of their index, as the synthetic
 * tasks' are: a cursor over {@code [0, limit)} that a checkpoint saves as a number and {@link #setCursor} restores,
 * reset to the start, and the DataVec pre-processor.
 */
public abstract class CursorIterator implements DataSetIterator {
    private static final long serialVersionUID = 1L;

    /** Items already returned. */
    protected int cursor;
    private final int limit;
    private DataSetPreProcessor preProcessor;

    protected CursorIterator(int limit) {
        this.limit = limit;
    }

    /** Items already returned; {@link #setCursor} continues from a saved value. */
    public int cursor() {
        return cursor;
    }

    public void setCursor(int cursor) {
        if (cursor < 0 || cursor > limit) {
            throw new IllegalArgumentException("cursor " + cursor + " outside [0, " + limit + "]");
        }
        this.cursor = cursor;
    }

    @Override
    public boolean hasNext() {
        return cursor < limit;
    }

    /** Back to the first item (the same items again). */
    @Override
    public void reset() {
        cursor = 0;
    }

    /** {@code ds} after the pre-processor, if one is set. */
    protected DataSet preProcessed(DataSet ds) {
        if (preProcessor != null) {
            preProcessor.preProcess(ds);
        }
        return ds;
    }

    @Override
    public boolean resetSupported() {
        return true;
    }

    @Override
    public boolean asyncSupported() {
        return false;
    }

    @Override
    public void setPreProcessor(DataSetPreProcessor preProcessor) {
        this.preProcessor = preProcessor;
    }

    @Override
    public DataSetPreProcessor getPreProcessor() {
        return preProcessor;
    }

    @Override
    public List<String> getLabels() {
        return null;
    }
}
