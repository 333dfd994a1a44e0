// CpuModel: the reference forward pass of Mixtral (MoE) and Mistral (dense) on the CPU.
//
// Weights are held in fp32 (converted once at load) and every op accumulates in fp32, so this is
// the oracle the CUDA backend and the engine are checked against. Sequences in a batch are run one
// after another, each through all layers: slow, but obviously independent of batch composition.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/backend/backend.h"
#include "runtime/base/status.h"

namespace mixserve::cpu {

// The dimensions the forward pass needs; filled from config.json by the loader.
struct ModelShape {
  int vocab_size = 0;
  int hidden_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int intermediate_size = 0;
  int num_experts = 0;          // 0: dense MLP (Mistral)
  int experts_per_token = 0;
  float rope_theta = 10000.0f;
  float rms_norm_eps = 1e-5f;
  int sliding_window = 0;       // 0: full attention
};

// One expert's SwiGLU MLP (also the dense MLP): down(silu(gate x) * up x).
struct MlpWeights {
  std::vector<float> gate;  // (intermediate, hidden)   HF w1 / gate_proj
  std::vector<float> up;    // (intermediate, hidden)   HF w3 / up_proj
  std::vector<float> down;  // (hidden, intermediate)   HF w2 / down_proj
};

struct LayerWeights {
  std::vector<float> input_norm;      // (hidden,)
  std::vector<float> wq, wk, wv, wo;  // (heads*hd, hidden), (kv*hd, hidden) x2, (hidden, heads*hd)
  std::vector<float> post_attn_norm;  // (hidden,)
  std::vector<float> router;          // (experts, hidden); empty for dense
  std::vector<MlpWeights> experts;    // num_experts entries, or 1 for the dense MLP
};

struct ModelWeightsF32 {
  std::vector<float> embed;       // (vocab, hidden)
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;  // (hidden,)
  std::vector<float> lm_head;     // (vocab, hidden); empty when tied to embed
};

class CpuModel : public Backend {
 public:
  // REQUIRES: weights match shape (the loader checks every tensor's shape).
  CpuModel(ModelShape shape, ModelWeightsF32 weights, int kv_block_tokens, int num_kv_blocks);

  int vocab_size() const override { return shape_.vocab_size; }
  int kv_block_tokens() const override { return kv_block_tokens_; }
  int num_kv_blocks() const override { return num_kv_blocks_; }
  const ModelShape& shape() const { return shape_; }

  Status Forward(const ForwardBatch& batch, ForwardOutput* out) override;

 private:
  // x (T, hidden) <- x + attention(x) for one layer of one sequence, writing its K/V to the cache.
  void AttentionBlock(int layer, const SeqForward& seq, float* x, int T);
  // x (T, hidden) <- x + moe_or_mlp(x) for one layer.
  void MlpBlock(int layer, float* x, int T);
  // Offset of the K (or V) vector of `kv_head` at `pos` in a layer's cache.
  int64_t CacheOffset(const std::vector<int32_t>& block_table, int pos, int kv_head) const;

  ModelShape shape_;
  ModelWeightsF32 w_;
  int kv_block_tokens_;
  int num_kv_blocks_;
  std::vector<std::vector<float>> k_cache_, v_cache_;  // per layer: (blocks, block_tokens, kv_heads, hd)
};

}  // namespace mixserve::cpu
