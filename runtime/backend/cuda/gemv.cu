// Skinny GEMM: few activation rows times a bf16 weight matrix, streaming every weight row once per
// group of up to 8 rows. This is the batch-1 decode hot path (attention projections, the selected
// experts' weights, lm_head), so it is written for memory bandwidth: 16-byte weight loads that skip
// L1, several in flight per lane, activations staged in shared memory, fp32 accumulation.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "runtime/backend/cuda/common.cuh"
#include "runtime/backend/cuda/env_switch.h"
#include "runtime/backend/cuda/kernels.h"

namespace mixserve::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kChunk = 1024;               // K elements per shared-memory stage
constexpr int kMaxRows = 8;                // activation rows per pass
constexpr int kLoads = kChunk / 8 / 32;    // 16-byte loads per lane per weight row per stage
constexpr int kWarpRows = 2;               // weight rows per warp

struct Group {
  int first;  // first item
  int n;      // items in this group (<= kMaxRows)
};

// The two weight rows of a warp and whether they exist: gate_up -> j and N + j for j = out0 + slot,
// plain -> out0 + 2 * slot + {0, 1}. slot is the warp (or, split over K, the warps' pair).
__device__ __forceinline__ void WarpRows(const SkinnyArgs& a, int out0, int slot, bool gate_up, int (&wrow)[kWarpRows],
                                         bool (&valid)[kWarpRows]) {
  if (gate_up) {
    const int j = out0 + slot;
    wrow[0] = j;
    wrow[1] = a.N + j;
    valid[0] = valid[1] = j < a.N;
    return;
  }
#pragma unroll
  for (int r = 0; r < kWarpRows; ++r) {
    wrow[r] = out0 + slot * kWarpRows + r;
    valid[r] = wrow[r] < a.N;
  }
}

// s + w[0..8) . (x0, x1), one fmaf per element in column order.
__device__ __forceinline__ float Dot8(const float* w, const float4& x0, const float4& x1, float s) {
  s = fmaf(w[0], x0.x, s);
  s = fmaf(w[1], x0.y, s);
  s = fmaf(w[2], x0.z, s);
  s = fmaf(w[3], x0.w, s);
  s = fmaf(w[4], x1.x, s);
  s = fmaf(w[5], x1.y, s);
  s = fmaf(w[6], x1.z, s);
  s = fmaf(w[7], x1.w, s);
  return s;
}

// The expert block row blockIdx.y takes (the y-th expert that has items, so empty experts cost no
// blocks; expert 0 and all n_items without offsets), its weights and its items [*begin, *end).
// Plain loads (L1): reading the offsets through L2 (__ldcg) made every gate/up block's lookup a chain
// of L2 round trips, bs1 143 -> 128.7 tok/s (H200, 2026-11-27). The down projection reads them before
// its PDL wait; the routed gate/up kernel writes them, then fences, before it lets the down kernel launch.
// False when the block has nothing to do.
__device__ __forceinline__ bool BlockExpert(const SkinnyArgs& a, const bf16** w, int* begin, int* end) {
  int e = 0;
  if (a.offsets) {
    int seen = -1;
    for (e = 0; e < a.num_experts; ++e) {
      if (a.offsets[e + 1] > a.offsets[e] && ++seen == static_cast<int>(blockIdx.y)) break;
    }
    if (e == a.num_experts) return false;
  }
  *begin = a.offsets ? a.offsets[e] : 0;
  *end = a.offsets ? a.offsets[e + 1] : a.n_items;
  *w = a.w + a.expert_stride * e;
  return *begin < *end;
}

template <int TT>
__device__ void RunGroup(const SkinnyArgs& a, const bf16* w, int out0, Group g, float* xs) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int wrow[kWarpRows];
  bool valid[kWarpRows];
  WarpRows(a, out0, warp, a.gate_up, wrow, valid);
  float acc[kWarpRows][TT];
#pragma unroll
  for (int r = 0; r < kWarpRows; ++r)
