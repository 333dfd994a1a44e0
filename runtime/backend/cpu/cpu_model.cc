#include "runtime/backend/cpu/cpu_model.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "runtime/backend/cpu/ops.h"
#include "runtime/backend/cpu/thread_pool.h"

namespace mixserve::cpu {

CpuModel::CpuModel(ModelShape shape, ModelWeightsF32 weights, int kv_block_tokens, int num_kv_blocks)
    : shape_(shape), w_(std::move(weights)), kv_block_tokens_(kv_block_tokens), num_kv_blocks_(num_kv_blocks) {
  size_t per_layer = static_cast<size_t>(num_kv_blocks) * kv_block_tokens * shape_.num_kv_heads * shape_.head_dim;
  k_cache_.assign(shape_.num_layers, std::vector<float>(per_layer));
  v_cache_.assign(shape_.num_layers, std::vector<float>(per_layer));
}

int64_t CpuModel::CacheOffset(const std::vector<int32_t>& block_table, int pos, int kv_head) const {
  int64_t slot = static_cast<int64_t>(block_table[pos / kv_block_tokens_]) * kv_block_tokens_ + pos % kv_block_tokens_;
  return (slot * shape_.num_kv_heads + kv_head) * shape_.head_dim;
}

void CpuModel::AttentionBlock(int layer, const SeqForward& seq, float* x, int T) {
  const ModelShape& s = shape_;
  const LayerWeights& lw = w_.layers[layer];
  const int H = s.hidden_size, hd = s.head_dim, nh = s.num_heads, nkv = s.num_kv_heads;
  std::vector<float> xn(static_cast<size_t>(T) * H), q(static_cast<size_t>(T) * nh * hd),
      k(static_cast<size_t>(T) * nkv * hd), v(static_cast<size_t>(T) * nkv * hd), att(static_cast<size_t>(T) * nh * hd),
      o(static_cast<size_t>(T) * H);
  std::vector<int32_t> pos(T);
  std::iota(pos.begin(), pos.end(), seq.start_pos);

  rmsnorm_forward(xn.data(), x, lw.input_norm.data(), T, H, s.rms_norm_eps);
  matmul_forward(q.data(), xn.data(), lw.wq.data(), T, H, nh * hd);
  matmul_forward(k.data(), xn.data(), lw.wk.data(), T, H, nkv * hd);
  matmul_forward(v.data(), xn.data(), lw.wv.data(), T, H, nkv * hd);
  rope_forward(q.data(), pos.data(), T, nh, hd, s.rope_theta);
  rope_forward(k.data(), pos.data(), T, nkv, hd, s.rope_theta);

  std::vector<float>& kc = k_cache_[layer];
  std::vector<float>& vc = v_cache_[layer];
  for (int t = 0; t < T; ++t) {
    for (int g = 0; g < nkv; ++g) {
      int64_t off = CacheOffset(seq.block_table, pos[t], g);
      std::copy_n(&k[(static_cast<size_t>(t) * nkv + g) * hd], hd, &kc[off]);
      std::copy_n(&v[(static_cast<size_t>(t) * nkv + g) * hd], hd, &vc[off]);
    }
  }

  // Causal attention over the cache; query head h reads kv head h / (nh / nkv) (GQA).
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int group = nh / nkv;
  ParallelFor(static_cast<int64_t>(T) * nh, [&](int64_t begin, int64_t end) {
    std::vector<float> scores;
    for (int64_t th = begin; th < end; ++th) {
      int t = static_cast<int>(th / nh), h = static_cast<int>(th % nh), g = h / group;
      int p_hi = pos[t];
      int p_lo = s.sliding_window > 0 ? std::max(0, p_hi - s.sliding_window + 1) : 0;
      const float* qv = &q[(static_cast<size_t>(t) * nh + h) * hd];
      scores.resize(p_hi - p_lo + 1);
      for (int p = p_lo; p <= p_hi; ++p) {
        const float* kv = &kc[CacheOffset(seq.block_table, p, g)];
        float dot = 0.0f;
        for (int d = 0; d < hd; ++d) dot += qv[d] * kv[d];
        scores[p - p_lo] = dot * scale;
      }
      softmax_forward(scores.data(), static_cast<int>(scores.size()));
      float* out = &att[(static_cast<size_t>(t) * nh + h) * hd];
      std::fill_n(out, hd, 0.0f);
      for (int p = p_lo; p <= p_hi; ++p) {
        const float* vv = &vc[CacheOffset(seq.block_table, p, g)];
        float a = scores[p - p_lo];
        for (int d = 0; d < hd; ++d) out[d] += a * vv[d];
      }
    }
  });

  matmul_forward(o.data(), att.data(), lw.wo.data(), T, nh * hd, H);
  for (size_t i = 0; i < o.size(); ++i) x[i] += o[i];
}

void CpuModel::MlpBlock(int layer, float* x, int T) {
  const ModelShape& s = shape_;
  const LayerWeights& lw = w_.layers[layer];
  const int H = s.hidden_size, I = s.intermediate_size;
  std::vector<float> xn(static_cast<size_t>(T) * H), gate(I), up(I), act(I), y(H);
  rmsnorm_forward(xn.data(), x, lw.post_attn_norm.data(), T, H, s.rms_norm_eps);

  // One token at a time: the router picks its experts, each expert's output is added with its weight.
  std::vector<float> router_probs(std::max(s.num_experts, 1));
  std::vector<int> order(std::max(s.num_experts, 1));
  for (int t = 0; t < T; ++t) {
    const float* xt = &xn[static_cast<size_t>(t) * H];
    float* xo = x + static_cast<int64_t>(t) * H;
    std::vector<std::pair<int, float>> picked;  // (expert, weight)
    if (s.num_experts == 0) {
      picked.emplace_back(0, 1.0f);
    } else {
      matmul_forward(router_probs.data(), xt, lw.router.data(), 1, H, s.num_experts);
      softmax_forward(router_probs.data(), s.num_experts);
      std::iota(order.begin(), order.end(), 0);
      // Highest probability first; exact ties (vanishingly rare with real weights) go to the lower index.
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return router_probs[a] > router_probs[b]; });
      float sum = 0.0f;
      for (int k = 0; k < s.experts_per_token; ++k) sum += router_probs[order[k]];
      for (int k = 0; k < s.experts_per_token; ++k) picked.emplace_back(order[k], router_probs[order[k]] / sum);
    }
    for (auto [e, weight] : picked) {
      const MlpWeights& m = lw.experts[e];
      matmul_forward(gate.data(), xt, m.gate.data(), 1, H, I);
      matmul_forward(up.data(), xt, m.up.data(), 1, H, I);
      silu_mul_forward(act.data(), gate.data(), up.data(), I);
      matmul_forward(y.data(), act.data(), m.down.data(), 1, I, H);
      for (int c = 0; c < H; ++c) xo[c] += weight * y[c];
    }
  }
}

