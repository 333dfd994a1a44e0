#include "runtime/backend/cpu/cpu_loader.h"

#include "runtime/model/weights.h"

namespace mixserve::cpu {
namespace {

// Reads one tensor of the expected shape as fp32.
class Reader {
 public:
  explicit Reader(const model::ModelWeights& weights) : weights_(weights) {}

  std::vector<float> Read(const std::string& name, const std::vector<int64_t>& shape) {
    if (!status_.ok()) return {};
    auto view = weights_.Expect(name, shape);
    if (!view.ok()) {
      status_ = view.status();
      return {};
    }
    return model::ToF32(*view);
  }
  bool Has(const std::string& name) const { return weights_.FileOf(name).has_value(); }
  const Status& status() const { return status_; }

 private:
  const model::ModelWeights& weights_;
  Status status_;
};

}  // namespace

ModelShape ShapeFromConfig(const model::ModelConfig& c) {
  ModelShape s;
  s.vocab_size = static_cast<int>(c.vocab_size);
  s.hidden_size = static_cast<int>(c.hidden_size);
  s.num_layers = static_cast<int>(c.num_layers);
  s.num_heads = static_cast<int>(c.num_attention_heads);
  s.num_kv_heads = static_cast<int>(c.num_kv_heads);
  s.head_dim = static_cast<int>(c.head_dim);
  s.intermediate_size = static_cast<int>(c.intermediate_size);
  s.num_experts = c.is_moe() ? static_cast<int>(c.num_experts) : 0;
  s.experts_per_token = c.is_moe() ? static_cast<int>(c.experts_per_token) : 0;
  s.rope_theta = static_cast<float>(c.rope_theta);
  s.rms_norm_eps = static_cast<float>(c.rms_norm_eps);
  s.sliding_window = c.sliding_window_tokens ? static_cast<int>(*c.sliding_window_tokens) : 0;
  return s;
}

Result<std::unique_ptr<CpuModel>> LoadCpuModel(const std::string& model_dir, const CpuModelOptions& options) {
  auto config = model::LoadModelConfig(model_dir + "/config.json");
  if (!config.ok()) return config.status();
  ModelShape s = ShapeFromConfig(*config);
  if (options.num_layers > 0 && options.num_layers < s.num_layers) s.num_layers = options.num_layers;
  if (s.num_heads % s.num_kv_heads != 0) {
    return Status::InvalidArgument("config: num_attention_heads must be a multiple of num_key_value_heads");
  }
  auto weights = model::ModelWeights::Open(model_dir);
  if (!weights.ok()) return weights.status();

  const int64_t V = s.vocab_size, H = s.hidden_size, I = s.intermediate_size, hd = s.head_dim;
  const int64_t q_dim = s.num_heads * hd, kv_dim = s.num_kv_heads * hd;
  Reader r(*weights);
  ModelWeightsF32 w;
  w.embed = r.Read("model.embed_tokens.weight", {V, H});
  w.final_norm = r.Read("model.norm.weight", {H});
  if (!config->tie_word_embeddings || r.Has("lm_head.weight")) w.lm_head = r.Read("lm_head.weight", {V, H});
  w.layers.resize(s.num_layers);
  for (int i = 0; i < s.num_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    LayerWeights& l = w.layers[i];
    l.input_norm = r.Read(p + "input_layernorm.weight", {H});
    l.post_attn_norm = r.Read(p + "post_attention_layernorm.weight", {H});
    l.wq = r.Read(p + "self_attn.q_proj.weight", {q_dim, H});
    l.wk = r.Read(p + "self_attn.k_proj.weight", {kv_dim, H});
    l.wv = r.Read(p + "self_attn.v_proj.weight", {kv_dim, H});
    l.wo = r.Read(p + "self_attn.o_proj.weight", {H, q_dim});
    if (s.num_experts > 0) {
      l.router = r.Read(p + "block_sparse_moe.gate.weight", {s.num_experts, H});
      l.experts.resize(s.num_experts);
      for (int e = 0; e < s.num_experts; ++e) {
        const std::string q = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
        l.experts[e].gate = r.Read(q + "w1.weight", {I, H});
        l.experts[e].down = r.Read(q + "w2.weight", {H, I});
        l.experts[e].up = r.Read(q + "w3.weight", {I, H});
      }
    } else {
      l.experts.resize(1);
      l.experts[0].gate = r.Read(p + "mlp.gate_proj.weight", {I, H});
      l.experts[0].up = r.Read(p + "mlp.up_proj.weight", {I, H});
      l.experts[0].down = r.Read(p + "mlp.down_proj.weight", {H, I});
    }
  }
  if (!r.status().ok()) return r.status().WithContext(model_dir);
  return std::make_unique<CpuModel>(s, std::move(w), options.kv_block_tokens, options.num_kv_blocks);
}

}  // namespace mixserve::cpu
