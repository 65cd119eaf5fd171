package dev.infini.samediff.fuzz;

import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.ModelFamily;
import dev.infini.samediff.TestModels;
import dev.infini.samediff.hf.HfCheckpoint;
import dev.infini.samediff.hf.SafeTensors;
import dev.infini.samediff.io.Npy;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Hundreds of malformed checkpoints, configs, shard indexes and token files from a fixed seed, each loaded by the
 * real readers under a timeout: every case must end in a clean error or a correct result (weights bit-identical to
 * the unmutated checkpoint's, the shape unchanged); no wrong success, crash or hang. The figures go to stdout and
 * {@code target/fuzz/formats.json} (README, "Reliability").
 */
class FormatFuzzTest {
    private static final long SEED = 20261203L;
    private static final long TIMEOUT_MS = 20_000;
    private static final Map<FuzzCase.Outcome, Integer> TOTALS = new EnumMap<>(FuzzCase.Outcome.class);
    private static final List<FuzzCase.Result> BAD = new ArrayList<>();
    private static ExecutorService pool;

    @TempDir
    static Path tmp;

    /** A checkpoint directory, its files' bytes and the weights it holds. */
    record Base(String name, Map<String, byte[]> files, InfiniModel model) {
    }

    private static Base gemma;
    private static Base gemmaBf16;
    private static Base llamaSharded;

    @BeforeAll
    static void bases() throws IOException {
        pool = FuzzCase.pool();
        for (FuzzCase.Outcome o : FuzzCase.Outcome.values()) {
            TOTALS.put(o, 0);
        }
        gemma = base("gemma", ModelFamily.GEMMA, 1, SafeTensors.Dtype.F32, Long.MAX_VALUE);
        gemmaBf16 = base("gemma-bf16", ModelFamily.GEMMA, 1, SafeTensors.Dtype.BF16, Long.MAX_VALUE);
        llamaSharded = base("llama-sharded", ModelFamily.LLAMA, 2, SafeTensors.Dtype.F32, 3000);
    }

    private static Base base(String name, ModelFamily f, int kv, SafeTensors.Dtype dtype, long shard) throws IOException {
        InfiniModel m = TestModels.randomModel(TestModels.tiny(f, 4, kv, MemoryUpdate.DELTA, 4), 7, DataType.FLOAT);
        Path dir = tmp.resolve("base-" + name);
        HfCheckpoint.save(m, dir, dtype, shard);
        Map<String, byte[]> files = new LinkedHashMap<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.sorted().toList()) {
                files.put(p.getFileName().toString(), Files.readAllBytes(p));
            }
        }
        return new Base(name, files, HfCheckpoint.load(dir));
    }

    @AfterAll
    static void figures() throws IOException {
        pool.shutdownNow();
        int tried = TOTALS.values().stream().mapToInt(Integer::intValue).sum();
        String json = String.format("{\"seed\":%d,\"cases\":%d,\"clean_errors\":%d,\"correct_results\":%d,"
                        + "\"wrong_successes\":%d,\"crashes\":%d,\"hangs\":%d}", SEED, tried, TOTALS.get(FuzzCase.Outcome.CLEAN_ERROR),
                TOTALS.get(FuzzCase.Outcome.CORRECT), TOTALS.get(FuzzCase.Outcome.WRONG_SUCCESS),
                TOTALS.get(FuzzCase.Outcome.CRASH), TOTALS.get(FuzzCase.Outcome.HANG));
        System.out.println("format fuzz: " + json);
        Path out = Path.of("target", "fuzz");
        Files.createDirectories(out);
        Files.writeString(out.resolve("formats.json"), json + "\n");
    }

    /** Writes {@code base}'s files with {@code file} replaced by {@code bytes} into a fresh directory. */
    private static Path caseDir(Base base, String file, byte[] bytes) throws IOException {
        Path dir = Files.createTempDirectory(tmp, base.name());
        for (Map.Entry<String, byte[]> e : base.files().entrySet()) {
            Files.write(dir.resolve(e.getKey()), e.getKey().equals(file) ? bytes : e.getValue());
        }
        return dir;
    }

    /** The oracle for a checkpoint: the same shape and bit-identical weights as the unmutated one. */
    private static boolean sameModel(Base base, InfiniModel m) {
        InfiniConfig a = base.model().config(), b = m.config();
        if (a.vocabSize() != b.vocabSize() || a.hiddenSize() != b.hiddenSize() || a.numLayers() != b.numLayers()
                || a.numHeads() != b.numHeads() || a.numKvHeads() != b.numKvHeads() || a.headDim() != b.headDim()
                || a.intermediateSize() != b.intermediateSize() || a.family() != b.family()
                || !base.model().weights().keySet().equals(m.weights().keySet())) {
            return false;
        }
        for (Map.Entry<String, INDArray> e : base.model().weights().entrySet()) {
            if (!e.getValue().equals(m.weights().get(e.getKey()))) {
                return false;
            }
        }
        return true;
    }

    private static synchronized void record(FuzzCase.Result r, List<FuzzCase.Result> bad) {
        TOTALS.merge(r.outcome(), 1, Integer::sum);
        if (r.outcome() != FuzzCase.Outcome.CLEAN_ERROR && r.outcome() != FuzzCase.Outcome.CORRECT) {
            bad.add(r);
            BAD.add(r);
        }
        if (r.outcome() == FuzzCase.Outcome.HANG) {
            pool.shutdownNow();
            pool = FuzzCase.pool();
        }
    }

    private static <T> void check(String name, Callable<T> read, FuzzCase.Oracle<T> oracle, List<FuzzCase.Result> bad) {
        record(FuzzCase.run(pool, name, TIMEOUT_MS, read, oracle), bad);
    }

    private static void checkLoad(Base base, String file, Mutator.Mutant m, List<FuzzCase.Result> bad) throws IOException {
        Path dir = caseDir(base, file, m.bytes());
        check(base.name() + "/" + file + ": " + m.what(), () -> HfCheckpoint.load(dir), x -> sameModel(base, x), bad);
    }

    private static void assertNoneBad(List<FuzzCase.Result> bad, int cases) {
        StringBuilder sb = new StringBuilder();
        bad.stream().limit(20).forEach(r -> sb.append("\n  ").append(r.outcome()).append(": ").append(r.name())
                .append(" -> ").append(r.detail()));
        assertTrue(bad.isEmpty(), bad.size() + " of " + cases + " cases were not a clean error or a correct result:" + sb);
    }

    private static String weightsFile(Base b, Mutator mut) {
        List<String> st = b.files().keySet().stream().filter(n -> n.endsWith(".safetensors")).toList();
        return st.get(mut.random().nextInt(st.size()));
    }

    @Test
    @DisplayName("300 byte-level mutations (truncations, appended bytes, header byte flips, header lengths) fail cleanly")
    void byteLevelMutations() throws IOException {
        Mutator mut = new Mutator(SEED);
        List<FuzzCase.Result> bad = new ArrayList<>();
        Base[] bases = {gemma, gemmaBf16, llamaSharded};
        for (int i = 0; i < 300; i++) {
            Base b = bases[i % bases.length];
            String file = weightsFile(b, mut);
            checkLoad(b, file, mut.bytes(b.files().get(file)), bad);
        }
        assertNoneBad(bad, 300);
    }

    @Test
    @DisplayName("200 header mutations (offsets, dtypes, shapes, duplicates, overlaps, UTF-8, metadata) fail cleanly")
    void headerMutations() throws IOException {
        Mutator mut = new Mutator(SEED + 1);
        List<FuzzCase.Result> bad = new ArrayList<>();
        Base[] bases = {gemma, gemmaBf16, llamaSharded};
        for (int i = 0; i < 200; i++) {
            Base b = bases[i % bases.length];
            String file = weightsFile(b, mut);
            checkLoad(b, file, mut.header(b.files().get(file)), bad);
        }
        assertNoneBad(bad, 200);
    }

    @Test
    @DisplayName("60 NaN/Inf values written into weights are rejected, naming the tensor")
    void nonFiniteWeights() throws IOException {
        Mutator mut = new Mutator(SEED + 2);
        List<FuzzCase.Result> bad = new ArrayList<>();
        Base[] bases = {gemma, gemmaBf16, llamaSharded};
        for (int i = 0; i < 60; i++) {
            Base b = bases[i % bases.length];
            String file = weightsFile(b, mut);
            checkLoad(b, file, mut.nonFinite(b.files().get(file)), bad);
        }
        assertNoneBad(bad, 60);
    }

    @Test
    @DisplayName("120 config.json mutations and 60 shard index mutations end in a clean error or the same weights")
    void configAndIndexMutations() throws IOException {
        Mutator mut = new Mutator(SEED + 3);
        List<FuzzCase.Result> bad = new ArrayList<>();
        Base[] bases = {gemma, llamaSharded};
        for (int i = 0; i < 120; i++) {
            Base b = bases[i % 2];
            checkLoad(b, HfCheckpoint.CONFIG, mut.config(new String(b.files().get(HfCheckpoint.CONFIG))), bad);
        }
        List<String> shards = llamaSharded.files().keySet().stream().filter(n -> n.endsWith(".safetensors")).toList();
        assertTrue(shards.size() >= 2, "the sharded base needs shards: " + shards);
        for (int i = 0; i < 60; i++) {
            String text = new String(llamaSharded.files().get(HfCheckpoint.INDEX));
            checkLoad(llamaSharded, HfCheckpoint.INDEX, mut.index(text, shards), bad);
        }
        assertNoneBad(bad, 180);
    }

    @Test
    @DisplayName("80 malformed .npy token files and weights paths that are not files end in a clean error or the right ids")
    void tokenFilesAndPathKinds() throws IOException, InterruptedException {
        Mutator mut = new Mutator(SEED + 4);
        List<FuzzCase.Result> bad = new ArrayList<>();
        int[] ids = new int[40];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = mut.random().nextInt(1000);
        }
        Path good = tmp.resolve("ids.npy");
        Npy.writeInt64(good, ids);
        byte[] bytes = Files.readAllBytes(good);
        for (int i = 0; i < 80; i++) {
            Mutator.Mutant m = NpyMutations.mutate(mut.random(), bytes);
            Path f = Files.createTempFile(tmp, "ids", ".npy");
            Files.write(f, m.bytes());
            check("npy: " + m.what(), () -> Npy.readTokenIds(f), r -> NpyMutations.correct(m.bytes(), ids, r), bad);
        }
        int paths = PathKinds.check(tmp, gemma, (name, dir) -> check(name, () -> HfCheckpoint.load(dir),
                x -> sameModel(gemma, x), bad), (name, f) -> check(name, () -> Npy.readTokenIds(f), r -> false, bad));
        assertNoneBad(bad, 80 + paths);
        assertEquals(ids.length, Npy.readTokenIds(good).length);
    }
}
