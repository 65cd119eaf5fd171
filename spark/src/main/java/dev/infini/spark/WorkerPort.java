package dev.infini.spark;

import org.nd4j.parameterserver.distributed.v2.transport.PortSupplier;

/**
 * The UDP port an executor's {@link org.deeplearning4j.spark.parameterserver.training.SharedTrainingMaster} transport
 * binds: the executor's environment variable {@value #ENV} when set (several executors on one host each need their
 * own port; a standalone worker passes its environment on to its executors), otherwise the port chosen on the driver.
 * DL4J M2's own {@code StaticPortSupplier(int)} ignores its argument and always answers 49876, so it cannot do this.
 */
final class WorkerPort implements PortSupplier {
    private static final long serialVersionUID = 1L;
    /** Environment variable of an executor (or of the standalone worker that starts it): its transport's port. */
    static final String ENV = "INFINI_SPARK_WORKER_PORT";

    private final int fallback;

    WorkerPort(int fallback) {
        this.fallback = check(fallback, "infini.spark.workerPort");
    }

    @Override
    public int getPort() {
        String env = System.getenv(ENV);
        if (env == null || env.isBlank()) {
            return fallback;
        }
        try {
            return check(Integer.parseInt(env.trim()), ENV);
        } catch (NumberFormatException e) {
            throw new IllegalStateException(ENV + " is not a port: " + env, e);
        }
    }

    private static int check(int port, String what) {
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException(what + " must be a port in 1..65535, got " + port);
        }
        return port;
    }
}
