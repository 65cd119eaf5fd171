package dev.infini.zoo.models;

import dev.infini.samediff.ModelFamily;

/** Infini-attention Gemma: {@code InfiniGemma.builder().preset("gemma-2b").build().initPretrained(dir)}. */
public final class InfiniGemma extends InfiniZooModel {
    private InfiniGemma(Builder b) {
        super(ModelFamily.GEMMA, b);
    }

    public static Builder builder() {
        return new Builder();
    }

    public static final class Builder extends InfiniZooModel.Builder<Builder> {
        @Override
        public InfiniGemma build() {
            return new InfiniGemma(this);
        }
    }
}
