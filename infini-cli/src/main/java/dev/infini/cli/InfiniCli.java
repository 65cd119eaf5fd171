package dev.infini.cli;

import dev.infini.cli.train.OptionConverters;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;

/**
 * The {@code infini} command-line tool ({@code ./infini <command>} from the repository root, or
 * {@code mvn -q -pl infini-cli -am test-compile exec:java -Dexec.args="<command> ..."}). Bad arguments or bad files end with a
 * non-zero exit code and a one-line message; {@code --verbose} adds the stack trace.
 */
@Command(name = "infini", mixinStandardHelpOptions = true, version = "infini 0.1.0",
        description = "Infini-attention transformers on Deeplearning4j/SameDiff.",
        subcommands = {TrainCommand.class, GenerateCommand.class, EvalCommand.class, PasskeyCommand.class, RecallCommand.class,
                LogitsCommand.class, BenchCommand.class, UiCommand.class, CommandLine.HelpCommand.class})
public final class InfiniCli implements Runnable {

    @Option(names = "--verbose", scope = CommandLine.ScopeType.INHERIT,
            description = "Print stack traces of errors and debug logs.")
    boolean verbose;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** Runs the tool and returns its exit code (0 ok, 1 failed or a bad option value, 2 bad usage). */
    public static int execute(String... args) {
        CommandLine cl = new CommandLine(new InfiniCli());
        cl.setParameterExceptionHandler((ex, a) -> {
            PrintWriter err = ex.getCommandLine().getErr();
            err.println("infini: " + ex.getMessage() + " (see '" + ex.getCommandLine().getCommandSpec().qualifiedName() + " --help')");
            if (hasVerbose(a)) {
                ex.printStackTrace(err);
            }
            err.flush();
            // A value the option does not take is a failure like any other bad value (exit 1); usage errors exit 2.
            return ex.getCause() instanceof OptionConverters.InvalidValue ? 1 : 2;
        });
        cl.setExecutionExceptionHandler((ex, c, parseResult) -> {
            PrintWriter err = c.getErr();
            String msg = ex.getMessage() != null ? ex.getMessage() : ex.toString();
            err.println("infini: " + msg.lines().findFirst().orElse(msg));
            if (hasVerbose(parseResult.originalArgs().toArray(new String[0]))) {
                ex.printStackTrace(err);
            }
            err.flush();
            return 1;
        });
        return cl.execute(args);
    }

    private static boolean hasVerbose(String[] args) {
        for (String a : args) {
            if (a.equals("--verbose")) {
                return true;
            }
        }
        return false;
    }

    public static void main(String[] args) {
        System.exit(execute(args));
    }
}
