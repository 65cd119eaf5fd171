package dev.infini.tests;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code ./infini} keeps the ND4J backend it was built with: run with {@code INFINI_DRY_RUN=1} in a copy of the launcher
 * beside a fake build (pom, tool jar, {@code target/lib}, marker), it prints the {@code rm}, {@code mvn} and {@code java}
 * commands it would run and changes nothing.
 */
class LauncherBackendTest {
    @TempDir
    Path root;
    private Path target;
    private Path lib;

    record Run(int exit, String err) {
        boolean builds() {
            return err.contains("dry run: mvn ");
        }

        boolean cuda() {
            return err.lines().anyMatch(l -> l.contains("dry run: mvn ") && l.contains(" -Pcuda "));
        }
    }

    @BeforeEach
    void fakeTree() throws IOException {
        Path launcher = Fixtures.root().getParent().resolve("infini");
        Files.copy(launcher, root.resolve("infini"));
        Files.writeString(root.resolve("pom.xml"), "<project/>");
        Files.createDirectories(root.resolve("infini-cli/src/main/java"));
        target = Files.createDirectories(root.resolve("infini-cli/target"));
        lib = Files.createDirectories(target.resolve("lib"));
    }

    /** A finished build for {@code backend}: its jars in lib, a jar newer than every source, the marker if asked. */
    private void built(String backend, boolean marker) throws IOException {
        Files.writeString(lib.resolve(backend.equals("cuda") ? "nd4j-cuda-11.6-1.0.0-M2.1.jar" : "nd4j-native-1.0.0-M2.1.jar"), "");
        Path jar = Files.writeString(target.resolve("infini-cli.jar"), "");
        Files.setLastModifiedTime(jar, FileTime.from(Instant.now().plusSeconds(60)));
        if (marker) {
            Files.writeString(target.resolve("infini-backend"), backend + "\n");
        }
    }

    private Run run(Map<String, String> env, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("bash", root.resolve("infini").toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.environment().remove("INFINI_BACKEND");
        pb.environment().put("INFINI_DRY_RUN", "1");
        pb.environment().putAll(env);
        Process p = pb.start();
        String err = new String(p.getErrorStream().readAllBytes());
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "launcher hung");
        return new Run(p.exitValue(), err);
    }

    @Test
    @DisplayName("INFINI_BACKEND=cuda on a fresh tree builds with -Pcuda, removes the CPU backend's jars and records cuda")
    void cudaFromScratch() throws Exception {
        Run r = run(Map.of("INFINI_BACKEND", "cuda"), "--help");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.cuda(), r.err());
        assertTrue(r.err().contains("rm -rf " + lib), r.err());
        assertTrue(r.err().contains("nd4j-native-\\[0-9\\]\\*.jar") && r.err().contains("-delete"), r.err());
        assertTrue(r.err().contains("echo cuda > " + target.resolve("infini-backend")), r.err());
        assertTrue(r.err().contains("dry run: java ") && r.err().contains("dev.infini.cli.InfiniCli --help"), r.err());
    }

    @Test
    @DisplayName("a CUDA build stays CUDA: no rebuild when up to date, and -Pcuda (without emptying lib) when a source changed")
    void keepsTheBuiltBackend() throws Exception {
        built("cuda", true);
        Run upToDate = run(Map.of(), "--help");
        assertEquals(0, upToDate.exit(), upToDate.err());
        assertFalse(upToDate.builds(), upToDate.err());

        Path source = Files.writeString(root.resolve("infini-cli/src/main/java/A.java"), "class A {}");
        Files.setLastModifiedTime(source, FileTime.from(Instant.now().plusSeconds(120)));
        Run rebuild = run(Map.of(), "--help");
        assertTrue(rebuild.cuda(), rebuild.err());
        assertFalse(rebuild.err().contains("rm -rf"), rebuild.err());
    }

    @Test
    @DisplayName("switching a CUDA build to INFINI_BACKEND=cpu rebuilds without -Pcuda from an empty lib and removes CUDA jars")
    void switchesBack() throws Exception {
        built("cuda", true);
        Run r = run(Map.of("INFINI_BACKEND", "cpu"), "--help");
        assertTrue(r.builds() && !r.cuda(), r.err());
        assertTrue(r.err().contains("rm -rf " + lib), r.err());
        assertTrue(r.err().contains("nd4j-cuda-\\*.jar"), r.err());
        assertTrue(r.err().contains("echo cpu > "), r.err());
    }

    @Test
    @DisplayName("a build without a marker counts as the backend whose jars target/lib holds (no needless rebuild)")
    void infersFromLib() throws Exception {
        built("cpu", false);
        assertFalse(run(Map.of(), "--help").builds());
        assertTrue(run(Map.of("INFINI_BACKEND", "cuda"), "--help").cuda());
    }

    @Test
    @DisplayName("a dry run changes nothing, and an unknown INFINI_BACKEND is a one-line error with exit code 2")
    void dryRunAndBadBackend() throws Exception {
        built("cpu", true);
        run(Map.of("INFINI_BACKEND", "cuda"), "--help");
        assertEquals("cpu\n", Files.readString(target.resolve("infini-backend")));
        assertTrue(Files.exists(lib.resolve("nd4j-native-1.0.0-M2.1.jar")));
        Run bad = run(Map.of("INFINI_BACKEND", "gpu"), "--help");
        assertEquals(2, bad.exit());
        assertEquals("infini: INFINI_BACKEND must be cpu or cuda, not 'gpu'", bad.err().strip());
    }

    @Test
    @DisplayName("INFINI_BLAS: a directory with libopenblas.so.0 becomes JavaCPP's OpenBLAS, 'bundled' adds nothing, anything else is a one-line error with exit code 2")
    void blasChoice() throws Exception {
        built("cpu", true);
        Path dir = Files.createDirectories(root.resolve("blas"));
        Files.writeString(dir.resolve("libopenblas.so.0"), "");
        Run own = run(Map.of("INFINI_BLAS", dir.toString()), "--help");
        assertEquals(0, own.exit(), own.err());
        assertTrue(own.err().contains("-Djava.library.path=" + dir + " -Dorg.bytedeco.openblas.load=openblas"), own.err());
        Run bundled = run(Map.of("INFINI_BLAS", "bundled"), "--help");
        assertEquals(0, bundled.exit(), bundled.err());
        assertFalse(bundled.err().contains("org.bytedeco.openblas.load"), bundled.err());
        Run bad = run(Map.of("INFINI_BLAS", root.resolve("nowhere").toString()), "--help");
        assertEquals(2, bad.exit());
        assertEquals("infini: INFINI_BLAS must be system, bundled or a directory with libopenblas.so.0, not '"
                + root.resolve("nowhere") + "'", bad.err().strip());
    }
}
