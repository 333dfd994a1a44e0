#include "runtime/server/random_cpu_model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace mixserve::server {
namespace {

// splitmix64: a fast, well-mixed stream, the same on every platform.
class Noise {
 public:
  explicit Noise(uint64_t seed) : state_(seed * 0x9e3779b97f4a7c15ULL + 1) {}
  std::vector<float> Matrix(int64_t n) {
    // Uniform in [-a, a] has standard deviation a / sqrt(3).
    const float a = 0.02f * std::sqrt(3.0f);
    std::vector<float> out(static_cast<size_t>(n));
    for (float& v : out) v = (static_cast<float>(Next() >> 40) * 0x1.0p-24f * 2.0f - 1.0f) * a;
    return out;
  }

 private:
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t state_;
};

std::string GiB(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f GiB", static_cast<double>(bytes) / (1 << 30));
  return buf;
}

}  // namespace

int64_t CpuWeightBytes(const cpu::ModelShape& s, bool tied) {
  const int64_t H = s.hidden_size, I = s.intermediate_size, hd = s.head_dim;
  const int64_t experts = s.num_experts > 0 ? s.num_experts : 1;
  const int64_t per_layer = (int64_t{s.num_heads} * hd * H * 2 + int64_t{s.num_kv_heads} * hd * H * 2) + 2 * H +
                            (s.num_experts > 0 ? int64_t{s.num_experts} * H : 0) + experts * 3 * I * H;
  const int64_t embed = int64_t{s.vocab_size} * H;
  return 4 * (per_layer * s.num_layers + embed * (tied ? 1 : 2) + H);
}

Result<std::unique_ptr<cpu::CpuModel>> RandomCpuModel(const cpu::ModelShape& s, bool tied, uint64_t seed,
                                                      int kv_block_tokens, int num_kv_blocks) {
  const int64_t bytes = CpuWeightBytes(s, tied);
  if (bytes > kMaxRandomCpuWeightBytes) {
    return Status::InvalidArgument("--random-weights on the CPU backend is for small test shapes: this one needs " +
                                   GiB(bytes) + " of fp32 weights, over " + GiB(kMaxRandomCpuWeightBytes) +
                                   " (use --device cuda, or fewer --layers)");
  }
  const int64_t H = s.hidden_size, I = s.intermediate_size, hd = s.head_dim;
  Noise noise(seed);
  cpu::ModelWeightsF32 w;
  w.embed = noise.Matrix(int64_t{s.vocab_size} * H);
  if (!tied) w.lm_head = noise.Matrix(int64_t{s.vocab_size} * H);
  w.final_norm.assign(static_cast<size_t>(H), 1.0f);
  for (int l = 0; l < s.num_layers; ++l) {
    cpu::LayerWeights layer;
    layer.input_norm.assign(static_cast<size_t>(H), 1.0f);
    layer.post_attn_norm.assign(static_cast<size_t>(H), 1.0f);
    layer.wq = noise.Matrix(int64_t{s.num_heads} * hd * H);
    layer.wk = noise.Matrix(int64_t{s.num_kv_heads} * hd * H);
    layer.wv = noise.Matrix(int64_t{s.num_kv_heads} * hd * H);
    layer.wo = noise.Matrix(H * s.num_heads * hd);
    if (s.num_experts > 0) layer.router = noise.Matrix(int64_t{s.num_experts} * H);
    for (int e = 0; e < std::max(s.num_experts, 1); ++e) {
      cpu::MlpWeights m;
      m.gate = noise.Matrix(I * H);
      m.up = noise.Matrix(I * H);
      m.down = noise.Matrix(H * I);
      layer.experts.push_back(std::move(m));
    }
    w.layers.push_back(std::move(layer));
  }
  return std::make_unique<cpu::CpuModel>(s, std::move(w), kv_block_tokens, num_kv_blocks);
}

}  // namespace mixserve::server
