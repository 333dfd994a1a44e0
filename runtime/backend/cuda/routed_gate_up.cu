// Batch-1/2 decode: post-attention RMSNorm + router + the selected experts' gate/up projection (SiLU
// * up) in one kernel. Each block norms the rows and routes them itself (the same arithmetic in
// every block, so the same experts), then its warps stream gate/up weight row pairs; there is no
// router kernel between the O projection and the expert stream, and so one grid-wide wait fewer per
// layer. One block also writes the router's outputs for the down projection and the next combine.
#include <algorithm>

#include "runtime/backend/cuda/common.cuh"
#include "runtime/backend/cuda/decode_dot.cuh"
#include "runtime/backend/cuda/env_switch.h"
#include "runtime/backend/cuda/kernels.h"
#include "runtime/backend/cuda/router.cuh"

namespace mixserve::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kRouterLoads = 16;  // router columns kept in registers per lane: lane * 8 + i * 256, H <= 4096
constexpr int kUnroll = 4;        // 16-byte loads in flight per weight row and lane
constexpr int kNormVec = 4;       // float4 of a row per thread held in registers by the norm (H <= 4096)
constexpr int kMaxRows = 2;
constexpr int kMaxPairs = kMaxRows * kMaxTopK;

// Activation rows read from the block's shared-memory copy of the normed rows.
template <int N>
struct SmemRows {
  const float* row[N];
  __device__ __forceinline__ void operator()(int t, int k, float* v) {
    const float4 a = *reinterpret_cast<const float4*>(row[t] + k);
    const float4 b = *reinterpret_cast<const float4*>(row[t] + k + 4);
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
  }
};

// Gate row j and up row j of one expert against its N sorted pairs [begin, begin + N).
template <int N>
__device__ __forceinline__ void GateUpRows(const RoutedGateUpArgs& a, const float* xs, const int* sorted_s, int begin,
                                           const bf16* w0, const bf16* w1, int j, uint4 (&wv)[2][kUnroll]) {
  SmemRows<N> in;
#pragma unroll
  for (int t = 0; t < N; ++t) in.row[t] = xs + (sorted_s[begin + t] / a.k) * a.H;
  float acc[2][N];
#pragma unroll
  for (int t = 0; t < N; ++t) acc[0][t] = acc[1][t] = 0.0f;
  Dot2<N, kUnroll>(w0, w1, a.H, in, acc, wv);
#pragma unroll
  for (int t = 0; t < N; ++t) {
    const float g = WarpSum(acc[0][t]), u = WarpSum(acc[1][t]);
    if ((threadIdx.x & 31) == 0) a.act[static_cast<int64_t>(begin + t) * a.I + j] = Silu(g) * u;
  }
}

