package dev.infini.spark;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A Spark standalone cluster of separate JVMs on this machine, loopback only: one master and {@code n} workers (1 core
 * each), started with {@code java -cp <Spark's jars> org.apache.spark.deploy.master.Master} / {@code ...worker.Worker}
 * from the module's dependency folder ({@code target/lib}, which holds Spark 3.5 itself), and applications submitted
 * with {@code org.apache.spark.deploy.SparkSubmit}, as {@code spark-submit} would. {@link #close()} stops every process
 * it started and their children (the executors), also after a failure.
 *
 * <p>The Spark installation is {@code SPARK_HOME=<dir>/spark-home} whose {@code jars/} links every jar of
 * {@code target/lib} (Spark plus the project's libraries, installed on each node); the application jar
 * ({@code target/infini-spark.jar}) is not there: {@code SparkSubmit} ships it to the executors.
 */
final class StandaloneCluster implements AutoCloseable {
    static final String LOOPBACK = "127.0.0.1";
    private static final Pattern ALIVE = Pattern.compile("\"aliveworkers\"\\s*:\\s*(\\d+)");

    private final Path dir;
    private final Path sparkHome;
    private final List<String> jvmFlags;
    private final List<Process> processes = new ArrayList<>();
    private final int masterPort = freeTcpPort();
    private final int masterUiPort = freeTcpPort();

    /** The output of one submitted application. */
    record Submission(int exitCode, String output, Duration wall) {
    }

    private StandaloneCluster(Path dir, Path sparkHome, List<String> jvmFlags) {
        this.dir = dir;
        this.sparkHome = sparkHome;
        this.jvmFlags = jvmFlags;
    }

    /**
     * Starts a master and {@code workers} workers (each with its own {@value WorkerPort#ENV}) and waits until all have
     * registered. {@code target} is the module's build folder (after {@code package}); logs go under {@code dir}.
     */
    static StandaloneCluster start(Path target, Path dir, int workers, Duration timeout) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        List<String> flags = Arrays.asList(Files.readString(target.resolve("jvm.options")).trim().split("\\s+"));
        StandaloneCluster c = new StandaloneCluster(dir, linkSparkHome(target.resolve("lib"), dir.resolve("spark-home")), flags);
        // Also when the test JVM itself is stopped (Ctrl-C, a build timeout's SIGTERM).
        Runtime.getRuntime().addShutdownHook(new Thread(c::close, "standalone-cluster-stop"));
        try {
            c.launch("master", Map.of(), "org.apache.spark.deploy.master.Master", "--host", LOOPBACK,
                    "--port", String.valueOf(c.masterPort), "--webui-port", String.valueOf(c.masterUiPort));
            for (int w = 1; w <= workers; w++) {
                Path work = Files.createDirectories(dir.resolve("worker-" + w));
                c.launch("worker-" + w, Map.of(WorkerPort.ENV, String.valueOf(freeUdpPort())),
                        "org.apache.spark.deploy.worker.Worker", "--host", LOOPBACK, "--cores", "1", "--memory", "1g",
                        "--webui-port", "0", "--work-dir", work.toString(), c.masterUrl());
            }
            c.awaitWorkers(workers, timeout);
            return c;
        } catch (IOException | InterruptedException | RuntimeException e) {
            c.close();
            throw e;
        }
    }

    String masterUrl() {
        return "spark://" + LOOPBACK + ":" + masterPort;
    }

    /** The folder whose {@code worker-N/} holds each worker's executor logs. */
    Path dir() {
        return dir;
    }

    /**
     * Runs {@code SparkSubmit} in client mode (the driver is this new JVM) and waits for it; a run past {@code timeout}
     * is killed and reported with exit code -1.
     */
    Submission submit(String name, List<String> driverFlags, List<String> submitArgs, Duration timeout)
            throws IOException, InterruptedException {
        List<String> cmd = java("768m");
        cmd.addAll(driverFlags);
        cmd.add("org.apache.spark.deploy.SparkSubmit");
        cmd.addAll(List.of("--master", masterUrl(), "--deploy-mode", "client",
                "--conf", "spark.driver.host=" + LOOPBACK, "--conf", "spark.driver.bindAddress=" + LOOPBACK,
                "--conf", "spark.ui.enabled=false", "--conf", "spark.executor.memory=768m",
                "--conf", "spark.executor.cores=1", "--conf", "spark.executorEnv.OMP_NUM_THREADS=1",
                "--conf", "spark.executorEnv.OMP_WAIT_POLICY=PASSIVE",
                "--conf", "spark.executor.extraJavaOptions=" + String.join(" ", jvmFlags)
                        + " -Djavacpp.platform=linux-x86_64 -XX:+UseSerialGC"
                        + " -Dorg.slf4j.simpleLogger.log.org.apache.spark.executor=info"
                        + " -Dorg.slf4j.simpleLogger.log.org.deeplearning4j.spark=info"));
        cmd.addAll(submitArgs);
        Path log = dir.resolve(name + ".log");
        long t0 = System.nanoTime();
        Process p;
        synchronized (this) {
            p = start(cmd, Map.of(), log);
        }
        boolean done = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
        if (!done) {
            stop(p);
        }
        Duration wall = Duration.ofNanos(System.nanoTime() - t0);
        synchronized (this) {
            processes.remove(p);
        }
        return new Submission(done ? p.exitValue() : -1, Files.readString(log), wall);
    }

    /** Every executor log the workers wrote ({@code worker-N/<app>/<executor>/stderr}) and its text. */
    Map<Path, String> executorLogs() throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(f -> f.getFileName().toString().equals("stderr") && dir.relativize(f).getNameCount() == 4)
                    .collect(java.util.stream.Collectors.toMap(f -> dir.relativize(f), StandaloneCluster::read));
        }
    }

    @Override
    public synchronized void close() {
        // Executors are the workers' children: stop the children first, then the daemons, newest first.
        for (int i = processes.size() - 1; i >= 0; i--) {
            stop(processes.get(i));
        }
        processes.clear();
    }

    private void launch(String name, Map<String, String> env, String mainClass, String... args) throws IOException {
        List<String> cmd = java("256m");
        cmd.add(mainClass);
        cmd.addAll(List.of(args));
        start(cmd, env, dir.resolve(name + ".log"));
    }

    private List<String> java(String heap) {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx" + heap, "-XX:+UseSerialGC", "-Djavacpp.platform=linux-x86_64"));
        cmd.addAll(jvmFlags);
        cmd.addAll(List.of("-cp", sparkHome.resolve("jars") + "/*"));
        return cmd;
    }

    private Process start(List<String> cmd, Map<String, String> env, Path log) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        Map<String, String> e = pb.environment();
        e.keySet().removeIf(k -> k.startsWith("SPARK_") || k.startsWith("INFINI_"));
        e.put("SPARK_HOME", sparkHome.toString());
        e.put("SPARK_SCALA_VERSION", "2.12");
        e.put("SPARK_LOCAL_IP", LOOPBACK);
        e.put("SPARK_LOCAL_HOSTNAME", LOOPBACK);
        e.put("OMP_NUM_THREADS", "1");
        e.put("OMP_WAIT_POLICY", "PASSIVE");
        e.put("OPENBLAS_THREAD_TIMEOUT", "4");
        e.putAll(env);
        Process p = pb.start();
        processes.add(p);
        return p;
    }

    private void awaitWorkers(int n, Duration timeout) throws IOException, InterruptedException {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        HttpRequest req = HttpRequest.newBuilder(URI.create("http://" + LOOPBACK + ":" + masterUiPort + "/json/")).build();
        long deadline = System.nanoTime() + timeout.toNanos();
        String last = "(master not answering)";
        while (System.nanoTime() < deadline) {
            for (Process p : processes) {
                if (!p.isAlive()) {
                    throw new IllegalStateException("a cluster process exited with " + p.exitValue() + "; logs in " + dir);
                }
            }
            try {
                last = http.send(req, HttpResponse.BodyHandlers.ofString()).body();
                Matcher m = ALIVE.matcher(last);
                if (m.find() && Integer.parseInt(m.group(1)) >= n) {
                    return;
                }
            } catch (IOException notYet) {
                // the master's web UI is not up yet
            }
            Thread.sleep(500);
        }
        throw new IllegalStateException(n + " workers did not register within " + timeout + "; master said: " + last);
    }

    private static void stop(Process p) {
        List<ProcessHandle> children = p.descendants().toList();
        children.forEach(ProcessHandle::destroy);
        p.destroy();
        try {
            if (!p.waitFor(15, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        children.stream().filter(ProcessHandle::isAlive).forEach(ProcessHandle::destroyForcibly);
    }

    private static Path linkSparkHome(Path lib, Path home) throws IOException {
        Path jars = home.resolve("jars");
        Files.createDirectories(jars);
        try (Stream<Path> old = Files.list(jars)) {
            for (Path link : (Iterable<Path>) old::iterator) {
                Files.delete(link); // links of an earlier build
            }
        }
        try (Stream<Path> files = Files.list(lib)) {
            for (Path jar : (Iterable<Path>) files.filter(f -> f.toString().endsWith(".jar"))::iterator) {
                Files.createSymbolicLink(jars.resolve(jar.getFileName()), jar.toAbsolutePath());
            }
        }
        return home;
    }

    static int freeTcpPort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName(LOOPBACK))) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static int freeUdpPort() {
        try (DatagramSocket s = new DatagramSocket(0, InetAddress.getByName(LOOPBACK))) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String read(Path f) {
        try {
            return Files.readString(f);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
