#include "runtime/backend/cuda/moe_experts.h"

#include <algorithm>
#include <cstdlib>

#include "runtime/backend/cuda/cuda_status.h"
#include "runtime/backend/cuda/env_switch.h"

namespace mixserve::cuda {
namespace {

// The thin kernel's form of a strided-batched GEMM (no alpha / beta, W as (N, K) rows).
ThinGemmArgs ThinFromSpec(const GemmSpec& g, int sms) {
  ThinGemmArgs t;
  t.M = g.M;
  t.N = g.N;
  t.K = g.K;
  t.batch = g.batch;
  t.x = g.x;
  t.ldx = g.ldx;
  t.stride_x = g.stride_x;
  t.w = g.w;
  t.ldw = g.ldw;
  t.stride_w = g.stride_w;
  t.y = g.y;
  t.y_f32 = g.y_f32;
  t.ldy = g.ldy;
  t.stride_y = g.stride_y;
  t.splits = ThinGemmSplits(g.N, g.K, g.batch, sms);
  return t;
}

// The MoE's two expert GEMMs over E groups of S rows (group stride S rows in xs, gu, act and out;
// S = 0 where the rows of each group come from offsets): gate/up (S, 2I) = xs . W13^T into gu (bf16),
// down (S, H) = act . W2^T into out (fp32).
void ExpertGemmSpecs(const MoeExperts& m, int64_t S, GemmSpec* gu, GemmSpec* dn) {
  const int64_t H = m.H, I = m.I;
  gu->M = static_cast<int>(S);
  gu->N = 2 * m.I;
  gu->K = m.H;
  gu->batch = m.E;
  gu->x = m.xs;
  gu->ldx = H;
  gu->stride_x = S * H;
  gu->w = m.w13;
  gu->ldw = H;
  gu->stride_w = 2 * I * H;
  gu->y = m.gu;
  gu->y_f32 = false;
  gu->ldy = 2 * I;
  gu->stride_y = S * 2 * I;
  dn->M = static_cast<int>(S);
  dn->N = m.H;
  dn->K = m.I;
  dn->batch = m.E;
  dn->x = m.act;
  dn->ldx = I;
  dn->stride_x = S * I;
  dn->w = m.w2;
  dn->ldw = I;
  dn->stride_w = H * I;
  dn->y = m.out;
  dn->y_f32 = true;
  dn->ldy = H;
  dn->stride_y = S * H;
}

// One strided-batched expert GEMM: on the thin kernel under MIXSERVE_THIN_MOE=1 where it takes the
// shape (at most 64 rows; the wgmma version for 17-64 rows under MIXSERVE_THIN_WGMMA=1), else cuBLASLt.
Status RunBatched(LtGemm& lt, cudaStream_t stream, const GemmSpec& g, const char* what) {
  if (GetMoeSwitches().thin && ThinGemmEnabled() && !g.w_kn && g.alpha == 1.0f && g.beta == 0.0f &&
      ThinGemmApplies(g.M, g.K, g.x, g.ldx, g.w, g.ldw)) {
    return Cuda(what, LaunchThinGemm(ThinFromSpec(g, DeviceSms()), stream));
  }
  MIXSERVE_CUDA_RETURN_IF_ERROR(lt.Run(stream, g));
  return Cuda(what, cudaSuccess);  // marks the kernel timer
}

// gate/up over E groups of S rows (group stride S rows in xs/gu), SiLU * up on the rows that hold a
// pair, then down into out (padding rows of act and out hold leftovers: nothing reads them).
// tune: whether LtGemm may time these shapes (not where S follows the routing, which changes from
// step to step: a tuning pass would land inside a timed step); where it may not, MIXSERVE_LT_BUCKET
// tunes them per bucket of S instead.
Status BatchedGemms(LtGemm& lt, cudaStream_t stream, const MoeExperts& m, int S, bool tune) {
  GemmSpec gu, dn;
  ExpertGemmSpecs(m, S, &gu, &dn);
  gu.tune = dn.tune = tune;
  gu.tune_bucket = !tune && GetMoeSwitches().lt_bucket >= 2;
  dn.tune_bucket = !tune && GetMoeSwitches().lt_bucket >= 1;
  MIXSERVE_CUDA_RETURN_IF_ERROR(RunBatched(lt, stream, gu, "moe gate_up gemm"));
  MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("moe silu", LaunchSiluMulPadded(m.act, m.gu, m.offsets, m.E, S, m.I, stream)));
  return RunBatched(lt, stream, dn, "moe down gemm");
}

}  // namespace

MoeLanes::~MoeLanes() {
  for (cudaStream_t st : streams_) cudaStreamDestroy(st);
  for (cudaEvent_t ev : done_) cudaEventDestroy(ev);
  if (fork_) cudaEventDestroy(fork_);
}