#pragma unroll
    for (int t = 0; t < TT; ++t) acc[r][t] = 0.0f;

  for (int k0 = 0; k0 < a.K; k0 += kChunk) {
    const int kc = min(kChunk, a.K - k0);
    __syncthreads();
    const int c4n = kc / 4;
    for (int idx = threadIdx.x; idx < TT * c4n; idx += kThreads) {
      int t = idx / c4n, c4 = idx - t * c4n;
      float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
      if (t < g.n) {
        int p = g.first + t;
        int xr = a.gather ? a.gather[p] / a.gather_div : p;
        v = *reinterpret_cast<const float4*>(a.x + static_cast<int64_t>(xr) * a.ldx + k0 + c4 * 4);
      }
      *reinterpret_cast<float4*>(xs + t * kChunk + c4 * 4) = v;
    }
    __syncthreads();
    uint4 wv[kWarpRows][kLoads];
#pragma unroll
    for (int r = 0; r < kWarpRows; ++r) {
#pragma unroll
      for (int i = 0; i < kLoads; ++i) {
        int c8 = lane + 32 * i;
        if (valid[r] && c8 * 8 < kc) {
          wv[r][i] = LoadStreaming(reinterpret_cast<const uint4*>(w + static_cast<int64_t>(wrow[r]) * a.K + k0 + c8 * 8));
        } else {
          wv[r][i] = make_uint4(0, 0, 0, 0);
        }
      }
    }
#pragma unroll
    for (int i = 0; i < kLoads; ++i) {
      int c8 = lane + 32 * i;
      if (c8 * 8 >= kc) break;
      float wf[kWarpRows][8];
#pragma unroll
      for (int r = 0; r < kWarpRows; ++r) Unpack8(wv[r][i], wf[r]);
#pragma unroll
      for (int t = 0; t < TT; ++t) {
        const float4 x0 = *reinterpret_cast<const float4*>(xs + t * kChunk + c8 * 8);
        const float4 x1 = *reinterpret_cast<const float4*>(xs + t * kChunk + c8 * 8 + 4);
#pragma unroll
        for (int r = 0; r < kWarpRows; ++r) {
          acc[r][t] = Dot8(wf[r], x0, x1, acc[r][t]);
        }
      }
    }
  }
#pragma unroll
  for (int t = 0; t < TT; ++t) {
    float v[kWarpRows];
#pragma unroll
    for (int r = 0; r < kWarpRows; ++r) v[r] = WarpSum(acc[r][t]);
    if (lane != 0 || t >= g.n) continue;
    float* yrow = a.y + static_cast<int64_t>(g.first + t) * a.ldy;
    if (a.gate_up) {
      if (valid[0]) yrow[wrow[0]] = Silu(v[0]) * v[1];
    } else {
#pragma unroll
      for (int r = 0; r < kWarpRows; ++r) {
        if (valid[r]) yrow[wrow[r]] = a.accumulate ? yrow[wrow[r]] + v[r] : v[r];
      }
    }
  }
}

// Groups of 1 or 2 rows (batch-1 decode): activations straight from L1/L2, no shared-memory stage
// and no barriers, so every warp keeps kUnroll 16-byte loads per weight row in flight (8 for long
// rows, K >= 8192, e.g. the MoE down projection, when a.wide: MIXSERVE_SKINNY_WIDE).
// kSplit > 1 (plain projections only, a.split): the block's 8 warps take 8 / kSplit pairs of weight
// rows, kSplit warps per pair, each over one K slice; the slices' sums are added in slice order
// through shared memory (`red`, >= kWarps * kWarpRows * TT floats): deterministic, shorter serial
// loops and kSplit times the blocks.
//
// pre_wait: the kernel has not passed its PDL wait yet; it happens here, after the first loads of
// weight rows were issued (weights never depend on the previous kernel, the activations do).
template <int TT, int kUnroll, int kSplit = 1>
__device__ void RunGroupDirect(const SkinnyArgs& a, const bf16* w, int out0, Group g, float* red = nullptr,
                               bool pre_wait = false) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int slice = warp % kSplit, pair = warp / kSplit;
  const int k_len = a.K / kSplit, k_begin = slice * k_len, k_end = k_begin + k_len;
  int wrow[kWarpRows];
  bool valid[kWarpRows];
  WarpRows(a, out0, kSplit > 1 ? pair : warp, kSplit == 1 && a.gate_up, wrow, valid);  // split: plain rows only
  const float* xr[TT];
#pragma unroll
  for (int t = 0; t < TT; ++t) {
    int p = g.first + t;
    int row = a.gather ? a.gather[p] / a.gather_div : p;
    xr[t] = a.x + static_cast<int64_t>(row) * a.ldx;
  }
  float acc[kWarpRows][TT];
#pragma unroll
  for (int r = 0; r < kWarpRows; ++r)
