package dev.infini.cli.train;

import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.SegmentKernel;
import dev.infini.samediff.train.MemoryGradient;
import dev.infini.zoo.dl4j.GraphTraining;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

import java.util.function.Function;

/**
 * picocli converters of the training options' closed choices, taking the lowercase names users type (any case);
 * a value outside the choice is an {@link InvalidValue} carrying the parser's own message.
 */
public final class OptionConverters {
    private OptionConverters() {
    }

    /**
     * A value the option does not take (the tool exits with 1 and this one-line message, as for any other bad value,
     * rather than with a usage error).
     */
    public static final class InvalidValue extends TypeConversionException {
        public InvalidValue(String message) {
            super(message);
        }
    }

    private abstract static class Parsing<T> implements ITypeConverter<T> {
        private final Function<String, T> parse;

        Parsing(Function<String, T> parse) {
            this.parse = parse;
        }

        @Override
        public T convert(String value) {
            try {
                return parse.apply(value);
            } catch (IllegalArgumentException e) {
                throw new InvalidValue(e.getMessage());
            }
        }
    }

    /** {@code samediff|graph}. */
    public static final class EngineConverter extends Parsing<Engine> {
        public EngineConverter() {
            super(Engine::parse);
        }
    }

    /** {@code fast|samediff}. */
    public static final class KernelConverter extends Parsing<SegmentKernel> {
        public KernelConverter() {
            super(SegmentKernel::parse);
        }
    }

    /** {@code averaging|shared}. */
    public static final class SparkModeConverter extends Parsing<GraphTraining.SparkMode> {
        public SparkModeConverter() {
            super(GraphTraining.SparkMode::parse);
        }
    }

    /** {@code full|truncated}. */
    public static final class MemoryGradientConverter extends Parsing<MemoryGradient> {
        public MemoryGradientConverter() {
            super(MemoryGradient::parse);
        }
    }

    /** {@code linear|delta}. */
    public static final class MemoryUpdateConverter extends Parsing<MemoryUpdate> {
        public MemoryUpdateConverter() {
            super(MemoryUpdate::parse);
        }
    }
}
