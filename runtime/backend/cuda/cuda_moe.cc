// CudaModel's mixture-of-experts layer (router, then the skinny, padded or grouped expert path) and the
// tensor-core prefill attention: the large-batch halves of a step, kept apart from the layer loop.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/backend/cuda/cuda_model.h"
#include "runtime/backend/cuda/cuda_status.h"
#include "runtime/backend/cuda/kernel_timer.h"
#include "runtime/backend/cuda/moe_experts.h"

namespace mixserve::cuda {

namespace {

// Rows of the MoE scratch, as CudaModel::AllocateScratch sizes it.
int64_t ScratchRows(const CudaModelOptions& o, const cpu::ModelShape& s) {
  return MoeScratchRows(o.max_batch_tokens, std::max(s.num_experts, 1), std::max(s.experts_per_token, 1), o.padded_max_rows);
}

// padded_max_rows, or MIXSERVE_MOE_PADDED_MAX where every expert's padded rows still fit the scratch.
int PaddedMaxRows(const CudaModelOptions& o, const cpu::ModelShape& s) {
  const int want = GetMoeSwitches().padded_max_rows;
  if (want <= o.padded_max_rows) return o.padded_max_rows;
  const int64_t E = std::max(s.num_experts, 1);
  const int64_t fits = std::min<int64_t>(ScratchRows(o, s) / E, o.max_batch_tokens);
  return static_cast<int>(std::max<int64_t>(o.padded_max_rows, std::min<int64_t>(want, fits)));
}

}  // namespace

bool CudaModel::ThinGrouped(int R) const {
  const cpu::ModelShape& s = config_.shape;
  return s.num_experts > 1 && R >= options_.thin_grouped_min_rows && R <= options_.thin_grouped_max_rows &&
         R * std::max(s.experts_per_token, 1) > options_.skinny_max_pairs && ThinGemmEnabled() && ThinGroupedSupported() &&
         s.hidden_size % 64 == 0 && s.intermediate_size % 64 == 0;
}

bool CudaModel::Routed(int R) const {
  const cpu::ModelShape& s = config_.shape;
  const int E = std::max(s.num_experts, 1), k = std::max(s.experts_per_token, 1);
  return R * k <= options_.skinny_max_pairs && R <= RoutedGateUpMaxRows() &&
         RoutedGateUpApplies(R, s.hidden_size, s.intermediate_size, E, k);
}

bool CudaModel::Padded(int R) const {
  const int k = std::max(config_.shape.experts_per_token, 1);
  return config_.shape.num_experts > 1 && R * k > options_.skinny_max_pairs && R <= PaddedMaxRows(options_, config_.shape) &&
         !ThinGrouped(R);
}

// Rows per expert in the padded path: at least 32, because cuBLASLt's M=16 GEMMs measured slower
// than M=32 ones (bs16 22.2 ms/step vs bs32 20.5 ms on H100, 16 layers); never past the buffers.
int CudaModel::PaddedStride(int R) const {
  const int cap = std::min(PaddedMaxRows(options_, config_.shape), options_.max_batch_tokens);
  return std::min(std::max(R, 32), std::max(cap, R));
}

// The experts of layer l for R routed rows (the router has filled offsets_ / sorted_pairs_): the
// gathered gate_up skinny GEMM into act_f_ (unless the routed gate/up kernel did), then the down one
// into moe_out_ (RunMoe's skinny branch).
Status CudaModel::RunSkinnyExperts(int l, int R, bool gate_up) {
  const cpu::ModelShape& s = config_.shape;
  const DeviceLayer& w = weights_.layer(l);
  const int H = s.hidden_size, I = s.intermediate_size;
  const int E = std::max(s.num_experts, 1), k = std::max(s.experts_per_token, 1), pairs = R * k;
  // A token's k experts are distinct: no expert gets more than R pairs.
  if (gate_up) {
    const SkinnyArgs a = SkinnyExpertGateUp(w.w13, E, H, I, k, pairs, R, offsets_, sorted_pairs_, xn_f_, act_f_);
    for (int c = LaunchCopies("gate_up"); c > 0; --c) MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("moe gate_up", LaunchSkinnyGemm(a, stream_)));
  }
  const SkinnyArgs b = SkinnyExpertDown(w.w2, E, H, I, pairs, R, offsets_, act_f_, moe_out_);
  for (int c = LaunchCopies("down"); c > 0; --c) MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("moe down", LaunchSkinnyGemm(b, stream_)));
  return Status::Ok();
}

