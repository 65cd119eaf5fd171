package dev.infini.zoo.models;

import dev.infini.samediff.ModelFamily;

/** Infini-attention Llama: {@code InfiniLlama.builder().preset("llama-3.2-1b").build().initPretrained(dir)}. */
public final class InfiniLlama extends InfiniZooModel {
    private InfiniLlama(Builder b) {
        super(ModelFamily.LLAMA, b);
    }

    public static Builder builder() {
        return new Builder();
    }

    public static final class Builder extends InfiniZooModel.Builder<Builder> {
        @Override
        public InfiniLlama build() {
            return new InfiniLlama(this);
        }
    }
}
