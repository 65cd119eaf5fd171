package dev.infini.zoo.models;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.zip.Adler32;

/**
 * Copies a pretrained model's files from a directory URL (the jar's resources, a file or an http(s) server) into a
 * local cache directory, the way DL4J's {@code ZooModel.initPretrained} does for one file: the manifest
 * ({@value InfiniPretrained#SUMS}) first, checked by Adler32 against {@code pretrainedChecksum}, then every file it
 * lists, checked by SHA-256. Files already in the cache with the right SHA-256 are kept; a mismatch deletes the
 * download and names the URL, the file and both checksums.
 */
final class PretrainedFiles {
    private static final Logger log = LoggerFactory.getLogger(PretrainedFiles.class);

    private PretrainedFiles() {
    }

    /** The verified local copy of the model at {@code baseUrl} (ending in '/'), in {@code dir}. */
    static Path materialise(String baseUrl, long expectedAdler32, Path dir) throws IOException {
        Files.createDirectories(dir);
        Path sums = dir.resolve(InfiniPretrained.SUMS);
        Path part = download(baseUrl + InfiniPretrained.SUMS, dir);
        long got = adler32(part);
        if (got != expectedAdler32) {
            Files.deleteIfExists(part);
            throw new IOException("checksum mismatch for " + baseUrl + InfiniPretrained.SUMS + ": Adler32 " + got
                    + ", expected " + expectedAdler32 + " (a user-hosted copy must hold the same files as models/<name>/)");
        }
        Files.move(part, sums, StandardCopyOption.REPLACE_EXISTING);
        Map<String, String> files = InfiniPretrained.parseManifest(Files.readAllBytes(sums), sums.toString());
        int fetched = 0;
        for (Map.Entry<String, String> e : files.entrySet()) {
            Path target = dir.resolve(e.getKey());
            if (Files.isRegularFile(target) && sha256(target).equals(e.getValue())) {
                continue;
            }
            Path tmp = download(baseUrl + e.getKey(), dir);
            String sha = sha256(tmp);
            if (!sha.equals(e.getValue())) {
                Files.deleteIfExists(tmp);
                throw new IOException("SHA-256 mismatch for " + baseUrl + e.getKey() + ": expected " + e.getValue()
                        + " (from " + InfiniPretrained.SUMS + "), got " + sha);
            }
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            fetched++;
        }
        log.info("pretrained model from {}: {} file(s) verified in {} ({} copied)", baseUrl, files.size(), dir, fetched);
        return dir;
    }

    private static Path download(String url, Path dir) throws IOException {
        Path part = Files.createTempFile(dir, "download", ".part");
        try (InputStream in = URI.create(url).toURL().openStream()) {
            Files.copy(in, part, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException | IllegalArgumentException e) {
            Files.deleteIfExists(part);
            throw new IOException("cannot read " + url + ": " + e, e);
        }
        return part;
    }

    static long adler32(byte[] bytes) {
        Adler32 a = new Adler32();
        a.update(bytes);
        return a.getValue();
    }

    static long adler32(Path file) throws IOException {
        return adler32(Files.readAllBytes(file));
    }

    static String sha256(Path file) throws IOException {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            try (InputStream in = Files.newInputStream(file)) {
                byte[] buf = new byte[1 << 16];
                for (int n; (n = in.read(buf)) > 0; ) {
                    md.update(buf, 0, n);
                }
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