#pragma unroll
    for (int t = 0; t < TT; ++t) acc[r][t] = 0.0f;
  for (int k0 = k_begin + lane * 8; k0 < k_end; k0 += 32 * 8 * kUnroll) {
    uint4 wv[kWarpRows][kUnroll];
#pragma unroll
    for (int r = 0; r < kWarpRows; ++r) {
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int k = k0 + u * 256;
        wv[r][u] = valid[r] && k < k_end
                       ? LoadStreaming(reinterpret_cast<const uint4*>(w + static_cast<int64_t>(wrow[r]) * a.K + k))
                       : make_uint4(0, 0, 0, 0);
      }
    }
    if (pre_wait) {
      GridDepWait();
      GridDepLaunch(a.early);
      pre_wait = false;
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int k = k0 + u * 256;
      if (k >= k_end) break;
      float wf[kWarpRows][8];
#pragma unroll
      for (int r = 0; r < kWarpRows; ++r) Unpack8(wv[r][u], wf[r]);
#pragma unroll
      for (int t = 0; t < TT; ++t) {
        const float4 x0 = __ldg(reinterpret_cast<const float4*>(xr[t] + k));
        const float4 x1 = __ldg(reinterpret_cast<const float4*>(xr[t] + k + 4));
#pragma unroll
        for (int r = 0; r < kWarpRows; ++r) {
          acc[r][t] = Dot8(wf[r], x0, x1, acc[r][t]);
        }
      }
    }
  }
  if constexpr (kSplit > 1) {
#pragma unroll
    for (int t = 0; t < TT; ++t) {
#pragma unroll
      for (int r = 0; r < kWarpRows; ++r) {
        const float v = WarpSum(acc[r][t]);
        if (lane == 0) red[(warp * kWarpRows + r) * TT + t] = v;
      }
    }
    __syncthreads();
    if (slice == 0 && lane < kWarpRows * TT) {
      const int r = lane / TT, t = lane - r * TT;
      float v = 0.0f;
#pragma unroll
      for (int sl = 0; sl < kSplit; ++sl) v += red[((warp + sl) * kWarpRows + r) * TT + t];
      const bool ok = r == 0 ? valid[0] : valid[1];  // static indices: the arrays stay in registers
      if (ok && t < g.n) {
        float* y = a.y + static_cast<int64_t>(g.first + t) * a.ldy + (r == 0 ? wrow[0] : wrow[1]);
        *y = a.accumulate ? *y + v : v;
      }
    }
    __syncthreads();
  } else {
#pragma unroll
    for (int t = 0; t < TT; ++t) {
      float v[kWarpRows];
#pragma unroll
      for (int r = 0; r < kWarpRows; ++r) v[r] = WarpSum(acc[r][t]);
      if (lane != 0) continue;
      float* yrow = a.y + static_cast<int64_t>(g.first + t) * a.ldy;
      if (a.gate_up) {
        if (valid[0]) yrow[wrow[0]] = Silu(v[0]) * v[1];
      } else {
#pragma unroll
        for (int r = 0; r < kWarpRows; ++r) {
          if (valid[r]) yrow[wrow[r]] = a.accumulate ? yrow[wrow[r]] + v[r] : v[r];
        }
      }
    }
  }
}

__global__ void __launch_bounds__(kThreads, 2) SkinnyKernel(SkinnyArgs a) {
  GridDepWait();
  GridDepLaunch(a.early);
  __shared__ __align__(16) float xs[kMaxRows * kChunk];
  const bf16* w = nullptr;
  int begin = 0, end = 0;
  if (!BlockExpert(a, &w, &begin, &end)) return;
  const int out0 = blockIdx.x * (a.gate_up ? kWarps : kWarps * kWarpRows);
  for (int first = begin; first < end; first += kMaxRows) {
    Group g{first, min(kMaxRows, end - first)};
    if (g.n == 1) {
      if (a.wide) {
        RunGroupDirect<1, 8>(a, w, out0, g);
      } else {
        RunGroupDirect<1, 4>(a, w, out0, g);
      }
    } else if (g.n == 2) {
      if (a.wide) {
        RunGroupDirect<2, 8>(a, w, out0, g);
      } else {
        RunGroupDirect<2, 4>(a, w, out0, g);
      }
    } else if (g.n <= 4) {
      RunGroup<4>(a, w, out0, g, xs);
    } else {
      RunGroup<8>(a, w, out0, g, xs);
    }
  }
}

std::atomic<int> g_split{-1};

// MIXSERVE_DOWN_SPLIT = 0 (the general kernel), 1, 2 or 4 (default) (SkinnySplitKernel with that many
// K slices; H200 bs1 in session 18, alternating in one call: 4 slices 146.9 / 146.5 / 146.9 tok/s
// against 145.7 / 145.7 / 145.2 with 2, bs2 +0.5%, bs4-8 even; 8 slices 144.0-144.5, slower; back in
// v4, before the fused kernels around it, 133.9 / 133.7 / 133.1 with 1 / 2 / 4 and 129.2 with
// 0); SetSkinnySplit overrides it (-1: back to the environment).
int SkinnySplit() {
  const int forced = g_split.load(std::memory_order_relaxed);
  if (forced >= 0) return forced;
  static const int env = [] {
    const char* v = std::getenv("MIXSERVE_DOWN_SPLIT");
    if (v == nullptr) return 4;
    if (std::strcmp(v, "1") == 0) return 1;
    if (std::strcmp(v, "2") == 0) return 2;
    if (std::strcmp(v, "4") == 0) return 4;
    return 0;
  }();
  return env;
}

