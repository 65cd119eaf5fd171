package dev.infini.samediff.hf;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.infini.samediff.InfiniConfig;
import dev.infini.samediff.InfiniModel;
import dev.infini.samediff.MemoryEstimate;
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
    /** A key or tensor name given twice is an error (Jackson keeps the last by default). */
    private static final ObjectMapper JSON = new ObjectMapper(JsonFactory.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build());
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
        private boolean allowNonFinite = SafeTensors.allowNonFiniteByDefault();

        /** Overrides {@code segment_size}. */
        public Options segmentSize(Integer s) { this.segmentSize = s; return this; }
        /** Overrides {@code memory_update}. */
        public Options memoryUpdate(MemoryUpdate m) { this.memoryUpdate = m; return this; }
        /** Gate value for checkpoints without gates (0 gives sigmoid 0.5; very negative turns memory off). */
        public Options gateInit(double g) { this.gateInit = g; return this; }
        /** Accept NaN/Inf weights (rejected by default, naming the tensor; the CLI's {@code --allow-non-finite}). */
        public Options allowNonFinite(boolean a) { this.allowNonFinite = a; return this; }
        /** Compute precision (FLOAT; DOUBLE for checks). */
        public Options dtype(DataType d) { this.dtype = d; return this; }
    }

    public static InfiniModel load(Path dir) throws IOException {
        return load(dir, new Options());
    }

    /**
     * Reads the config and all tensors of a checkpoint directory into a model. Everything is checked before the
     * weights are read: the config's values, the memory the shape needs, every file's header, and in a sharded
     * checkpoint that each tensor is in exactly the shard the index names.
     */
    public static InfiniModel load(Path dir, Options opt) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new SafeTensorsException(Files.exists(dir) ? "model directory " + dir + " is a file, not a directory"
                    : "model directory not found: " + dir);
        }
        JsonNode cfgJson = readConfigJson(dir);
        Map<String, Path> files = tensorFiles(dir);
        List<SafeTensors.Reader> readers = new ArrayList<>();
        try {
            Map<String, SafeTensors.Reader> byTensor = new LinkedHashMap<>();
            if (files.isEmpty()) {
                // A single model.safetensors: every tensor of its header counts.
                SafeTensors.Reader r = SafeTensors.open(dir.resolve(SINGLE), opt.allowNonFinite);
                readers.add(r);
                for (String name : r.tensors().keySet()) {
                    byTensor.put(name, r);
                }
            } else {
                openShards(dir, files, opt.allowNonFinite, readers, byTensor);
            }
            // An lm_head.weight in the checkpoint means an untied head (spec: "tied unless lm_head.weight exists").
            ObjectNode cfgNode = ((ObjectNode) cfgJson).deepCopy();
            if (byTensor.containsKey(TensorNames.LM_HEAD)) {
                cfgNode.put("tie_word_embeddings", false);
            }
            InfiniConfig config = withOptions(InfiniConfig.fromJson(cfgNode), opt);
            MemoryEstimate.check(config, opt.dtype, 1, dir.toString());
            return InfiniModel.of(config, readTensors(dir, config, byTensor, opt.gateInit), opt.dtype);
        } finally {
            for (SafeTensors.Reader r : readers) {
                r.close();
            }
        }
    }

    private static JsonNode readConfigJson(Path dir) throws IOException {
        Path cfgFile = dir.resolve(CONFIG);
        if (!Files.exists(cfgFile) && !Files.isSymbolicLink(cfgFile)) {
            throw new java.nio.file.NoSuchFileException(cfgFile.toString(), null,
                    "no " + CONFIG + " in " + dir + " (not a Hugging Face checkpoint directory)");
        }
        SafeTensors.requireRegularFile(cfgFile, CONFIG);
        try {
            JsonNode n = JSON.readTree(cfgFile.toFile());
            if (n == null || !n.isObject()) {
                throw new SafeTensorsException(cfgFile + ": must hold a JSON object");
            }
            return n;
        } catch (SafeTensorsException e) {
            throw e;
        } catch (IOException e) {
            throw new SafeTensorsException(cfgFile + ": not valid JSON: " + oneLine(e));
        }
    }

    private static String oneLine(IOException e) {
        String m = e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
        return String.valueOf(m).replace('\n', ' ');
    }

    private static InfiniConfig withOptions(InfiniConfig config, Options opt) {
        if (opt.segmentSize == null && opt.memoryUpdate == null) {
            return config;
        }
        InfiniConfig.Builder b = config.toBuilder();
        if (opt.segmentSize != null) {
            b.segmentSize(opt.segmentSize);
        }
        if (opt.memoryUpdate != null) {
            b.memoryUpdate(opt.memoryUpdate);
        }
        return b.build();
    }

    /**
     * Opens every shard the index names and checks that each tensor is where the index says: present in its shard,
     * in no other shard, and no shard holds a tensor the index does not list.
     */
    private static void openShards(Path dir, Map<String, Path> files, boolean allowNonFinite,
                                   List<SafeTensors.Reader> readers, Map<String, SafeTensors.Reader> byTensor)
            throws IOException {
        Path index = dir.resolve(INDEX);
        Map<Path, SafeTensors.Reader> opened = new LinkedHashMap<>();
        for (Path shard : new java.util.LinkedHashSet<>(files.values())) {
            SafeTensors.Reader r = SafeTensors.open(shard, allowNonFinite);
            opened.put(shard, r);
            readers.add(r);
        }
        for (Map.Entry<String, Path> e : files.entrySet()) {
            SafeTensors.Reader r = opened.get(e.getValue());
            if (!r.tensors().containsKey(e.getKey())) {
                throw new SafeTensorsException(index + ": tensor " + e.getKey() + " is listed in shard "
                        + e.getValue().getFileName() + " but that file does not hold it");
            }
            byTensor.put(e.getKey(), r);
        }
        for (SafeTensors.Reader r : opened.values()) {
            for (String name : r.tensors().keySet()) {
                Path listed = files.get(name);
                if (listed == null) {
                    throw new SafeTensorsException(index + ": shard " + r.file().getFileName() + " holds tensor " + name
                            + ", which the index's weight_map does not list");
                }
                if (!listed.equals(r.file())) {
                    throw new SafeTensorsException(index + ": tensor " + name + " is in shard " + r.file().getFileName()
                            + " as well as in " + listed.getFileName() + ", the shard the index names");
                }
            }
        }
    }

    /** Tensor name to file: from the index's weight_map, or empty for the single model.safetensors. */
    static Map<String, Path> tensorFiles(Path dir) throws IOException {
        Map<String, Path> out = new LinkedHashMap<>();
        Path index = dir.resolve(INDEX);
        if (Files.exists(index) || Files.isSymbolicLink(index)) {
            SafeTensors.requireRegularFile(index, "index");
            JsonNode map = readWeightMap(index);
            Map<String, Path> checked = new java.util.HashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (!e.getValue().isTextual()) {
                    throw new SafeTensorsException(index + ": weight_map value of tensor " + e.getKey()
                            + " must be a shard file name, got " + e.getValue());
                }
                String name = e.getValue().textValue();
                Path shard = dir.resolve(name);
                if (name.isEmpty() || name.equals(".") || name.equals("..") || name.contains("/") || name.contains("\\")) {
                    throw new SafeTensorsException(index + ": tensor " + e.getKey() + " names shard '" + name
                            + "', which is not a file name in " + dir);
                }
                if (checked.putIfAbsent(name, shard) == null) {
                    SafeTensors.requireRegularFile(shard, index + ": shard " + name + " (of tensor " + e.getKey() + ")");
                }
                out.put(e.getKey(), shard);
            }
            return out;
        }
        Path single = dir.resolve(SINGLE);
        if (!Files.exists(single) && !Files.isSymbolicLink(single)) {
            throw new SafeTensorsException(dir + ": neither " + SINGLE + " nor " + INDEX + " found");
        }
        SafeTensors.requireRegularFile(single, "weights file");
        return out; // the single file's tensors are added from its header
    }

    private static JsonNode readWeightMap(Path index) throws IOException {
        JsonNode root;
        try {
            root = JSON.readTree(index.toFile());
        } catch (IOException e) {
            throw new SafeTensorsException(index + ": not valid JSON: " + oneLine(e));
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw new SafeTensorsException(index + ": no weight_map object");
        }
        if (map.isEmpty()) {
            throw new SafeTensorsException(index + ": the weight_map is empty (it lists no tensors)");
        }
        return map;
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
                throw new SafeTensorsException(r.file() + ": no tensor " + spec.name());
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