Status CudaModel::RunMoe(int l, int R, const float* unnormed) {
  const cpu::ModelShape& s = config_.shape;
  const DeviceLayer& w = weights_.layer(l);
  const int H = s.hidden_size, I = s.intermediate_size;
  const int E = std::max(s.num_experts, 1), k = std::max(s.experts_per_token, 1), pairs = R * k;
  if (unnormed != nullptr && Routed(R)) {
    RoutedGateUpArgs g;
    g.x = unnormed;
    g.norm_w = w.post_norm;
    g.eps = s.rms_norm_eps;
    g.router = w.router;
    g.w13 = w.w13;
    g.T = R;
    g.H = H;
    g.I = I;
    g.E = E;
    g.k = k;
    g.act = act_f_;
    g.topk_ids = topk_ids_;
    g.topk_w = topk_w_;
    g.offsets = offsets_;
    g.sorted_pairs = sorted_pairs_;
    g.pos_of_pair = pos_of_pair_;
    g.expert_hits = experts_touched_ + l;
    g.sorted_w = R == 1 ? sorted_w_ : nullptr;
    g.blocks = RoutedGateUpBlocks(sms_);
    for (int c = LaunchCopies("gate_up"); c > 0; --c) {
      MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("norm+router+gate_up", LaunchRoutedGateUp(g, stream_)));
    }
    return RunSkinnyExperts(l, R, /*gate_up=*/false);
  }
  for (int c = LaunchCopies("router"); c > 0; --c) {
    if (unnormed != nullptr) {  // the router norms the rows into xn_f_ / xn_b_ first
      MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("norm+router", LaunchNormRouter(unnormed, w.post_norm, s.rms_norm_eps, xn_f_, xn_b_,
                                                                        w.router, R, H, E, k, topk_ids_, topk_w_, offsets_,
                                                                        sorted_pairs_, pos_of_pair_, experts_touched_ + l,
                                                                        Padded(R) ? PaddedStride(R) : 0, stream_)));
    } else {
      MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("router", LaunchRouter(xn_f_, w.router, R, H, E, k, topk_ids_, topk_w_, offsets_,
                                                                sorted_pairs_, pos_of_pair_, experts_touched_ + l,
                                                                Padded(R) ? PaddedStride(R) : 0, stream_)));
    }
  }
  if (pairs <= options_.skinny_max_pairs) return RunSkinnyExperts(l, R);
  MoeExperts m;
  m.w13 = w.w13;
  m.w2 = w.w2;
  m.E = E;
  m.H = H;
  m.I = I;
  m.k = k;
  m.xn = xn_b_;
  m.topk_ids = topk_ids_;
  m.offsets = offsets_;
  m.sorted_pairs = sorted_pairs_;
  m.pos_of_pair = pos_of_pair_;
  m.xs = moe_xs_;
  m.gu = moe_gu_;
  m.act = moe_act_b_;
  m.out = moe_out_;
  m.max_rows = ScratchRows(options_, s);
  if (Padded(R)) {
    // Every expert's GEMM over S >= R rows (rows past its count are zeros): no host sync, so the step
    // can be a CUDA graph; the extra rows cost little while the GEMMs are weight-bound.
    return RunPaddedExperts(lt_, stream_, m, PaddedStride(R), GetMoeSwitches().batched);
  }
  if (ThinGrouped(R)) return RunThinGroupedExperts(stream_, m, pairs, sms_);
  std::vector<int32_t> off(E + 1);
  if (E == 1) {
    off = {0, pairs};
  } else {
    MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("moe offsets", cudaMemcpyAsync(h_offsets_, offsets_, (E + 1) * 4, cudaMemcpyDeviceToHost, stream_)));
    MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("moe offsets", cudaStreamSynchronize(stream_)));
    std::copy(h_offsets_, h_offsets_ + E + 1, off.begin());
  }
  return RunGroupedExperts(lt_, stream_, m, off, GetMoeSwitches().prefill, &moe_lanes_);
}