Status MoeLanes::Ensure(int n) {
  if (fork_ == nullptr) MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("moe lanes", cudaEventCreateWithFlags(&fork_, cudaEventDisableTiming)));
  while (static_cast<int>(streams_.size()) < n) {
    cudaStream_t st = nullptr;
    MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("moe lanes", cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking)));
    cudaEvent_t ev = nullptr;
    if (cudaError_t err = cudaEventCreateWithFlags(&ev, cudaEventDisableTiming); err != cudaSuccess) {
      cudaStreamDestroy(st);
      return Cuda("moe lanes", err);
    }
    streams_.push_back(st);
    done_.push_back(ev);
  }
  return Status::Ok();
}

const MoeSwitches& GetMoeSwitches() {
  static const MoeSwitches s = [] {
    MoeSwitches v;
    v.batched = EnvInt("MIXSERVE_MOE_BATCHED", 1) != 0;
    v.prefill = EnvInt("MIXSERVE_MOE_PREFILL", 0);
    v.prefill_pad_percent = std::max(EnvInt("MIXSERVE_MOE_PREFILL_PAD", 33), 0);
    v.padded_max_rows = std::max(EnvInt("MIXSERVE_MOE_PADDED_MAX", 0), 0);
    v.lt_bucket = std::max(EnvInt("MIXSERVE_LT_BUCKET", 0), 0);
    v.thin = EnvInt("MIXSERVE_THIN_MOE", 0) != 0;
    return v;
  }();
  return s;
}

Status RunPaddedExperts(LtGemm& lt, cudaStream_t stream, const MoeExperts& m, int S, bool batched) {
  if (static_cast<int64_t>(m.E) * S > m.max_rows) return Status::Internal("padded MoE: E * S rows exceed the scratch");
  const int64_t H = m.H, I = m.I;
  MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("moe gather", LaunchGatherPadded(m.xs, m.xn, m.sorted_pairs, m.offsets, m.k, m.E, S, m.H,
                                                                    stream)));
  if (batched) return BatchedGemms(lt, stream, m, S, true);
  for (int e = 0; e < m.E; ++e) {
    MIXSERVE_CUDA_RETURN_IF_ERROR(lt.Run(stream, S, 2 * m.I, m.H, m.xs + e * S * H, m.w13 + e * 2 * I * H, nullptr,
                                         m.gu + e * S * 2 * I, false));
  }
  MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("moe gate_up gemm", cudaSuccess));
  MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("moe silu", LaunchSiluMul(m.act, m.gu, m.E * S, m.I, stream)));
  for (int e = 0; e < m.E; ++e) {
    MIXSERVE_CUDA_RETURN_IF_ERROR(lt.Run(stream, S, m.H, m.I, m.act + e * S * I, m.w2 + e * H * I, m.out + e * S * H, nullptr,
                                         false));
  }
  return Cuda("moe down gemm", cudaSuccess);
}

Status RunThinGroupedExperts(cudaStream_t stream, const MoeExperts& m, int pairs, int sms) {
  if (pairs > m.max_rows) return Status::Internal("grouped thin MoE: pairs exceed the scratch");
  MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("moe gather", LaunchGatherRows(m.xs, m.xn, m.sorted_pairs, m.k, pairs, m.H, stream)));
  GemmSpec sgu, sdn;
  ExpertGemmSpecs(m, 0, &sgu, &sdn);
  auto grouped = [&](const GemmSpec& g) {  // 64-row tiles over the groups that m.offsets delimit
    ThinGemmArgs t = ThinFromSpec(g, sms);
    t.M = 64;  // unused with groups
    t.batch = ThinGroupedTiles(pairs, m.E);
    t.group_offsets = m.offsets;
    t.groups = m.E;
    t.splits = ThinGemmSplits(t.N, t.K, t.batch, sms);
    return t;
  };
  MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("moe gate_up gemm", LaunchThinGemm(grouped(sgu), stream)));
  MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("moe silu", LaunchSiluMul(m.act, m.gu, pairs, m.I, stream)));
  return Cuda("moe down gemm", LaunchThinGemm(grouped(sdn), stream));
}

int64_t MoeScratchRows(int64_t max_tokens, int E, int k, int padded_max_rows) {
  const int64_t pairs = max_tokens * std::max(k, 1);
  if (E <= 1) return pairs;
  return std::max(pairs + pairs / 8 + static_cast<int64_t>(E) * 32, E * std::min<int64_t>(padded_max_rows, max_tokens));
}

int PrefillStride(const std::vector<int32_t>& off, int64_t max_rows, int pad_percent) {
  const int E = static_cast<int>(off.size()) - 1;
  if (E < 2) return 0;
  int most = 0;
  for (int e = 0; e < E; ++e) most = std::max(most, off[e + 1] - off[e]);
  const int64_t S = (most + 31) / 32 * 32, pairs = off[E];
  if (S == 0 || E * S > max_rows || E * S > pairs + pairs * pad_percent / 100 + E * 32) return 0;
  return static_cast<int>(S);
}

