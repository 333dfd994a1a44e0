// ModelConfig: the architecture a model folder's config.json describes, and the parameter counts
// that follow from it.
//
// Two Hugging Face architectures are understood: MixtralForCausalLM (sparse MoE: each token goes
// to experts_per_token of num_experts feed-forward experts) and MistralForCausalLM (dense: one
// feed-forward block, represented as num_experts = experts_per_token = 1). Loading fails with a
// one-line message naming the field that is missing or wrong.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "runtime/base/status.h"
#include "runtime/model/dtype.h"

namespace mixserve::model {

enum class Architecture { kMixtral, kMistral };

struct ModelConfig {
  Architecture architecture = Architecture::kMixtral;
  std::string architecture_name;  // as config.json spells it, e.g. "MixtralForCausalLM"
  int64_t hidden_size = 0;
  int64_t num_layers = 0;           // num_hidden_layers
  int64_t num_attention_heads = 0;  // query heads
  int64_t num_kv_heads = 0;         // num_key_value_heads; fewer than query heads means GQA
  int64_t head_dim = 0;             // hidden_size / num_attention_heads unless given
  int64_t intermediate_size = 0;    // per expert for Mixtral
  int64_t num_experts = 1;          // num_local_experts; 1 for dense Mistral
  int64_t experts_per_token = 1;    // num_experts_per_tok; 1 for dense Mistral
  double rope_theta = 0;
  double rms_norm_eps = 0;
  std::optional<int64_t> sliding_window_tokens;  // nullopt: full attention
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  bool tie_word_embeddings = false;
  DType dtype = DType::kBF16;  // torch_dtype

  bool is_moe() const { return architecture == Architecture::kMixtral; }
};

// Parses config.json text. Errors name the field, e.g. "missing field num_local_experts".
// Extra fields (rope_scaling, router_aux_loss_coef, ...) are ignored.
Result<ModelConfig> ParseModelConfig(std::string_view json_text);

// Reads and parses the file at `path`; errors start with the path.
Result<ModelConfig> LoadModelConfig(const std::string& path);

// How many parameters a model has and how many one decoded token reads, for roofline math.
// "Touched per token" is batch 1: every layer's attention, norms and router, the top-k experts'
// weights, one embedding row, and the whole lm_head (every vocabulary row is scored).
struct ParameterCounts {
  int64_t embedding = 0;              // vocab_size x hidden_size
  int64_t lm_head = 0;                // 0 when tied to the embedding
  int64_t attention_per_layer = 0;    // q, k, v, o projections
  int64_t norms_per_layer = 0;        // the two RMSNorm weight vectors
  int64_t router_per_layer = 0;       // gate: num_experts x hidden_size (0 when dense)
  int64_t expert_per_layer = 0;       // one expert's (or the dense MLP's) w1, w2, w3
  int64_t final_norm = 0;
  int64_t total = 0;
  int64_t touched_per_token = 0;

  int64_t total_bytes(size_t bytes_per_param) const { return total * static_cast<int64_t>(bytes_per_param); }
  int64_t touched_bytes_per_token(size_t bytes_per_param) const {
    return touched_per_token * static_cast<int64_t>(bytes_per_param);
  }
};

// Fails only when a count does not fit in int64 (never for a config ParseModelConfig accepted).
Result<ParameterCounts> CountParameters(const ModelConfig& config);

}  // namespace mixserve::model
