package dev.infini.cli;

import dev.infini.cli.train.TrainOptions;
import dev.infini.cli.train.TrainingCheckpoint;
import dev.infini.cli.train.TrainSummary;
import dev.infini.cli.train.Trainer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code infini train}: trains a model segment by segment with memory passing; the options are
 * {@link TrainOptions}'s, the run is {@link Trainer}'s.
 */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train an Infini-attention decoder on a corpus, segment by segment with the memory passed on.",
                "With no arguments: the tiny preset on Moby-Dick (by chapter), a few minutes on 2 CPU cores."})
final class TrainCommand implements Callable<Integer> {
    @Option(names = "--resume", paramLabel = "DIR", description = "Continue a run from its newest whole checkpoint-N/ "
            + "(DIR: the run directory) or from the checkpoint DIR: its options, overridden by the options given here.")
    Path resume;

    @Mixin
    TrainOptions given = new TrainOptions();

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        TrainOptions o = options();
        Progress bar = new Progress("train", o.steps);
        Trainer trainer = new Trainer(o, resume).onProgress(bar::line);
        TrainSummary s = trainer.run();
        bar.finish();
        System.out.println("sample: " + s.sample().replace("\n", " "));
        System.out.println(s.toJson());
        if (o.uiWait && trainer.statsFeed() != null) {
            System.err.println("DL4J training UI at " + trainer.statsFeed().url() + " (Ctrl-C to stop)");
            Thread.currentThread().join();
        }
        return 0;
    }

    /**
     * The run's options: the parsed ones (defaults and the flags given) or, with {@code --resume}, the checkpoint's
     * overridden by the flags actually given (and written into the resumed run's directory unless {@code --out}).
     */
    TrainOptions options() throws IOException {
        if (resume == null) {
            return given;
        }
        TrainOptions o = Trainer.optionsOf(resume);
        CommandLine.ParseResult parsed = spec.commandLine().getParseResult();
        boolean outGiven = false;
        for (OptionSpec opt : parsed.matchedOptions()) {
            if (opt.userObject() instanceof Field f && f.getDeclaringClass() == TrainOptions.class) {
                try {
                    f.set(o, f.get(given));
                } catch (IllegalAccessException e) {
                    throw new IllegalStateException(e);
                }
                outGiven |= f.getName().equals("out");
            }
        }
        if (!outGiven) {
            o.out = TrainingCheckpoint.runDirOf(resume).toString();
        }
        return o;
    }
}