template <int TT>
__global__ void __launch_bounds__(kThreads, 2) RoutedGateUpKernel(RoutedGateUpArgs a) {
  extern __shared__ __align__(16) float xs[];  // (TT, H): the normed rows
  __shared__ float red_s[32];
  __shared__ float logit_s[TT][kMaxExperts];
  __shared__ int ids_s[kMaxPairs], sorted_s[kMaxPairs], active_s[kMaxPairs];
  __shared__ float w_s[kMaxPairs];
  __shared__ int off_s[kMaxExperts + 1];
  __shared__ int n_active_s;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, tid = threadIdx.x;
  const int H = a.H, E = a.E, k = a.k;
  // Router row `warp` before the PDL wait: weights never depend on the previous kernel.
  const bf16* rrow = a.router + static_cast<int64_t>(warp) * H;
  uint4 wr[kRouterLoads];
#pragma unroll
  for (int i = 0; i < kRouterLoads; ++i) {
    const int c = lane * 8 + i * 256;
    wr[i] = warp < E && c < H ? __ldg(reinterpret_cast<const uint4*>(rrow + c)) : make_uint4(0, 0, 0, 0);
  }
  // The norm weight too (this thread's first kNormVec float4 of it; rows past 4096 load the rest later).
  const float4* gw = reinterpret_cast<const float4*>(a.norm_w);
  float4 gv[kNormVec];
  auto load_g = [&] {
#pragma unroll
    for (int j = 0; j < kNormVec; ++j) {
      const int c4 = tid + j * kThreads;
      gv[j] = c4 * 4 < H ? __ldg(gw + c4) : make_float4(0.f, 0.f, 0.f, 0.f);
    }
  };
  if (a.norm_prefetch) load_g();
  GridDepWait();
  if (!a.norm_prefetch) load_g();
  // RMSNorm: xs = g * (x * inv_rms), the split router's expression; the row's loads all in flight at once.
  for (int t = 0; t < TT; ++t) {
    const float4* xr = reinterpret_cast<const float4*>(a.x + static_cast<int64_t>(t) * H);
    float4* xt = reinterpret_cast<float4*>(xs + t * H);
    float4 v[kNormVec];
#pragma unroll
    for (int j = 0; j < kNormVec; ++j) {
      const int c4 = tid + j * kThreads;
      v[j] = c4 * 4 < H ? __ldcg(xr + c4) : make_float4(0.f, 0.f, 0.f, 0.f);
    }
    float ss = 0.0f;
#pragma unroll
    for (int j = 0; j < kNormVec; ++j) ss += v[j].x * v[j].x + v[j].y * v[j].y + v[j].z * v[j].z + v[j].w * v[j].w;
    for (int c4 = tid + kNormVec * kThreads; c4 * 4 < H; c4 += kThreads) {  // rows longer than 4096
      const float4 u = __ldcg(xr + c4);
      ss += u.x * u.x + u.y * u.y + u.z * u.z + u.w * u.w;
      xt[c4] = u;
    }
    const float r = 1.0f / sqrtf(BlockSum(ss, red_s) / H + a.eps);
#pragma unroll
    for (int j = 0; j < kNormVec; ++j) {
      const int c4 = tid + j * kThreads;
      if (c4 * 4 < H) xt[c4] = NormScale(v[j], gv[j], r);
    }
    for (int c4 = tid + kNormVec * kThreads; c4 * 4 < H; c4 += kThreads) {
      xt[c4] = NormScale(xt[c4], __ldg(gw + c4), r);
    }
  }
  __syncthreads();
  // Logits: warp e takes expert e's router row.
  if (warp < E) {
    for (int t = 0; t < TT; ++t) {
      const float* x = xs + t * H;
      float s = 0.0f;
#pragma unroll
      for (int i = 0; i < kRouterLoads; ++i) {
        const int c = lane * 8 + i * 256;
        if (c < H) s += Dot8Bf16(wr[i], *reinterpret_cast<const float4*>(x + c), *reinterpret_cast<const float4*>(x + c + 4));
      }
      for (int c = lane * 8 + kRouterLoads * 256; c < H; c += 256) {  // rows longer than 4096
        s += Dot8Bf16(__ldg(reinterpret_cast<const uint4*>(rrow + c)), *reinterpret_cast<const float4*>(x + c),
                      *reinterpret_cast<const float4*>(x + c + 4));
      }
      s = WarpSum(s);
      if (lane == 0) logit_s[t][warp] = s;
    }
  }
  __syncthreads();
  // Warp t routes token t; then warp 0 groups the pairs by expert in pair order (the router
  // kernels' order): expert e's pairs at [off_s[e], off_s[e + 1]), experts with pairs in active_s.
  if (warp < TT) {
    int ids[kMaxTopK];
    float wk[kMaxTopK];
    WarpSoftmaxTopK(lane < E ? logit_s[warp][lane] : 0.0f, E, k, ids, wk);
    if (lane == 0) {
      for (int j = 0; j < k; ++j) {
        ids_s[warp * k + j] = ids[j];
        w_s[warp * k + j] = wk[j];
      }
    }
  }
  __syncthreads();
  const int n_pairs = TT * k;
  if (warp == 0) {
    const int my_e = lane < n_pairs ? ids_s[lane] : -1;
    int cnt = 0;
    if (lane < E) {
      for (int i = 0; i < n_pairs; ++i) cnt += ids_s[i] == lane;
    }
    int incl = cnt;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int v = __shfl_up_sync(0xffffffffu, incl, o);
      if (lane >= o) incl += v;
    }
    const int off = incl - cnt;
    if (lane < E) off_s[lane] = off;
    if (lane == E - 1) off_s[E] = incl;
    const unsigned below = (1u << lane) - 1u;
    const unsigned same = __match_any_sync(0xffffffffu, my_e);
    const int base = __shfl_sync(0xffffffffu, off, my_e < 0 ? 0 : my_e);
    if (lane < n_pairs) sorted_s[base + __popc(same & below)] = lane;
    const unsigned has = __ballot_sync(0xffffffffu, lane < E && cnt > 0);
    if (lane < E && cnt > 0) active_s[__popc(has & below)] = lane;
    if (lane == 0) n_active_s = __popc(has);
  }
  __syncthreads();
  // The last block writes the routing: its warps take the fewest row pairs (the units are dealt from
  // block 0 on), so the fence's wait is off the critical path.
  if (blockIdx.x == (a.writer_first ? 0 : gridDim.x - 1)) {
    for (int i = tid; i < n_pairs; i += kThreads) {
      a.topk_ids[i] = ids_s[i];
      a.topk_w[i] = w_s[i];
      a.sorted_pairs[i] = sorted_s[i];
      a.pos_of_pair[sorted_s[i]] = i;
    }
    for (int e = tid; e <= E; e += kThreads) a.offsets[e] = off_s[e];
    if (TT == 1 && a.sorted_w != nullptr && tid < n_pairs) a.sorted_w[tid] = w_s[sorted_s[tid]];
    if (tid == 0 && a.expert_hits != nullptr) a.expert_hits[0] += n_active_s;
    __threadfence();  // the down projection reads the offsets before its own PDL wait
  }
  __syncthreads();
  GridDepLaunch(a.early);
  // Warp units: (active expert, gate/up row pair j), strided over every warp of the grid.
  const int units = n_active_s * a.I, stride = gridDim.x * kWarps;
  for (int u = blockIdx.x * kWarps + warp; u < units; u += stride) {
    const int ai = u / a.I, j = u - ai * a.I, e = active_s[ai];
    const int begin = off_s[e], n = off_s[e + 1] - begin;
    const bf16* w0 = a.w13 + static_cast<int64_t>(e) * 2 * a.I * H + static_cast<int64_t>(j) * H;
    const bf16* w1 = w0 + static_cast<int64_t>(a.I) * H;
    uint4 wv[2][kUnroll];
    LoadW<kUnroll>(w0, w1, H, lane * 8, wv);
    if (TT == 1 || n == 1) {
      GateUpRows<1>(a, xs, sorted_s, begin, w0, w1, j, wv);
    } else {
      GateUpRows<TT>(a, xs, sorted_s, begin, w0, w1, j, wv);
    }
  }
}

}  // namespace

