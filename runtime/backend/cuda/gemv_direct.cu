// Batch-1/2 GEMV (v3): the decode hot path when every weight row meets at most 2 activation rows.
//
// Differences from the general skinny kernel (gemv.cu), all for memory bandwidth:
// - no shared memory and a small register budget, so more warps per SM;
// - software pipelined: each warp issues the next stage's 16-byte weight loads before it does the
//   FMAs of the current one (two register buffers, ping-pong), so a warp never waits with nothing
//   in flight;
// - a persistent grid: as many blocks as fit on the GPU at once, warps walking units of weight rows
//   (of every expert that has items) round robin, so no partial last wave;
// - for projections whose weights do not depend on the previous kernel (no expert offsets), each
//   warp issues its first stage of weight loads BEFORE griddepcontrol.wait: with the early trigger
//   of the previous kernel this overlaps the weight stream with that kernel's tail.
#include <algorithm>

#include "runtime/backend/cuda/common.cuh"
#include "runtime/backend/cuda/kernels.h"

namespace mixserve::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kLoadsPerStage = 8;  // 16-byte loads per lane per stage, over the warp's rows

struct Unit {
  int e;      // expert (0 without offsets)
  int begin;  // items [begin, end)
  int end;
  int row0;   // first weight row (plain) or output j (gate_up)
};

// RW weight rows per warp unit (gate_up: RW = 2, rows j and N + j); U loads per row per stage.
template <int RW>
struct Stage {
  static constexpr int U = kLoadsPerStage / RW;
  uint4 v[RW][U];
};

template <int RW>
__device__ __forceinline__ void LoadStage(Stage<RW>& s, const bf16* const* rows, const bool* valid, int K, int k0) {
#pragma unroll
  for (int r = 0; r < RW; ++r) {
#pragma unroll
    for (int u = 0; u < Stage<RW>::U; ++u) {
      const int k = k0 + u * 256;
      s.v[r][u] = valid[r] && k < K ? LoadStreaming(reinterpret_cast<const uint4*>(rows[r] + k)) : make_uint4(0, 0, 0, 0);
    }
  }
}

template <int RW, int TT>
__device__ __forceinline__ void FmaStage(const Stage<RW>& s, const float* const* xr, int K, int k0,
                                         float (&acc)[RW][TT]) {
#pragma unroll
  for (int u = 0; u < Stage<RW>::U; ++u) {
    const int k = k0 + u * 256;
    if (k >= K) break;
#pragma unroll
    for (int t = 0; t < TT; ++t) {
      const float4 x0 = __ldg(reinterpret_cast<const float4*>(xr[t] + k));
      const float4 x1 = __ldg(reinterpret_cast<const float4*>(xr[t] + k + 4));
#pragma unroll
      for (int r = 0; r < RW; ++r) {
        float wf[8];
        Unpack8(s.v[r][u], wf);
        float a = acc[r][t];
        a = fmaf(wf[0], x0.x, a);
        a = fmaf(wf[1], x0.y, a);
        a = fmaf(wf[2], x0.z, a);
        a = fmaf(wf[3], x0.w, a);
        a = fmaf(wf[4], x1.x, a);
        a = fmaf(wf[5], x1.y, a);
        a = fmaf(wf[6], x1.z, a);
        a = fmaf(wf[7], x1.w, a);
        acc[r][t] = a;
      }
    }
  }
}

// One unit: RW weight rows against TT (1 or 2) activation rows, `first` already loaded into `a`.
template <int RW, int TT>
__device__ __forceinline__ void RunUnit(const SkinnyArgs& p, const bf16* const* rows, const bool* valid, int64_t out_row0,
                        const int* wout, int first, int n, Stage<RW>& a) {
  const int lane = threadIdx.x & 31;
  const float* xr[TT];
#pragma unroll
  for (int t = 0; t < TT; ++t) {
    const int it = first + min(t, n - 1);
    const int row = p.gather ? p.gather[it] / p.gather_div : it;
    xr[t] = p.x + static_cast<int64_t>(row) * p.ldx;
  }
  float acc[RW][TT];
#pragma unroll
  for (int r = 0; r < RW; ++r)
#pragma unroll
    for (int t = 0; t < TT; ++t) acc[r][t] = 0.0f;
  constexpr int kStep = 256 * Stage<RW>::U;
  Stage<RW> b;
  int k0 = lane * 8;
  for (;;) {
    if (k0 + kStep < p.K) LoadStage<RW>(b, rows, valid, p.K, k0 + kStep);
    FmaStage<RW, TT>(a, xr, p.K, k0, acc);
    k0 += kStep;
    if (k0 >= p.K) break;
    if (k0 + kStep < p.K) LoadStage<RW>(a, rows, valid, p.K, k0 + kStep);
    FmaStage<RW, TT>(b, xr, p.K, k0, acc);
    k0 += kStep;
    if (k0 >= p.K) break;
  }
#pragma unroll
  for (int t = 0; t < TT; ++t) {
    float v[RW];
#pragma unroll
    for (int r = 0; r < RW; ++r) v[r] = WarpSum(acc[r][t]);
    if (lane != 0 || t >= n) continue;
    float* yrow = p.y + (out_row0 + first + t) * p.ldy;
    if (p.gate_up) {
      if (valid[0]) yrow[wout[0]] = Silu(v[0]) * v[1];
    } else {
#pragma unroll
      for (int r = 0; r < RW; ++r) {
        if (valid[r]) yrow[wout[r]] = p.accumulate ? yrow[wout[r]] + v[r] : v[r];
      }
    }
  }
}

