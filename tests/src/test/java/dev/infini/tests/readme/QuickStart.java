package dev.infini.tests.readme;

// The README's "Use it from Java" snippet is the text between the two marker lines, exactly (ReadmeSnippetTest checks
// both that README.md holds it and that it runs). Edit it here, then paste it into README.md.
// README:begin
import dev.infini.datasets.tokenize.ByteTokenizer;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.decode.Sampler;
import dev.infini.samediff.decode.StreamingDecoder;
import dev.infini.samediff.hf.HfCheckpoint;
import dev.infini.samediff.train.AdamW;
import dev.infini.samediff.train.MemoryGradient;
import dev.infini.samediff.train.OptimizerStep;
import dev.infini.samediff.train.TrainBatch;

import java.nio.file.Path;
import java.util.List;

public final class QuickStart {
    public static void main(String[] args) throws Exception {
        Path checkpoint = Path.of(args.length > 0 ? args[0] : "runs/latest/checkpoint");  // e.g. made by ./infini train
        InfiniModel model = HfCheckpoint.load(checkpoint);              // config.json + safetensors (HF layout)
        ByteTokenizer tok = new ByteTokenizer();                          // byte-level models; HfTokenizer for tokenizer.json

        // Generate: the prompt runs segment by segment through the memory, then one token at a time.
        int[] prompt = tok.encode("Call me Ishmael.");
        Sampler sampler = new Sampler(0.8, 40, 0.95, 1).limitedTo(tok.vocabSize());  // temperature, top-k, top-p, seed
        int[] generated = new StreamingDecoder(model).generate(prompt, 100, sampler, tok.eosId(), null);
        System.out.println(tok.decode(prompt) + tok.decode(generated));

        // Train a few steps: exact back-propagation through the memory of every segment, AdamW, clipping at norm 1.
        OptimizerStep step = new OptimizerStep(model, model.config().segmentSize(), MemoryGradient.FULL,
                new AdamW(model, AdamW.Settings.defaults()), 1.0);
        int[] text = tok.encode("Some years ago - never mind how long precisely - having little or no money in my "
                + "purse, and nothing particular to interest me on shore, I thought I would sail about a little.");
        TrainBatch batch = TrainBatch.fromTokens(new int[][] {text});   // inputs text[0..n-2], labels text[1..n-1]
        for (int i = 1; i <= 5; i++) {
            OptimizerStep.Stats s = step.step(List.of(batch), 1e-3);    // learning rate 1e-3
            System.out.printf("step %d loss %.4f%n", i, s.loss());
        }
        HfCheckpoint.save(model, Path.of(args.length > 1 ? args[1] : "runs/java-quickstart"));  // a checkpoint again
    }
}
// README:end
