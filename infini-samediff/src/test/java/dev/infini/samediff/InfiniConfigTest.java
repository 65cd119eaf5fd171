package dev.infini.samediff;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InfiniConfigTest {
    private static final String GEMMA_2B = "{\"architectures\":[\"GemmaForCausalLM\"],\"model_type\":\"gemma\","
            + "\"vocab_size\":256000,\"hidden_size\":2048,\"intermediate_size\":16384,\"num_hidden_layers\":18,"
            + "\"num_attention_heads\":8,\"num_key_value_heads\":1,\"head_dim\":256,\"rms_norm_eps\":1e-06,"
            + "\"rope_theta\":10000.0,\"hidden_act\":\"gelu\",\"hidden_activation\":\"gelu_pytorch_tanh\","
            + "\"bos_token_id\":2,\"eos_token_id\":1,\"pad_token_id\":0,\"max_position_embeddings\":8192,"
            + "\"torch_dtype\":\"bfloat16\"}";

    @Test
    @DisplayName("Gemma-2B's config.json binds with the spec's values and defaults for the Infini keys")
    void gemma2bBinds() {
        InfiniConfig c = InfiniConfig.parse(GEMMA_2B);
        assertEquals(ModelFamily.GEMMA, c.family());
        assertEquals(256000, c.vocabSize());
        assertEquals(8, c.groupSize());
        assertTrue(c.tieWordEmbeddings());
        assertEquals(MemoryUpdate.LINEAR, c.memoryUpdate());
        assertEquals(InfiniConfig.Activation.GELU_TANH, c.activation());
        assertEquals(2_506_172_416L, c.parameterCount() - 18 * 8); // HF's published count plus 8 gates per layer
        assertEquals(c, InfiniConfig.parse(c.toJson().toString()));
    }

    @Test
    @DisplayName("Llama configs without head_dim derive it; segment_size and memory_update are read")
    void llamaDerivesHeadDim() {
        InfiniConfig c = InfiniConfig.parse("{\"model_type\":\"llama\",\"vocab_size\":32000,\"hidden_size\":2048,"
                + "\"intermediate_size\":5632,\"num_hidden_layers\":22,\"num_attention_heads\":32,"
                + "\"num_key_value_heads\":4,\"hidden_act\":\"silu\",\"tie_word_embeddings\":false,"
                + "\"segment_size\":512,\"memory_update\":\"delta\"}");
        assertEquals(64, c.headDim());
        assertEquals(512, c.segmentSize());
        assertEquals(MemoryUpdate.DELTA, c.memoryUpdate());
        assertEquals(InfiniConfig.Activation.SILU, c.activation());
    }

    private static String error(String json) {
        return assertThrows(InfiniConfigException.class, () -> InfiniConfig.parse(json)).getMessage();
    }

    @Test
    @DisplayName("missing, malformed and inconsistent keys are errors that name the key")
    void badKeysAreNamed() {
        assertTrue(error(GEMMA_2B.replace("\"num_hidden_layers\":18,", "")).contains("'num_hidden_layers'"));
        assertTrue(error(GEMMA_2B.replace("\"num_key_value_heads\":1", "\"num_key_value_heads\":3")).contains("num_key_value_heads (3)"));
        assertTrue(error(GEMMA_2B.replace("\"model_type\":\"gemma\"", "\"model_type\":\"qwen2\"")).contains("model_type 'qwen2'"));
        assertTrue(error(GEMMA_2B.replace("\"hidden_size\":2048", "\"hidden_size\":\"big\"")).contains("hidden_size must be an integer"));
        assertTrue(error(GEMMA_2B.replace("}", ",\"memory_update\":\"quadratic\"}")).contains("memory_update"));
        assertTrue(error(GEMMA_2B.replace("}", ",\"segment_size\":0}")).contains("segment_size must be a positive"));
        assertTrue(error(GEMMA_2B.replace("\"head_dim\":256", "\"head_dim\":255")).contains("head_dim must be even"));
        assertTrue(error(GEMMA_2B.replace("\"eos_token_id\":1", "\"eos_token_id\":256000")).contains("eos_token_id"));
        assertTrue(error(GEMMA_2B.replace("\"hidden_activation\":\"gelu_pytorch_tanh\"", "\"hidden_activation\":\"relu\"")).contains("hidden_act"));
    }

    @Test
    @DisplayName("token_shift is off unless the key says true, is written only when on, and a non-boolean is named")
    void tokenShiftKey() throws Exception {
        com.fasterxml.jackson.databind.ObjectMapper om = new com.fasterxml.jackson.databind.ObjectMapper();
        InfiniConfig plain = InfiniConfig.builder(ModelFamily.GEMMA).vocabSize(64).hiddenSize(32).intermediateSize(64)
                .numLayers(2).numHeads(4).numKvHeads(1).headDim(8).build();
        assertFalse(plain.tokenShift());
        assertFalse(plain.toJson().has("token_shift"));
        InfiniConfig shifted = plain.toBuilder().tokenShift(true).build();
        assertTrue(shifted.toJson().get("token_shift").booleanValue());
        assertEquals(shifted, InfiniConfig.fromJson(shifted.toJson()));
        assertEquals(plain.parameterCount() + 64L * 32, shifted.parameterCount());
        assertTrue(TensorNames.all(shifted).stream().anyMatch(sp -> sp.name().equals(TensorNames.PREV_EMBED)));
        assertFalse(TensorNames.all(plain).stream().anyMatch(sp -> sp.name().equals(TensorNames.PREV_EMBED)));
        var bad = (com.fasterxml.jackson.databind.node.ObjectNode) plain.toJson();
        bad.put("token_shift", "yes");
        InfiniConfigException e = assertThrows(InfiniConfigException.class, () -> InfiniConfig.fromJson(bad));
        assertEquals("token_shift", e.key());
        assertTrue(e.getMessage().contains("true or false"), e.getMessage());
    }

    @Test
    @DisplayName("head_dim 0 or negative is rejected, never replaced by hidden_size / num_attention_heads")
    void headDimZeroOrNegativeRejected() {
        assertTrue(error(GEMMA_2B.replace("\"head_dim\":256", "\"head_dim\":0")).contains("head_dim must be a positive integer, got 0"));
        assertTrue(error(GEMMA_2B.replace("\"head_dim\":256", "\"head_dim\":-8")).contains("head_dim must be a positive integer, got -8"));
        assertTrue(error(GEMMA_2B.replace("\"head_dim\":256,", "").replace("\"hidden_size\":2048", "\"hidden_size\":2047"))
                .contains("not a multiple of num_attention_heads"));
    }

    @Test
    @DisplayName("values beyond any real model are refused with the key and the limit, before anything is allocated")
    void absurdValuesRefused() {
        String layers = error(GEMMA_2B.replace("\"num_hidden_layers\":18", "\"num_hidden_layers\":1000000"));
        assertTrue(layers.contains("num_hidden_layers = 1000000 is larger than"), layers);
        assertTrue(error(GEMMA_2B.replace("\"hidden_size\":2048", "\"hidden_size\":1000000000")).contains("hidden_size"));
        assertTrue(error(GEMMA_2B.replace("}", ",\"segment_size\":1000000000}")).contains("segment_size = 1000000000"));
        assertTrue(error(GEMMA_2B.replace("\"head_dim\":256", "\"head_dim\":256.5")).contains("head_dim must be an integer"));
        assertTrue(error(GEMMA_2B.replace("\"head_dim\":256", "\"head_dim\":256,\"head_dim\":128")).contains("Duplicate field 'head_dim'"));
    }

    @Test
    @DisplayName("a shape that cannot fit in this machine's memory is refused with the estimate in the message")
    void memoryEstimateRefusesHugeShapes() {
        InfiniConfig huge = InfiniConfig.parse(GEMMA_2B.replace("\"num_hidden_layers\":18", "\"num_hidden_layers\":60000")
                .replace("\"hidden_size\":2048", "\"hidden_size\":65536"));
        MemoryEstimate e = MemoryEstimate.of(huge, org.nd4j.linalg.api.buffer.DataType.FLOAT, 1);
        assertTrue(e.parameterBytes() > 1e14, "estimate " + e);
        String msg = assertThrows(InfiniConfigException.class, () -> InfiniModel.random(huge, 1)).getMessage();
        assertTrue(msg.contains("needs at least") && msg.contains("but this machine has") && msg.contains("layers=60000"), msg);
        InfiniConfig small = InfiniConfig.parse(GEMMA_2B);
        MemoryEstimate s = MemoryEstimate.of(small, org.nd4j.linalg.api.buffer.DataType.FLOAT, 1);
        assertEquals(4.0 * small.parameterCount(), s.parameterBytes(), 1.0);
        assertTrue(s.activationBytes() > 0 && s.activationBytes() < s.parameterBytes());
    }

    @Test
    @DisplayName("exports say infini-gemma / InfiniGemmaForCausalLM; infini, plain, mistral and eos lists are all read")
    void infiniNamesMistralAndEosLists() {
        InfiniConfig c = InfiniConfig.parse(GEMMA_2B);
        assertEquals("infini-gemma", c.toJson().get("model_type").asText());
        assertEquals("InfiniGemmaForCausalLM", c.toJson().get("architectures").get(0).asText());
        assertEquals(c, InfiniConfig.parse(c.toJson().toString()));
        String llama3 = "{\"model_type\":\"llama\",\"vocab_size\":128256,\"hidden_size\":2048,\"intermediate_size\":8192,"
                + "\"num_hidden_layers\":16,\"num_attention_heads\":32,\"num_key_value_heads\":8,\"bos_token_id\":128000,"
                + "\"eos_token_id\":[128001,128008,128009]}";
        InfiniConfig l3 = InfiniConfig.parse(llama3);
        assertEquals(128001, l3.eosTokenId());
        assertEquals(3, l3.eosTokenIds().length);
        assertEquals("InfiniLlamaForCausalLM", l3.toJson().get("architectures").get(0).asText());
        assertEquals(l3, InfiniConfig.parse(l3.toJson().toString()));
        assertTrue(error(llama3.replace("128009]", "999999]")).contains("eos_token_id = 999999"));
        assertTrue(error(llama3.replace("[128001,128008,128009]", "[]")).contains("non-empty list"));
        InfiniConfig mistral = InfiniConfig.parse(llama3.replace("\"llama\"", "\"mistral\"").replace("}", ",\"sliding_window\":4096}"));
        assertEquals(ModelFamily.LLAMA, mistral.family());
        assertEquals(ModelFamily.LLAMA, InfiniConfig.parse(llama3.replace("\"llama\"", "\"infini-llama\"")).family());
        assertTrue(error(llama3.replace("}", ",\"rope_scaling\":{\"type\":\"llama3\"}}")).contains("rope_scaling is not supported"));
    }
}
