package dev.infini.cli;

import dev.infini.samediff.hf.HfCheckpoint;
import dev.infini.samediff.hf.SafeTensors;
import picocli.CommandLine.Option;

/** {@code --allow-non-finite}, shared by the commands that load a checkpoint (a picocli mixin). */
final class NonFiniteOption {
    @Option(names = "--allow-non-finite",
            description = "Load weights that hold NaN or Inf (by default an error naming the tensor).")
    boolean allow;

    /** {@code o} with the option applied (or with the system property {@link SafeTensors#ALLOW_NON_FINITE} set). */
    HfCheckpoint.Options apply(HfCheckpoint.Options o) {
        return o.allowNonFinite(allow || SafeTensors.allowNonFiniteByDefault());
    }
}