Status CpuModel::Forward(const ForwardBatch& batch, ForwardOutput* out) {
  const ModelShape& s = shape_;
  const int H = s.hidden_size, V = s.vocab_size;
  int rows = 0;
  for (const auto& seq : batch.seqs) {
    if (seq.tokens.empty()) return Status::InvalidArgument("forward: a sequence has no new tokens");
    int64_t need = seq.start_pos + static_cast<int64_t>(seq.tokens.size());
    if (seq.start_pos < 0 || static_cast<int64_t>(seq.block_table.size()) * kv_block_tokens_ < need) {
      return Status::InvalidArgument("forward: block table covers " +
                                     std::to_string(seq.block_table.size() * kv_block_tokens_) + " positions, need " +
                                     std::to_string(need));
    }
    for (int32_t b : seq.block_table) {
      if (b < 0 || b >= num_kv_blocks_) return Status::InvalidArgument("forward: KV block id " + std::to_string(b) + " out of range");
    }
    for (int32_t tok : seq.tokens) {
      if (tok < 0 || tok >= V) return Status::InvalidArgument("forward: token id " + std::to_string(tok) + " out of range");
    }
    rows += seq.all_logits ? static_cast<int>(seq.tokens.size()) : 1;
  }
  out->vocab_size = V;
  out->logits.assign(static_cast<size_t>(rows) * V, 0.0f);
  out->row_begin.clear();

  const std::vector<float>& head = w_.lm_head.empty() ? w_.embed : w_.lm_head;
  int row = 0;
  for (const auto& seq : batch.seqs) {
    const int T = static_cast<int>(seq.tokens.size());
    std::vector<float> x(static_cast<size_t>(T) * H);
    for (int t = 0; t < T; ++t) std::copy_n(&w_.embed[static_cast<size_t>(seq.tokens[t]) * H], H, &x[static_cast<size_t>(t) * H]);
    for (int l = 0; l < s.num_layers; ++l) {
      AttentionBlock(l, seq, x.data(), T);
      MlpBlock(l, x.data(), T);
    }
    int first = seq.all_logits ? 0 : T - 1;
    int n = T - first;
    std::vector<float> xn(static_cast<size_t>(n) * H);
    rmsnorm_forward(xn.data(), &x[static_cast<size_t>(first) * H], w_.final_norm.data(), n, H, s.rms_norm_eps);
    out->row_begin.push_back(row);
    matmul_forward(&out->logits[static_cast<size_t>(row) * V], xn.data(), head.data(), n, H, V);
    row += n;
  }
  return Status::Ok();
}

}  // namespace mixserve::cpu