// The split-K path (a.split >= 1) on its own, so its register budget (64: 4 blocks of 8 warps an SM)
// is not the general kernel's (128, set by the shared-memory paths: 2 blocks an SM). Launched only
// when no expert has more than 2 items (one group of 1 or 2 rows).
// With a.prefetch the expert lookup and the first weight loads come before the PDL wait: the offsets
// come from the router, which finished before the previous kernel (the gate/up projection) passed its
// own wait, and that kernel lets this one launch only after that wait.
template <int S>
__global__ void __launch_bounds__(kThreads, 4) SkinnySplitKernel(SkinnyArgs a) {
  if (!a.prefetch) {
    GridDepWait();
    GridDepLaunch(a.early);
  }
  __shared__ float red[kWarps * kWarpRows * 2];
  const bf16* w = nullptr;
  int begin = 0, end = 0;
  if (!BlockExpert(a, &w, &begin, &end)) return;
  const int out0 = blockIdx.x * (kWarps * kWarpRows / S);
  const Group g{begin, min(2, end - begin)};
  if (g.n == 1) {
    RunGroupDirect<1, 4, S>(a, w, out0, g, red, a.prefetch);
  } else {
    RunGroupDirect<2, 4, S>(a, w, out0, g, red, a.prefetch);
  }
}

}  // namespace

void SetSkinnySplit(int split) { g_split.store(split == 0 || split == 1 || split == 2 || split == 4 ? split : -1); }

cudaError_t LaunchSkinnyGemm(const SkinnyArgs& args, cudaStream_t stream) {
  SkinnyArgs a = args;
  // The batch-1/2 MoE down projection lets the next layer's fused QKV kernel launch while its last
  // wave runs: that kernel issues its weight loads before its PDL wait (decode_fused.cu).
  const int per_expert = a.offsets ? (a.max_per_expert > 0 ? a.max_per_expert : a.max_items) : a.n_items;
  a.early = EarlyTriggerEnabled() || (DecodePrefetchEnabled() && a.offsets && !a.gate_up && per_expert <= 2);
  // Default off: 8 loads in flight per row and lane for K >= 8192 measured slower on H200 (bs1 128.0
  // tok/s vs 130.2 with 4); MIXSERVE_SKINNY_WIDE=1 turns it on.
  static const bool wide = EnvSwitch("MIXSERVE_SKINNY_WIDE", false);
  a.wide = wide && a.K >= 8192;
  // Split-K for long plain rows met by at most 2 activation rows (the batch-1/2 MoE down projection).
  const int split = SkinnySplit();
  a.split = split >= 1 && !a.gate_up && a.K >= 8192 && per_expert <= 2 && a.K % (8 * split) == 0 ? split : 0;
  // MIXSERVE_DOWN_PREFETCH=0: the split-K kernel waits before its expert lookup and first weight loads.
  static const bool prefetch = EnvSwitch("MIXSERVE_DOWN_PREFETCH", true);
  a.prefetch = a.split >= 1 && prefetch && DecodePrefetchEnabled();
  if (a.K % 8 != 0 || a.ldx % 4 != 0) return cudaErrorInvalidValue;
  if (!a.offsets && a.n_items == 0) return cudaSuccess;
  const int experts = a.offsets && a.max_items > 0 ? std::min(a.num_experts, a.max_items) : a.num_experts;
  if (a.split >= 1) {
    const int rows = kWarps * kWarpRows / a.split;
    const dim3 grid((a.N + rows - 1) / rows, experts);
    if (a.split == 1) LaunchKernel(SkinnySplitKernel<1>, grid, dim3(kThreads), 0, stream, a);
    if (a.split == 2) LaunchKernel(SkinnySplitKernel<2>, grid, dim3(kThreads), 0, stream, a);
    if (a.split == 4) LaunchKernel(SkinnySplitKernel<4>, grid, dim3(kThreads), 0, stream, a);
    return cudaGetLastError();
  }
  const int per_block = a.gate_up ? kWarps : kWarps * kWarpRows;
  const dim3 grid((a.N + per_block - 1) / per_block, experts);
  LaunchKernel(SkinnyKernel, grid, dim3(kThreads), 0, stream, a);
  return cudaGetLastError();
}

}  // namespace mixserve::cuda