bool RoutedGateUpApplies(int T, int H, int I, int E, int k) {
  return T >= 1 && T <= kMaxRows && H % 8 == 0 && H > 0 && I > 0 && E > 1 && E <= kWarps && k >= 1 && k <= E &&
         k <= kMaxTopK && static_cast<int64_t>(T) * H * 4 <= 48 * 1024;
}

// MIXSERVE_ROUTED_GATE_UP=N: steps of up to N rows (0-2) route inside the gate/up kernel. Default 1
// (H200, 32 layers, 2026-11-27, alternating runs: with the norm's loads all in flight, bs1 148.0 / 147.9
// tok/s vs 144.4 / 143.9 with the router kernel; the first version 145.3 / 144.9 / 145.2 vs 143.0 /
// 143.4 / 143.3; at 2 rows it lost, 177.0 vs 179.6-180.0, so not there).
int RoutedGateUpMaxRows() {
  static const int n = std::clamp(EnvInt("MIXSERVE_ROUTED_GATE_UP", 1), 0, kMaxRows);
  return n;
}

// MIXSERVE_ROUTED_BLOCKS_PER_SM (1 or 2, default 2): the persistent grid's size. H200 bs1, 2026-11-27:
// one block an SM (8 warps) 119.6 tok/s against 145.3 with two; bounds for three (80 registers, so
// spills in the stream loop) gave 124.7 with two blocks and 141.6-142.3 with three: kept at 96.
int RoutedGateUpBlocks(int sms) {
  static const int per_sm = std::clamp(EnvInt("MIXSERVE_ROUTED_BLOCKS_PER_SM", 2), 1, 2);
  return per_sm * std::max(sms, 1);
}

cudaError_t LaunchRoutedGateUp(const RoutedGateUpArgs& args, cudaStream_t stream) {
  if (!RoutedGateUpApplies(args.T, args.H, args.I, args.E, args.k) || args.x == nullptr || args.norm_w == nullptr ||
      args.router == nullptr || args.w13 == nullptr || args.act == nullptr || args.topk_ids == nullptr ||
      args.topk_w == nullptr || args.offsets == nullptr || args.sorted_pairs == nullptr || args.pos_of_pair == nullptr) {
    return cudaErrorInvalidValue;
  }
  RoutedGateUpArgs a = args;
  a.early = EarlyTriggerEnabled();
  // MIXSERVE_ROUTED_NORM_PREFETCH=0: the norm weight is loaded after the PDL wait, with the row (bs1
  // 148.5 / 147.7 vs 148.0 / 147.9 before the wait: even; both gained +1.9% over the norm that read the
  // row through a shared-memory loop and the weight after the block sum).
  static const bool norm_prefetch = EnvSwitch("MIXSERVE_ROUTED_NORM_PREFETCH", true);
  a.norm_prefetch = norm_prefetch;
  // MIXSERVE_ROUTED_WRITER_FIRST=1: block 0 writes the routing (it takes the most row pairs).
  static const bool writer_first = EnvSwitch("MIXSERVE_ROUTED_WRITER_FIRST", false);
  a.writer_first = writer_first;
  const int blocks = a.blocks > 0 ? a.blocks : RoutedGateUpBlocks(DeviceSms());
  const size_t smem = static_cast<size_t>(a.T) * a.H * sizeof(float);
  if (a.T == 1) return LaunchKernel(RoutedGateUpKernel<1>, dim3(blocks), dim3(kThreads), smem, stream, a);
  return LaunchKernel(RoutedGateUpKernel<2>, dim3(blocks), dim3(kThreads), smem, stream, a);
}

}  // namespace mixserve::cuda
