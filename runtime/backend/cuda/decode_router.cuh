// The MoE router (LaunchRouter's outputs) computed by one block that already holds the normed rows:
// the last block of the batch-1/2 fused O projection + norm (decode_fused.cu, MIXSERVE_FUSED_ROUTER),
// which saves the router kernel's launch and its wait on the critical path of a decode step.
#pragma once

#include <cfloat>

#include "runtime/backend/cuda/common.cuh"
#include "runtime/backend/cuda/kernels.h"

namespace mixserve::cuda {
namespace fused_router {

constexpr int kRouterMaxE = 16;       // router.cu's limits
constexpr int kRouterMaxK = 8;
constexpr int kRouterMaxBlocks = 32;  // router.cu's split kernel: at most 32 blocks of 256 columns
constexpr int kRouterCols = 256;

// LaunchRouter for the block's TT normed rows (a.out_f), by one block, in the arithmetic of
// router.cu's split kernel: warp w plays that kernel's blocks b = w, w + warps, ... (same lanes, same
// columns, same expression, same warp sums), then the partials are added in block order, softmax /
// top-k (ties to the lower index) / renormalise by one thread per row, and the grouping in pair order.
template <int TT>
__device__ void LastBlockRouter(const FusedOutNormArgs& a) {
  __shared__ float part[TT * kRouterMaxBlocks * kRouterMaxE];
  __shared__ float logit_s[TT][kRouterMaxE];
  __shared__ int ids_s[TT * kRouterMaxK];
  __shared__ int count_s[kRouterMaxE], base_s[kRouterMaxE];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5, tid = threadIdx.x;
  const int H = a.N, E = a.E, k = a.k;
  const int nb = min(kRouterMaxBlocks, (H + kRouterCols - 1) / kRouterCols);
  __syncthreads();  // out_f, written by this block, is read below
  for (int t = 0; t < TT; ++t) {
    const float* xr = a.out_f + static_cast<int64_t>(t) * H;
    for (int b = warp; b < nb; b += warps) {
      float acc[kRouterMaxE];
#pragma unroll
      for (int e = 0; e < kRouterMaxE; ++e) acc[e] = 0.0f;
      for (int c = b * kRouterCols + lane * 8; c < H; c += nb * kRouterCols) {
        const float4 x0 = __ldcg(reinterpret_cast<const float4*>(xr + c));
        const float4 x1 = __ldcg(reinterpret_cast<const float4*>(xr + c + 4));
#pragma unroll
        for (int e0 = 0; e0 < kRouterMaxE; e0 += 8) {
          if (e0 >= E) break;
          uint4 wv[8];
#pragma unroll
          for (int e = 0; e < 8; ++e) {
            wv[e] = e0 + e < E ? *reinterpret_cast<const uint4*>(a.router + static_cast<int64_t>(e0 + e) * H + c)
                               : make_uint4(0, 0, 0, 0);
          }
#pragma unroll
          for (int e = 0; e < 8; ++e) {
            if (e0 + e < E) {
              float f0[8];
              Unpack8(wv[e], f0);
              acc[e0 + e] += f0[0] * x0.x + f0[1] * x0.y + f0[2] * x0.z + f0[3] * x0.w + f0[4] * x1.x + f0[5] * x1.y +
                             f0[6] * x1.z + f0[7] * x1.w;
            }
          }
        }
      }
#pragma unroll
      for (int e = 0; e < kRouterMaxE; ++e) {
        if (e < E) {
          const float v = WarpSum(acc[e]);
          if (lane == 0) part[(t * kRouterMaxBlocks + b) * kRouterMaxE + e] = v;
        }
      }
    }
  }
  __syncthreads();
  for (int i = tid; i < TT * E; i += blockDim.x) {
    const int t = i / E, e = i - t * E;
    float v = 0.0f;
    for (int j = 0; j < nb; ++j) v += part[(t * kRouterMaxBlocks + j) * kRouterMaxE + e];
    logit_s[t][e] = v;
  }
  __syncthreads();
  if (tid < TT) {
    const int t = tid;
    float p[kRouterMaxE];
    float mx = -FLT_MAX;
    for (int e = 0; e < E; ++e) {
      p[e] = logit_s[t][e];
      mx = fmaxf(mx, p[e]);
    }
    float sum = 0.0f;
    for (int e = 0; e < E; ++e) {
      p[e] = expf(p[e] - mx);
      sum += p[e];
    }
    for (int e = 0; e < E; ++e) p[e] /= sum;
    bool taken[kRouterMaxE] = {};
    int ids[kRouterMaxK];
    float picked_sum = 0.0f;
    for (int j = 0; j < k; ++j) {
      int best = -1;
      for (int e = 0; e < E; ++e) {
        if (!taken[e] && (best < 0 || p[e] > p[best])) best = e;
      }
      taken[best] = true;
      ids[j] = best;
      picked_sum += p[best];
    }
    for (int j = 0; j < k; ++j) {
      ids_s[t * k + j] = ids[j];
      a.topk_ids[t * k + j] = ids[j];
      a.topk_w[t * k + j] = p[ids[j]] / picked_sum;
    }
  }
  __syncthreads();
  const int n_pairs = TT * k;
  if (tid < E) {
    int cnt = 0;
    for (int i = 0; i < n_pairs; ++i) cnt += ids_s[i] == tid;
    count_s[tid] = cnt;
  }
  __syncthreads();
  if (tid == 0) {
    int run = 0, used = 0;
    for (int e = 0; e < E; ++e) {
      a.offsets[e] = run;
      base_s[e] = a.pad_stride > 0 ? e * a.pad_stride : run;
      run += count_s[e];
      used += count_s[e] > 0;
    }
    a.offsets[E] = run;
    if (a.experts_touched) a.experts_touched[0] += used;
  }
  __syncthreads();
  for (int i = tid; i < n_pairs; i += blockDim.x) {
    const int e = ids_s[i];
    int rank = 0;
    for (int j = 0; j < i; ++j) rank += ids_s[j] == e;
    const int p = base_s[e] + rank;
    a.sorted_pairs[p] = i;
    a.pos_of_pair[i] = p;
  }
}

}  // namespace fused_router
}  // namespace mixserve::cuda