namespace {

// Expert e's gate/up GEMM (xs -> gu) or, with down, its down GEMM (act -> out) over its compact rows
// off[e]..off[e+1]: M differs from step to step, so the exact shape is never tuned (each new M would
// cost a tuning pass inside a timed step); MIXSERVE_LT_BUCKET tunes it once per bucket of M instead.
GemmSpec GroupSpec(const MoeExperts& m, const std::vector<int32_t>& off, int e, bool down) {
  const int64_t H = m.H, I = m.I, r = off[e];
  const int n = off[e + 1] - off[e];
  GemmSpec g = down ? DenseSpec(n, m.H, m.I, m.act + r * I, m.w2 + e * H * I, m.out + r * H, true)
                    : DenseSpec(n, 2 * m.I, m.H, m.xs + r * H, m.w13 + e * 2 * I * H, m.gu + r * 2 * I, false);
  g.tune = false;
  g.tune_bucket = GetMoeSwitches().lt_bucket >= (down ? 1 : 2);
  return g;
}

// Expert e's gate/up GEMM, SiLU * up and down GEMM over its compact rows on lanes->stream(e), each
// lane forked from `stream` after the gather and joined back before returning.
Status LaneExperts(LtGemm& lt, cudaStream_t stream, const MoeExperts& m, const std::vector<int32_t>& off, MoeLanes& lanes) {
  const int64_t I = m.I;
  MIXSERVE_CUDA_RETURN_IF_ERROR(lanes.Ensure(m.E));
  MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("moe fork", cudaEventRecord(lanes.fork(), stream)));
  for (int e = 0; e < m.E; ++e) {
    const int n = off[e + 1] - off[e];
    if (n == 0) continue;
    cudaStream_t st = lanes.stream(e);
    MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("moe fork", cudaStreamWaitEvent(st, lanes.fork(), 0)));
    MIXSERVE_CUDA_RETURN_IF_ERROR(lt.Run(st, GroupSpec(m, off, e, false), e + 1));
    MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("moe silu", LaunchSiluMul(m.act + off[e] * I, m.gu + off[e] * 2 * I, n, m.I, st)));
    MIXSERVE_CUDA_RETURN_IF_ERROR(lt.Run(st, GroupSpec(m, off, e, true), e + 1));
    MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("moe join", cudaEventRecord(lanes.done(e), st)));
    MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("moe join", cudaStreamWaitEvent(stream, lanes.done(e), 0)));
  }
  return Cuda("moe experts", cudaSuccess);
}

}  // namespace

Status RunGroupedExperts(LtGemm& lt, cudaStream_t stream, const MoeExperts& m, const std::vector<int32_t>& off, int mode,
                         MoeLanes* lanes) {
  const int pairs = off[m.E];
  if (pairs > m.max_rows) return Status::Internal("grouped MoE: pairs exceed the scratch");
  if ((mode == 2 || mode == 3) && lanes == nullptr) return Status::InvalidArgument("grouped MoE: modes 2 and 3 need lanes");
  if (const int S = mode == 1 || mode == 3 || mode == 4 ? PrefillStride(off, m.max_rows, GetMoeSwitches().prefill_pad_percent) : 0;
      S > 0) {
    MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("moe gather", LaunchGatherPaddedCompact(m.xs, m.pos_of_pair, m.topk_ids, m.xn, m.sorted_pairs,
                                                                             m.offsets, m.k, pairs, m.E, S, m.H, stream)));
    return BatchedGemms(lt, stream, m, S, false);
  }
  MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("moe gather", LaunchGatherRows(m.xs, m.xn, m.sorted_pairs, m.k, pairs, m.H, stream)));
  if ((mode == 2 || mode == 3) && m.E > 1) return LaneExperts(lt, stream, m, off, *lanes);
  for (int e = 0; e < m.E; ++e) {
    if (off[e + 1] > off[e]) MIXSERVE_CUDA_RETURN_IF_ERROR(lt.Run(stream, GroupSpec(m, off, e, false)));
  }
  MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("moe gate_up gemm", cudaSuccess));
  MIXSERVE_CUDA_RETURN_IF_ERROR(Cuda("moe silu", LaunchSiluMul(m.act, m.gu, pairs, m.I, stream)));
  for (int e = 0; e < m.E; ++e) {
    if (off[e + 1] > off[e]) MIXSERVE_CUDA_RETURN_IF_ERROR(lt.Run(stream, GroupSpec(m, off, e, true)));
  }
  return Cuda("moe down gemm", cudaSuccess);
}

}  // namespace mixserve::cuda