Status CudaModel::DensePrefill(int row0, int T, float* out_f, bf16* out_b) {
  const cpu::ModelShape& s = config_.shape;
  const int nh = s.num_heads, nkv = s.num_kv_heads, hd = s.head_dim, G = nh / nkv;
  const int qkv_dim = (nh + 2 * nkv) * hd;
  const int kv_rows = (T + 7) / 8 * 8;  // keys padded to 8 for the GEMMs' alignment; padding is masked
  const float* q = qkv_ + static_cast<int64_t>(row0) * qkv_dim;
  const int chunk = std::max(1, options_.dense_prefill_chunk);
  // Where a sliding window masks keys, bf16 probabilities alone are too coarse (tiny-mixtral-swa: logits
  // max abs 0.40 vs 0.03): P is kept as a bf16 pair (hi + remainder) and P.V takes two GEMMs.
  const bool hi_lo = s.sliding_window > 0 && T > s.sliding_window;
  for (int q0 = 0; q0 < T; q0 += chunk) {
    const int Tq = std::min(chunk, T - q0);
    const int Tk = std::min(kv_rows, (q0 + Tq + 7) / 8 * 8);
    const int rows = G * Tq;
    MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("prefill pack", LaunchPrefillPack(q, qkv_dim, nh, nkv, hd, T, q0, Tq, pf_q_, pf_k_, pf_v_,
                                                           q0 == 0, kv_rows, stream_)));
    GemmSpec sg;
    sg.M = rows;
    sg.N = Tk;
    sg.K = hd;
    sg.batch = nkv;
    sg.x = pf_q_;
    sg.ldx = hd;
    sg.stride_x = static_cast<int64_t>(rows) * hd;
    sg.w = pf_k_;
    sg.ldw = hd;
    sg.stride_w = static_cast<int64_t>(kv_rows) * hd;
    sg.y = pf_s_;
    sg.ldy = Tk;
    sg.stride_y = static_cast<int64_t>(rows) * Tk;
    sg.alpha = 1.0f / std::sqrt(static_cast<float>(hd));
    MIXSERVE_CUDA_RETURN_IF_ERROR(lt_.Run(stream_, sg));
    MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("prefill softmax", hi_lo ? LaunchMaskedSoftmaxHiLo(pf_s_, pf_p_, rows, Tk, nkv, G, q0,
                                                                                   s.sliding_window, stream_)
                                                               : LaunchMaskedSoftmax(pf_s_, pf_p_, rows, Tk, nkv, G, q0,
                                                                                     s.sliding_window, stream_)));
    GemmSpec og;
    og.M = rows;
    og.N = hd;
    og.K = Tk;
    og.batch = nkv;
    og.x = pf_p_;
    og.ldx = Tk;
    og.stride_x = static_cast<int64_t>(rows) * Tk;
    og.w = pf_v_;
    og.w_kn = true;
    og.ldw = hd;
    og.stride_w = static_cast<int64_t>(kv_rows) * hd;
    og.y = pf_o_;
    og.ldy = hd;
    og.stride_y = static_cast<int64_t>(rows) * hd;
    MIXSERVE_CUDA_RETURN_IF_ERROR(lt_.Run(stream_, og));
    if (hi_lo) {  // P's bf16 remainder, written over the scores: P.V += remainder.V
      GemmSpec lg = og;
      lg.x = reinterpret_cast<const bf16*>(pf_s_);
      lg.ldx = 2 * static_cast<int64_t>(Tk);
      lg.stride_x = 2 * static_cast<int64_t>(rows) * Tk;
      lg.beta = 1.0f;
      MIXSERVE_CUDA_RETURN_IF_ERROR(lt_.Run(stream_, lg));
    }
    MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("prefill scatter", LaunchPrefillScatter(pf_o_, rows, nkv, G, hd, row0 + q0, out_f, out_b,
                                                                 stream_)));
  }
  return Status::Ok();
}

}  // namespace mixserve::cuda
