// CudaModel's forward step: host-side planning, metadata upload, the layer loop, graphs.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "runtime/backend/cuda/cuda_model.h"
#include "runtime/backend/cuda/cuda_status.h"
#include "runtime/backend/cuda/env_switch.h"
#include "runtime/backend/cuda/kernel_timer.h"

namespace mixserve::cuda {
namespace {

constexpr int kGraphBuckets[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};

}  // namespace

struct CudaModel::Plan {
  std::vector<int32_t> tokens, pos, slot, logit_rows, block_tables;
  std::vector<AttnTile> tiles;
  int n_seqs = 0;
};

Status CudaModel::Validate(const ForwardBatch& batch, int* rows, int* logit_rows) const {
  const int V = config_.shape.vocab_size, bt = options_.kv_block_tokens;
  *rows = 0;
  *logit_rows = 0;
  if (batch.seqs.empty()) return Status::InvalidArgument("forward: empty batch");
  if (static_cast<int>(batch.seqs.size()) > options_.max_seqs) {
    return Status::InvalidArgument("forward: " + std::to_string(batch.seqs.size()) + " sequences, at most " +
                                   std::to_string(options_.max_seqs));
  }
  for (const auto& seq : batch.seqs) {
    if (seq.tokens.empty()) return Status::InvalidArgument("forward: a sequence has no new tokens");
    int64_t need = seq.start_pos + static_cast<int64_t>(seq.tokens.size());
    if (seq.start_pos < 0 || static_cast<int64_t>(seq.block_table.size()) * bt < need) {
      return Status::InvalidArgument("forward: block table covers " + std::to_string(seq.block_table.size() * bt) +
                                     " positions, need " + std::to_string(need));
    }
    if (need > options_.max_model_len) {
      return Status::InvalidArgument("forward: sequence reaches position " + std::to_string(need) +
                                     ", beyond --max-model-len " + std::to_string(options_.max_model_len));
    }
    for (int32_t b : seq.block_table) {
      if (b < 0 || b >= options_.num_kv_blocks) {
        return Status::InvalidArgument("forward: KV block id " + std::to_string(b) + " out of range");
      }
    }
    for (int32_t tok : seq.tokens) {
      if (tok < 0 || tok >= V) return Status::InvalidArgument("forward: token id " + std::to_string(tok) + " out of range");
    }
    *rows += static_cast<int>(seq.tokens.size());
    *logit_rows += seq.all_logits ? static_cast<int>(seq.tokens.size()) : 1;
  }
  if (*rows > options_.max_batch_tokens) {
    return Status::InvalidArgument("forward: " + std::to_string(*rows) + " tokens in one step, at most " +
                                   std::to_string(options_.max_batch_tokens));
  }
  if (*logit_rows > options_.max_logit_rows) {
    return Status::InvalidArgument("forward: " + std::to_string(*logit_rows) + " logits rows, at most " +
                                   std::to_string(options_.max_logit_rows));
  }
  return Status::Ok();
}

Status CudaModel::BuildPlan(const ForwardBatch& batch, int pad_rows, Plan* p, Dims* d) const {
  const cpu::ModelShape& s = config_.shape;
  const int bt = options_.kv_block_tokens, G = s.num_heads / s.num_kv_heads;
  const int tile_max = std::max(1, std::min(kAttnTileRows, 32 / G));
  p->n_seqs = static_cast<int>(batch.seqs.size());
  p->block_tables.assign(static_cast<size_t>(p->n_seqs + 1) * max_blocks_per_seq_, 0);
  int max_span = 1;
  d->tile_rows = 1;
  for (int si = 0; si < p->n_seqs; ++si) {
    const SeqForward& seq = batch.seqs[si];
    std::copy(seq.block_table.begin(),
              seq.block_table.begin() + std::min<size_t>(seq.block_table.size(), max_blocks_per_seq_),
              p->block_tables.begin() + static_cast<size_t>(si) * max_blocks_per_seq_);
    const int T = static_cast<int>(seq.tokens.size());
    const int row0 = static_cast<int>(p->tokens.size());
    for (int t = 0; t < T; ++t) {
      const int pos = seq.start_pos + t;
      p->tokens.push_back(seq.tokens[t]);
      p->pos.push_back(pos);
      p->slot.push_back(seq.block_table[pos / bt] * bt + pos % bt);
      if (seq.all_logits || t == T - 1) p->logit_rows.push_back(row0 + t);
    }
    // Also under a sliding window: DensePrefill keeps P as a bf16 hi + lo pair there (bf16 P alone
    // failed tiny-mixtral-swa's goldens, max abs 0.40; the hi/lo test passed on H200, 2026-11-27).
    const bool dense = options_.dense_prefill_min_tokens > 0 && !options_.kv_f32 && seq.start_pos == 0 &&
                       T >= options_.dense_prefill_min_tokens;
    if (dense) {
      d->dense.emplace_back(row0, T);
      continue;
    }
    for (int t = 0; t < T; t += tile_max) {
      const int n = std::min(tile_max, T - t);
      p->tiles.push_back({row0 + t, n, si});
      d->tile_rows = std::max(d->tile_rows, n);
      const int last = seq.start_pos + t + n - 1;
      const int first_key = s.sliding_window > 0 ? std::max(0, seq.start_pos + t - s.sliding_window + 1) : 0;
      max_span = std::max(max_span, last + 1 - first_key);
    }
  }
  // Graph padding: rows that write the scratch KV block and attend to it alone.
  p->block_tables[static_cast<size_t>(p->n_seqs) * max_blocks_per_seq_] = scratch_block_;
  for (int r = static_cast<int>(p->tokens.size()); r < pad_rows; ++r) {
    p->tokens.push_back(0);
    p->pos.push_back(0);
    p->slot.push_back(scratch_block_ * bt);
    p->logit_rows.push_back(r);
    p->tiles.push_back({r, 1, p->n_seqs});
  }
  d->rows = static_cast<int>(p->tokens.size());
  d->logit_rows = static_cast<int>(p->logit_rows.size());
  d->n_tiles = static_cast<int>(p->tiles.size());
  // The split rule lives with the attention kernel (attention_decode.cu).
  const int64_t per_split = static_cast<int64_t>(d->rows) * s.num_heads * (s.head_dim + 2);
  d->splits = PagedAttentionSplits(sms_, d->n_tiles, s.num_kv_heads, max_span, pad_rows > 0, per_split, partial_elems_);
  d->max_span = max_span;
  return Status::Ok();
}

Status CudaModel::Upload(const Plan& p) {
  int32_t* h = h_meta_;
  auto put = [&](void* dst, const void* src, size_t bytes) {
    std::memcpy(h, src, bytes);
    cudaError_t err = cudaMemcpyAsync(dst, h, bytes, cudaMemcpyHostToDevice, stream_);
    h += (bytes + 3) / 4;
    return err;
  };
  cudaError_t err = put(d_tokens_, p.tokens.data(), p.tokens.size() * 4);
  if (err == cudaSuccess) err = put(d_pos_, p.pos.data(), p.pos.size() * 4);
  if (err == cudaSuccess) err = put(d_slot_, p.slot.data(), p.slot.size() * 4);
  if (err == cudaSuccess) err = put(d_logit_rows_, p.logit_rows.data(), p.logit_rows.size() * 4);
  if (err == cudaSuccess) err = put(d_block_tables_, p.block_tables.data(), p.block_tables.size() * 4);
  if (err == cudaSuccess) err = put(d_tiles_, p.tiles.data(), p.tiles.size() * sizeof(AttnTile));
  return Cuda("upload step metadata", err);
}

// y (rows, N) (+)= x (rows, K) . W (N, K)^T: the skinny kernel on the fp32 activations up to
// skinny_max_rows rows, else (on their bf16 copy) the thin tensor-core kernel up to thin_max_rows
// rows (MIXSERVE_THIN_GEMM), else cuBLASLt.
Status CudaModel::Project(const char* what, int rows, const bf16* w, int N, int K, const float* xf, const bf16* xb,
                          float* y, int ldy, bool acc) {
  if (rows <= options_.skinny_max_rows) {
    return Cuda(what, LaunchSkinnyGemm(SkinnyDense(rows, N, K, xf, w, y, ldy, acc), stream_));
  }
  if (ThinGemmEnabled() && rows <= options_.thin_max_rows && ThinGemmApplies(rows, K, xb, K, w, K)) {
    const ThinGemmArgs t = ThinDense(rows, N, K, xb, w, y, ldy, acc, ThinGemmSplits(N, K, 1, sms_));
    return Cuda(what, LaunchThinGemm(t, stream_));
  }
  return lt_.Run(stream_, rows, N, K, xb, w, y, nullptr, acc);
}

Status CudaModel::RunForward(const Dims& d) {
  const cpu::ModelShape& s = config_.shape;
  const int R = d.rows, H = s.hidden_size, V = s.vocab_size, nh = s.num_heads, nkv = s.num_kv_heads, hd = s.head_dim;
  const int qkv_dim = (nh + 2 * nkv) * hd, k = std::max(s.experts_per_token, 1);
  const bool skinny = R <= options_.skinny_max_rows;
  SetStepRows(R);
  MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("embed", LaunchEmbed(x_, weights_.embed(), d_tokens_, R, H, stream_)));
  // Batch-1/2 decode fusions (decode_fused.cu): norm + combine + QKV + RoPE + KV write in one kernel,
  // which writes the combined residual to the other buffer of a ping-pong pair (x_, x2_); and the O
  // projection with the post-attention norm. Both off with MIXSERVE_FUSED_QKV=0 / MIXSERVE_FUSED_ONORM=0.
  const bool fused_qkv = skinny && FusedQkvEnabled() && FusedQkvApplies(R, H, hd, k) && d.dense.empty();
  const bool fused_onorm = skinny && R <= 2 && FusedOutNormEnabled() && (nh * hd) % 8 == 0;
  // The post-attention norm runs in the split router (LaunchNormRouter) instead of the fused O kernel's
  // last block (MIXSERVE_NORM_ROUTER=0: in the O kernel, then LaunchRouter).
  const int E = s.num_experts;
  const bool norm_router = fused_onorm && NormRouterEnabled() && R * k <= options_.skinny_max_pairs &&
                           NormRouterApplies(R, H, E, k);
  // Batch 1 on the routed gate/up kernel (RunMoe's condition): the next layer's combine reads moe_out
  // rows 0..k-1 with the weights in expert order, not through pos_of_pair (MIXSERVE_SORTED_COMBINE=0).
  static const bool sorted_combine = EnvSwitch("MIXSERVE_SORTED_COMBINE", true);
  const float* sorted_w = sorted_combine && norm_router && R == 1 && Routed(R) ? sorted_w_ : nullptr;
  float* xres = x_;  // the residual stream of this layer (after the QKV step)
  for (int l = 0; l < s.num_layers; ++l) {
    const DeviceLayer& w = weights_.layer(l);
    const int64_t kv_bytes = options_.kv_f32 ? 4 : 2;
    char* kc = k_cache_ + layer_cache_elems_ * kv_bytes * l;
    char* vc = v_cache_ + layer_cache_elems_ * kv_bytes * l;
    if (fused_qkv) {
      FusedQkvArgs f;
      f.x_in = xres;
      f.x_out = xres == x_ ? x2_ : x_;
      f.moe_out = l > 0 ? moe_out_ : nullptr;
      f.pos_of_pair = pos_of_pair_;
      f.topk_w = topk_w_;
      f.sorted_w = sorted_w;
      f.k = k;
      f.norm_w = w.input_norm;
      f.eps = s.rms_norm_eps;
      f.w = w.wqkv;
      f.rows = R;
      f.H = H;
      f.nh = nh;
      f.nkv = nkv;
      f.hd = hd;
      f.theta = s.rope_theta;
      f.pos = d_pos_;
      f.slot = d_slot_;
      f.qkv = qkv_;
      f.k_cache = kc;
      f.v_cache = vc;
      f.kv_f32 = options_.kv_f32;
      for (int c = LaunchCopies("norm+qkv+rope"); c > 0; --c) {
        MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("norm+qkv+rope", LaunchFusedQkv(f, stream_)));
      }
      xres = f.x_out;
    } else {
      MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("input norm", LaunchResidualNorm(xres, R, nullptr, H, l > 0 ? moe_out_ : nullptr,
                                                                          pos_of_pair_, topk_w_, k, w.input_norm,
                                                                          s.rms_norm_eps, xn_f_, xn_b_, stream_)));
      MIXSERVE_CUDA_RETURN_IF_ERROR(Project("qkv", R, w.wqkv, qkv_dim, H, xn_f_, xn_b_, qkv_, qkv_dim, false));
      MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("rope", LaunchRopeKv(qkv_, d_pos_, d_slot_, R, nh, nkv, hd, s.rope_theta, kc, vc,
                                                              options_.kv_f32, stream_)));
    }
    AttnArgs a;
    a.q = qkv_;
    a.ldq = qkv_dim;
    a.k_cache = kc;
    a.v_cache = vc;
    a.kv_f32 = options_.kv_f32;
    a.block_tables = d_block_tables_;
    a.max_blocks = max_blocks_per_seq_;
    a.pos = d_pos_;
    a.tiles = d_tiles_;
    a.n_tiles = d.n_tiles;
    a.tile_rows = d.tile_rows;
    a.splits = d.splits;
    a.nh = nh;
    a.nkv = nkv;
    a.hd = hd;
    a.block_tokens = options_.kv_block_tokens;
    a.window = s.sliding_window;
    a.partials = partials_;
    a.n_rows = R;
    a.out_f = skinny ? att_f_ : nullptr;
    a.out_b = skinny ? nullptr : att_b_;
    a.old_keys_early = d.decode_only;
    a.max_span = d.max_span;
    for (int c = LaunchCopies("attention"); c > 0; --c) {
      MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("attention", LaunchPagedAttention(a, stream_)));
    }
    for (auto [row0, T] : d.dense) MIXSERVE_CUDA_RETURN_IF_ERROR(DensePrefill(row0, T, a.out_f, a.out_b));
    if (fused_onorm) {
      FusedOutNormArgs o;
      o.att = att_f_;
      o.ld_att = nh * hd;
      o.w = w.wo;
      o.rows = R;
      o.N = H;
      o.K = nh * hd;
      o.x = xres;
      o.norm_w = w.post_norm;
      o.eps = s.rms_norm_eps;
      o.out_f = xn_f_;
      o.out_b = xn_b_;  // the padded MoE path (pairs > skinny_max_pairs) reads the bf16 copy
      o.counter = fused_counter_;
      o.no_norm = norm_router;
      for (int c = LaunchCopies("o_proj+norm"); c > 0; --c) {
        MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("o_proj+norm", LaunchFusedOutNorm(o, stream_)));
      }
    } else {
      MIXSERVE_CUDA_RETURN_IF_ERROR(Project("o_proj", R, w.wo, H, nh * hd, att_f_, att_b_, xres, H, true));
      MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("post norm", LaunchResidualNorm(xres, R, nullptr, H, nullptr, nullptr, nullptr, 0,
                                                                         w.post_norm, s.rms_norm_eps, xn_f_, xn_b_,
                                                                         stream_)));
    }
    MIXSERVE_CUDA_RETURN_IF_ERROR(RunMoe(l, R, norm_router ? xres : nullptr));
  }
  const int L = d.logit_rows;
  MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("final norm", LaunchResidualNorm(xres, L, d_logit_rows_, H, moe_out_, pos_of_pair_, topk_w_, k,
                                                        weights_.final_norm(), s.rms_norm_eps, xn_f_, xn_b_, stream_)));
  if (LaunchCopies("lm_head") == 0) return Status::Ok();
  return Project("lm_head", L, weights_.lm_head(), V, H, xn_f_, xn_b_, logits_, V, false);
}

