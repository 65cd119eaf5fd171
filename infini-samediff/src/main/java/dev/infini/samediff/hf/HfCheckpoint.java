package dev.infini.samediff.hf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryUpdate;
import dev.infini.samediff.TensorNames;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A Hugging Face checkpoint directory: {@code config.json} plus {@code model.safetensors}, or shards
 * listed in {@code model.safetensors.index.json}. Weights are found by their Hugging Face names, so
 * import and export are name lookups; a plain Gemma or Llama checkpoint (no {@code self_attn.gate})
 * loads with its gates set from {@link Options#gateInit}.
 */
public final class HfCheckpoint {
    private static final Logger log = LoggerFactory.getLogger(HfCheckpoint.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    public static final String CONFIG = "config.json";
    public static final String SINGLE = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";

    private HfCheckpoint() {
    }

    /** Load-time choices; the defaults keep what the checkpoint says. */
    public static final class Options {
        private Integer segmentSize;
        private MemoryUpdate memoryUpdate;
        private double gateInit = 0.0;
        private DataType dtype = DataType.FLOAT;

        /** Overrides {@code segment_size}. */
        public Options segmentSize(Integer s) { this.segmentSize = s; return this; }
        /** Overrides {@code memory_update}. */
        public Options memoryUpdate(MemoryUpdate m) { this.memoryUpdate = m; return this; }
        /** Gate value for checkpoints without gates (0 gives sigmoid 0.5; very negative turns memory off). */
        public Options gateInit(double g) { this.gateInit = g; return this; }
        /** Compute precision (FLOAT; DOUBLE for checks). */
        public Options dtype(DataType d) { this.dtype = d; return this; }
    }

    public static InfiniModel load(Path dir) throws IOException {
        return load(dir, new Options());
    }

    /** Reads the config and all tensors of a checkpoint directory into a model. */
    public static InfiniModel load(Path dir, Options opt) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new SafeTensorsException("model directory not found: " + dir);
        }
        JsonNode cfgJson;
        Path cfgFile = dir.resolve(CONFIG);
        if (!Files.isRegularFile(cfgFile)) {
            throw new java.nio.file.NoSuchFileException(cfgFile.toString(), null,
                    "no " + CONFIG + " in " + dir + " (not a Hugging Face checkpoint directory)");
        }
        try {
            cfgJson = JSON.readTree(cfgFile.toFile());
        } catch (IOException e) {
            throw new SafeTensorsException(cfgFile + ": not valid JSON: " + e.getMessage());
        }
        Map<String, Path> files = tensorFiles(dir);
        List<SafeTensors.Reader> readers = new ArrayList<>();
        try {
            Map<String, SafeTensors.Reader> byTensor = new LinkedHashMap<>();
            Map<Path, SafeTensors.Reader> opened = new LinkedHashMap<>();
            for (Map.Entry<String, Path> e : files.entrySet()) {
                SafeTensors.Reader r = opened.get(e.getValue());
                if (r == null) {
                    r = SafeTensors.open(e.getValue());
                    opened.put(e.getValue(), r);
                    readers.add(r);
                }
                byTensor.put(e.getKey(), r);
            }
            if (files.isEmpty()) {
                // A single model.safetensors: every tensor of its header counts.
                SafeTensors.Reader r = SafeTensors.open(dir.resolve(SINGLE));
                readers.add(r);
                for (String name : r.tensors().keySet()) {
                    byTensor.put(name, r);
                }
            }
            // An lm_head.weight in the checkpoint means an untied head (spec: "tied unless lm_head.weight exists").
            ObjectNode cfgNode = ((ObjectNode) cfgJson).deepCopy();
            if (byTensor.containsKey(TensorNames.LM_HEAD)) {
                cfgNode.put("tie_word_embeddings", false);
            }
            InfiniConfig config = InfiniConfig.fromJson(cfgNode);
            if (opt.segmentSize != null || opt.memoryUpdate != null) {
                InfiniConfig.Builder b = config.toBuilder();
                if (opt.segmentSize != null) {
                    b.segmentSize(opt.segmentSize);
                }
                if (opt.memoryUpdate != null) {
                    b.memoryUpdate(opt.memoryUpdate);
                }
                config = b.build();
            }
            return InfiniModel.of(config, readTensors(dir, config, byTensor, opt.gateInit), opt.dtype);
        } finally {
            for (SafeTensors.Reader r : readers) {
                r.close();
            }
        }
    }

    /** Tensor name to file: from the index's weight_map, or the single model.safetensors. */
    static Map<String, Path> tensorFiles(Path dir) throws IOException {
        Map<String, Path> out = new LinkedHashMap<>();
        Path index = dir.resolve(INDEX);
        if (Files.isRegularFile(index)) {
            JsonNode root;
            try {
                root = JSON.readTree(index.toFile());
            } catch (IOException e) {
                throw new SafeTensorsException(index + ": not valid JSON: " + e.getMessage());
            }
            JsonNode map = root.get("weight_map");
            if (map == null || !map.isObject()) {
                throw new SafeTensorsException(index + ": no weight_map object");
            }
            for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                Path shard = dir.resolve(e.getValue().asText());
                if (!Files.isRegularFile(shard)) {
                    throw new SafeTensorsException(index + ": tensor " + e.getKey() + " is in shard "
                            + e.getValue().asText() + ", which does not exist");
                }
                out.put(e.getKey(), shard);
            }
            return out;
        }
        Path single = dir.resolve(SINGLE);
        if (!Files.isRegularFile(single)) {
            throw new SafeTensorsException(dir + ": neither " + SINGLE + " nor " + INDEX + " found");
        }
        return out; // the single file's tensors are added from its header
    }

    private static Map<String, INDArray> readTensors(Path dir, InfiniConfig config, Map<String, SafeTensors.Reader> byTensor,
                                                     double gateInit) throws IOException {
        Map<String, TensorNames.Spec> expected = new LinkedHashMap<>();
        for (TensorNames.Spec s : TensorNames.all(config)) {
            expected.put(s.name(), s);
        }
        for (String name : byTensor.keySet()) {
            if (!expected.containsKey(name) && !name.endsWith(".rotary_emb.inv_freq")) {
                throw new SafeTensorsException(dir + ": unknown tensor " + name + " (not part of " + config + ")");
            }
        }
        int gates = 0;
        for (int i = 0; i < config.numLayers(); i++) {
            if (byTensor.containsKey(TensorNames.gate(i))) {
                gates++;
            }
        }
        boolean plain = gates == 0;
        if (plain) {
            log.info("{}: checkpoint has no self_attn.gate tensors (a plain {} model): gates set to {} (sigmoid {})",
                    dir, config.family().modelType(), gateInit, String.format("%.4g", 1 / (1 + Math.exp(-gateInit))));
        }
        Map<String, INDArray> weights = new LinkedHashMap<>();
        for (TensorNames.Spec spec : expected.values()) {
            SafeTensors.Reader r = byTensor.get(spec.name());
            if (r == null) {
                if (plain && spec.kind() == TensorNames.Kind.GATE) {
                    weights.put(spec.name(), org.nd4j.linalg.factory.Nd4j.valueArrayOf(spec.shape(), gateInit, DataType.FLOAT));
                    continue;
                }
                throw new SafeTensorsException(dir + ": missing tensor " + spec.name() + " (expected shape "
                        + Arrays.toString(spec.shape()) + ")");
            }
            SafeTensors.TensorInfo info = r.tensors().get(spec.name());
            if (info == null) {
                throw new SafeTensorsException(r.file() + ": the index lists tensor " + spec.name() + " here but the file does not hold it");
            }
            if (!Arrays.equals(info.shape(), spec.shape())) {
                throw new SafeTensorsException(r.file() + ": tensor " + spec.name() + " has shape "
                        + Arrays.toString(info.shape()) + " but the config expects " + Arrays.toString(spec.shape()));
            }
            weights.put(spec.name(), r.readFloat(spec.name()));
        }
        return weights;
    }

    /**
     * Writes a model as a Hugging Face checkpoint directory: {@code config.json} and
     * {@code model.safetensors}, or shards of at most {@code maxShardBytes} with an index when larger.
     */
    public static void save(InfiniModel model, Path dir, SafeTensors.Dtype dtype, long maxShardBytes) throws IOException {
        Files.createDirectories(dir);
        InfiniConfig c = model.config();
        ObjectNode cfg = c.toJson();
        cfg.put("torch_dtype", dtype.torchName());
        Path cfgTmp = dir.resolve(CONFIG + ".tmp");
        Files.writeString(cfgTmp, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(cfg) + "\n");
        List<Map<String, INDArray>> shards = new ArrayList<>();
        Map<String, INDArray> cur = new LinkedHashMap<>();
        long curBytes = 0, total = 0;
        for (Map.Entry<String, INDArray> e : model.weights().entrySet()) {
            long bytes = e.getValue().length() * dtype.bytes();
            if (!cur.isEmpty() && curBytes + bytes > maxShardBytes) {
                shards.add(cur);
                cur = new LinkedHashMap<>();
                curBytes = 0;
            }
            cur.put(e.getKey(), e.getValue());
            curBytes += bytes;
            total += bytes;
        }
        shards.add(cur);
        if (shards.size() == 1) {
            SafeTensors.write(dir.resolve(SINGLE), shards.get(0), dtype, null);
            Files.deleteIfExists(dir.resolve(INDEX));
        } else {
            Map<String, String> weightMap = new TreeMap<>();
            for (int i = 0; i < shards.size(); i++) {
                String name = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
                SafeTensors.write(dir.resolve(name), shards.get(i), dtype, null);
                for (String t : shards.get(i).keySet()) {
                    weightMap.put(t, name);
                }
            }
            ObjectNode index = JSON.createObjectNode();
            index.putObject("metadata").put("total_size", total);
            ObjectNode wm = index.putObject("weight_map");
            weightMap.forEach(wm::put);
            Path tmp = dir.resolve(INDEX + ".tmp");
            Files.writeString(tmp, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(index) + "\n");
            Files.move(tmp, dir.resolve(INDEX), java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            Files.deleteIfExists(dir.resolve(SINGLE));
        }
        Files.move(cfgTmp, dir.resolve(CONFIG), java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    public static void save(InfiniModel model, Path dir) throws IOException {
        save(model, dir, SafeTensors.Dtype.F32, Long.MAX_VALUE);
    }
}