// Finds unit u's expert and rows; false when the unit's expert slot has no expert with items.
__device__ __forceinline__ bool FindUnit(const SkinnyArgs& p, int units_per_expert, int rows_per_unit, int u,
                                         Unit* out) {
  const int slot = u / units_per_expert, i = u - slot * units_per_expert;
  out->row0 = i * rows_per_unit;
  if (!p.offsets) {
    out->e = 0;
    out->begin = 0;
    out->end = p.n_items;
    return true;
  }
  int seen = -1;
  for (int e = 0; e < p.num_experts; ++e) {
    const int b = __ldcg(p.offsets + e), en = __ldcg(p.offsets + e + 1);
    if (en > b && ++seen == slot) {
      out->e = e;
      out->begin = b;
      out->end = en;
      return true;
    }
  }
  return false;
}

// TT: activation rows per pass (1 when no weight row meets more than one, else 2).
template <int RW, int TT>
__global__ void __launch_bounds__(kThreads, 2) SkinnyDirectKernel(SkinnyArgs p, int units_per_expert, int n_units) {
  const int lane = threadIdx.x & 31;
  const int gw = blockIdx.x * kWarps + (threadIdx.x >> 5), n_warps = gridDim.x * kWarps;
  const int rows_per_unit = p.gate_up ? 1 : RW;
  Stage<RW> a;
  const bf16* rows[RW];
  bool valid[RW];
  int wout[RW];
  auto setup = [&](const Unit& unit) {
    const bf16* w = p.w + p.expert_stride * unit.e;
#pragma unroll
    for (int r = 0; r < RW; ++r) {
      if (p.gate_up) {
        wout[r] = unit.row0;
        valid[r] = unit.row0 < p.N;
        rows[r] = w + static_cast<int64_t>(unit.row0 + r * p.N) * p.K;
      } else {
        wout[r] = unit.row0 + r;
        valid[r] = wout[r] < p.N;
        rows[r] = w + static_cast<int64_t>(wout[r]) * p.K;
      }
    }
  };
  int u = gw;
  Unit unit{};
  bool have = false;
  if (!p.offsets && u < n_units) {
    // Weights are not produced by earlier kernels: start streaming before waiting for them.
    FindUnit(p, units_per_expert, rows_per_unit, u, &unit);
    setup(unit);
    LoadStage<RW>(a, rows, valid, p.K, lane * 8);
    have = true;
  }
  GridDepWait();
  GridDepLaunch(p.early);
  for (; u < n_units; u += n_warps) {
    if (!have) {
      if (!FindUnit(p, units_per_expert, rows_per_unit, u, &unit)) continue;
      setup(unit);
      LoadStage<RW>(a, rows, valid, p.K, lane * 8);
    }
    have = false;
    for (int first = unit.begin; first < unit.end; first += TT) {
      const int n = min(TT, unit.end - first);
      if (first != unit.begin) LoadStage<RW>(a, rows, valid, p.K, lane * 8);
      RunUnit<RW, TT>(p, rows, valid, 0, wout, first, n, a);
    }
  }
}

template <int RW, int TT>
int BlocksFor(int units) {
  static int per_sm = 0, sms = 0;
  if (per_sm == 0) {
    int dev = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
    cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, SkinnyDirectKernel<RW, TT>, kThreads, 0);
    per_sm = std::max(per_sm, 1);
    sms = std::max(sms, 1);
  }
  return std::max(1, std::min((units + kWarps - 1) / kWarps, per_sm * sms));
}

template <int TT>
cudaError_t LaunchDirect(const SkinnyArgs& a, cudaStream_t stream) {
  const int experts = !a.offsets ? 1 : a.max_items > 0 ? std::min(a.num_experts, a.max_items) : a.num_experts;
  // One weight row per warp unit for long rows (the expert down projection, K = 14336), so the
  // units are small enough to balance; two otherwise (gate_up always pairs rows j and N + j).
  if (a.gate_up || a.K < 8192) {
    const int upe = a.gate_up ? a.N : (a.N + 1) / 2;
    const int units = upe * experts;
    LaunchKernel(SkinnyDirectKernel<2, TT>, dim3(BlocksFor<2, TT>(units)), dim3(kThreads), 0, stream, a, upe, units);
  } else {
    const int upe = a.N;
    const int units = upe * experts;
    LaunchKernel(SkinnyDirectKernel<1, TT>, dim3(BlocksFor<1, TT>(units)), dim3(kThreads), 0, stream, a, upe, units);
  }
  return cudaGetLastError();
}

}  // namespace

// Rows that meet one weight row at most; with offsets and no bound given, unknown (not applicable).
static int RowsPerWeightRow(const SkinnyArgs& a) {
  if (!a.offsets) return a.n_items;
  if (a.max_per_expert > 0) return a.max_per_expert;
  return a.max_items > 0 ? a.max_items : 1 << 30;
}

bool SkinnyDirectApplies(const SkinnyArgs& a) {
  return RowsPerWeightRow(a) <= 2 && a.K % 8 == 0 && a.ldx % 4 == 0;
}

cudaError_t LaunchSkinnyDirect(const SkinnyArgs& args, cudaStream_t stream) {
  SkinnyArgs a = args;
  a.early = EarlyTriggerEnabled();
  if (!a.offsets && a.n_items == 0) return cudaSuccess;
  return RowsPerWeightRow(a) <= 1 ? LaunchDirect<1>(a, stream) : LaunchDirect<2>(a, stream);
}

}  // namespace mixserve::cuda