Status CudaModel::Run(const ForwardBatch& batch, bool greedy) {
  const auto t0 = std::chrono::steady_clock::now();
  int rows = 0, logit_rows = 0;
  MIXSERVE_CUDA_RETURN_IF_ERROR(Validate(batch, &rows, &logit_rows));
  // One token per sequence (attention may load earlier steps' keys early); graphed only without all_logits.
  bool one_token = true, any_all_logits = false;
  for (const auto& seq : batch.seqs) {
    one_token = one_token && seq.tokens.size() == 1;
    any_all_logits = any_all_logits || seq.all_logits;
  }
  const bool decode_only = one_token && !any_all_logits;
  const int k = std::max(config_.shape.experts_per_token, 1);
  int bucket = 0;
  KernelTimer* timer = KernelTimer::Get();
  if (options_.use_graphs && decode_only && timer == nullptr) {
    for (int b : kGraphBuckets) {
      if (b >= rows) {
        const bool no_sync =
            config_.shape.num_experts <= 1 || b * k <= options_.skinny_max_pairs || Padded(b) || ThinGrouped(b);
        if (no_sync && b <= options_.max_batch_tokens &&
            b <= options_.max_logit_rows && b + 1 <= options_.max_seqs + 1) {
          bucket = b;
        }
        break;
      }
    }
  }
  Plan plan;
  Dims dims;
  MIXSERVE_CUDA_RETURN_IF_ERROR(BuildPlan(batch, bucket, &plan, &dims));
  dims.decode_only = one_token;
  MIXSERVE_CUDA_RETURN_IF_ERROR(Upload(plan));
  last_used_graph_ = false;
  if (bucket > 0) {
    // A bucket has a graph per decode attention form (the cluster merge at short spans, attention_decode.cu).
    const int key = 2 * bucket + (DecodeAttentionClusters(dims.n_tiles, dims.max_span) ? 1 : 0);
    auto it = graphs_.find(key);
    if (it != graphs_.end()) {
      MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("graph launch", cudaGraphLaunch(it->second, stream_)));
      last_used_graph_ = true;
    } else {
      // This step runs eagerly (loading every kernel, and letting cuBLASLt time its candidates for the
      // bucket's shapes); then the bucket's graph is captured.
      lt_.SetTuneWindow(true);
      Status first = RunForward(dims);
      lt_.SetTuneWindow(false);
      MIXSERVE_CUDA_RETURN_IF_ERROR(first);
      cudaGraph_t graph = nullptr;
      MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("capture", cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal)));
      Status st = RunForward(dims);
      cudaError_t end = cudaStreamEndCapture(stream_, &graph);
      MIXSERVE_CUDA_RETURN_IF_ERROR(st);
      MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("capture", end));
      cudaGraphExec_t exec = nullptr;
      cudaError_t inst = cudaGraphInstantiate(&exec, graph, 0);
      cudaGraphDestroy(graph);
      MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("graph instantiate", inst));
      graphs_[key] = exec;
    }
  } else {
    if (timer) timer->BeginStep(stream_, rows);
    Status st = RunForward(dims);
    if (timer) timer->EndStep();
    MIXSERVE_CUDA_RETURN_IF_ERROR(st);
  }
  if (greedy) {
    MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("argmax", LaunchArgmax(logits_, logit_rows, config_.shape.vocab_size, d_argmax_, stream_)));
    MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("argmax copy", cudaMemcpyAsync(h_argmax_, d_argmax_, logit_rows * 4, cudaMemcpyDeviceToHost,
                                                        stream_)));
  }
  last_host_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return Cuda("forward", cudaStreamSynchronize(stream_));
}

Status CudaModel::Forward(const ForwardBatch& batch, ForwardOutput* out) {
  MIXSERVE_CUDA_RETURN_IF_ERROR(Run(batch, false));
  int logit_rows = 0;
  out->row_begin.clear();
  for (const auto& seq : batch.seqs) {
    out->row_begin.push_back(logit_rows);
    logit_rows += seq.all_logits ? static_cast<int>(seq.tokens.size()) : 1;
  }
  const int V = config_.shape.vocab_size;
  out->vocab_size = V;
  out->logits.resize(static_cast<size_t>(logit_rows) * V);
  return Cuda("logits copy", cudaMemcpy(out->logits.data(), logits_, out->logits.size() * 4, cudaMemcpyDeviceToHost));
}

Status CudaModel::ForwardGreedy(const ForwardBatch& batch, std::vector<int32_t>* next_tokens) {
  MIXSERVE_CUDA_RETURN_IF_ERROR(Run(batch, true));
  int logit_rows = 0;
  for (const auto& seq : batch.seqs) logit_rows += seq.all_logits ? static_cast<int>(seq.tokens.size()) : 1;
  next_tokens->assign(h_argmax_, h_argmax_ + logit_rows);
  return Status::Ok();
}

}  // namespace mixserve::cuda
