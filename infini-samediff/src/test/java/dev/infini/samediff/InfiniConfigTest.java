package dev.infini.samediff;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
        assertTrue(error(GEMMA_2B.replace("\"model_type\":\"gemma\"", "\"model_type\":\"mistral\"")).contains("model_type 'mistral'"));
        assertTrue(error(GEMMA_2B.replace("\"hidden_size\":2048", "\"hidden_size\":\"big\"")).contains("hidden_size must be an integer"));
        assertTrue(error(GEMMA_2B.replace("}", ",\"memory_update\":\"quadratic\"}")).contains("memory_update"));
        assertTrue(error(GEMMA_2B.replace("}", ",\"segment_size\":0}")).contains("segment_size must be a positive"));
        assertTrue(error(GEMMA_2B.replace("\"head_dim\":256", "\"head_dim\":255")).contains("head_dim must be even"));
        assertTrue(error(GEMMA_2B.replace("\"eos_token_id\":1", "\"eos_token_id\":256000")).contains("eos_token_id"));
        assertTrue(error(GEMMA_2B.replace("\"hidden_activation\":\"gelu_pytorch_tanh\"", "\"hidden_activation\":\"relu\"")).contains("hidden_act"));
    }
}
