// Fused MoE router (gate logits -> softmax -> top-k -> renormalise, one block per token) and the
// grouping of (token, slot) pairs by expert that the MoE kernels walk (like vLLM's
// moe_align_block_size, without padding: the skinny kernel takes any count).
#include <cfloat>
#include <cstdlib>

#include "runtime/backend/cuda/common.cuh"
#include "runtime/backend/cuda/kernels.h"

namespace mixserve::cuda {
namespace {

constexpr int kMaxExperts = 16;
constexpr int kMaxTopK = 8;
constexpr int kRouterThreads = 256;

__global__ void RouterKernel(const float* xn, const bf16* router, int H, int E, int k, int32_t* topk_ids,
                             float* topk_w, bool early) {
  GridDepWait();
  GridDepLaunch(early);
  __shared__ float partial[kRouterThreads / 32][kMaxExperts];
  const int t = blockIdx.x, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const float* x = xn + static_cast<int64_t>(t) * H;
  float acc[kMaxExperts];
#pragma unroll
  for (int e = 0; e < kMaxExperts; ++e) acc[e] = 0.0f;
  if (H % 8 == 0) {
    // 16-byte loads (the scalar loop below took 44 us per token on H100: latency-bound).
    for (int c = threadIdx.x * 8; c < H; c += kRouterThreads * 8) {
      const float4 x0 = *reinterpret_cast<const float4*>(x + c), x1 = *reinterpret_cast<const float4*>(x + c + 4);
#pragma unroll
      for (int e = 0; e < kMaxExperts; ++e) {
        if (e < E) {
          float wf[8];
          Unpack8(*reinterpret_cast<const uint4*>(router + static_cast<int64_t>(e) * H + c), wf);
          acc[e] += wf[0] * x0.x + wf[1] * x0.y + wf[2] * x0.z + wf[3] * x0.w + wf[4] * x1.x + wf[5] * x1.y +
                    wf[6] * x1.z + wf[7] * x1.w;
        }
      }
    }
  } else {
    for (int c = threadIdx.x; c < H; c += kRouterThreads) {
      const float xv = x[c];
#pragma unroll
      for (int e = 0; e < kMaxExperts; ++e) {
        if (e < E) acc[e] += xv * __bfloat162float(router[static_cast<int64_t>(e) * H + c]);
      }
    }
  }
#pragma unroll
  for (int e = 0; e < kMaxExperts; ++e) {
    float v = WarpSum(acc[e]);
    if (lane == 0) partial[warp][e] = v;
  }
  __syncthreads();
  if (threadIdx.x != 0) return;
  float p[kMaxExperts];
  float mx = -FLT_MAX;
  for (int e = 0; e < E; ++e) {
    float v = 0.0f;
    for (int w = 0; w < kRouterThreads / 32; ++w) v += partial[w][e];
    p[e] = v;
    mx = fmaxf(mx, v);
  }
  float sum = 0.0f;
  for (int e = 0; e < E; ++e) {
    p[e] = expf(p[e] - mx);
    sum += p[e];
  }
  for (int e = 0; e < E; ++e) p[e] /= sum;
  // Top-k by descending probability; exact ties go to the lower index (as the CPU oracle).
  bool taken[kMaxExperts] = {};
  int ids[kMaxTopK];
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
    topk_ids[t * k + j] = ids[j];
    topk_w[t * k + j] = p[ids[j]] / picked_sum;
  }
}

// One block: counts per expert, offsets, and each pair's place in the expert-sorted order.
__global__ void AlignKernel(int n_pairs, int E, bool dense, int32_t* topk_ids, float* topk_w, int32_t* offsets,
                            int32_t* sorted_pairs, int32_t* pos_of_pair, int32_t* expert_hits, int pad_stride, bool early) {
  GridDepWait();
  GridDepLaunch(early);
  __shared__ int count[kMaxExperts], cursor[kMaxExperts];
  if (threadIdx.x < kMaxExperts) count[threadIdx.x] = 0;
  __syncthreads();
  for (int i = threadIdx.x; i < n_pairs; i += blockDim.x) {
    if (dense) {
      topk_ids[i] = 0;
      topk_w[i] = 1.0f;
    }
    atomicAdd(&count[topk_ids[i]], 1);
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int run = 0;
    for (int e = 0; e < E; ++e) {
      offsets[e] = run;
      cursor[e] = pad_stride > 0 ? e * pad_stride : run;
      run += count[e];
      if (expert_hits && count[e] > 0) expert_hits[0] += 1;
    }
    offsets[E] = run;
  }
  __syncthreads();
  for (int i = threadIdx.x; i < n_pairs; i += blockDim.x) {
    int p = dense && pad_stride == 0 ? i : atomicAdd(&cursor[topk_ids[i]], 1);
    sorted_pairs[p] = i;
    pos_of_pair[i] = p;
  }
}

// Small batches (T * k <= kMaxFusedPairs): router and grouping in one block, one kernel launch
// instead of two. The whole block computes each token's E dot products (16-byte loads), thread 0
// does softmax / top-k and, after the last token, the grouping in pair order.
constexpr int kMaxFusedPairs = 64;
constexpr int kFusedThreads = 512;

__global__ void __launch_bounds__(kFusedThreads) RouterAlignSmallKernel(
    const float* xn, const bf16* router, int T, int H, int E, int k, int32_t* topk_ids, float* topk_w,
    int32_t* offsets, int32_t* sorted_pairs, int32_t* pos_of_pair, int32_t* expert_hits, int pad_stride, bool early) {
  GridDepWait();
  GridDepLaunch(early);
  __shared__ float partial[kFusedThreads / 32][kMaxExperts];
  __shared__ int ids_s[kMaxFusedPairs];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int t = 0; t < T; ++t) {
    const float* x = xn + static_cast<int64_t>(t) * H;
    float acc[kMaxExperts];
#pragma unroll
    for (int e = 0; e < kMaxExperts; ++e) acc[e] = 0.0f;
    for (int c = threadIdx.x * 8; c < H; c += kFusedThreads * 8) {
      const float4 x0 = *reinterpret_cast<const float4*>(x + c), x1 = *reinterpret_cast<const float4*>(x + c + 4);
#pragma unroll
      for (int e = 0; e < kMaxExperts; ++e) {
        if (e < E) {
          float wf[8];
          Unpack8(*reinterpret_cast<const uint4*>(router + static_cast<int64_t>(e) * H + c), wf);
          acc[e] += wf[0] * x0.x + wf[1] * x0.y + wf[2] * x0.z + wf[3] * x0.w + wf[4] * x1.x + wf[5] * x1.y +
                    wf[6] * x1.z + wf[7] * x1.w;
        }
      }
    }
#pragma unroll
    for (int e = 0; e < kMaxExperts; ++e) {
      const float v = WarpSum(acc[e]);
      if (lane == 0) partial[warp][e] = v;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      float p[kMaxExperts];
      float mx = -FLT_MAX;
      for (int e = 0; e < E; ++e) {
        float v = 0.0f;
        for (int w = 0; w < kFusedThreads / 32; ++w) v += partial[w][e];
        p[e] = v;
        mx = fmaxf(mx, v);
      }
      float sum = 0.0f;
      for (int e = 0; e < E; ++e) {
        p[e] = expf(p[e] - mx);
        sum += p[e];
      }
      for (int e = 0; e < E; ++e) p[e] /= sum;
      bool taken[kMaxExperts] = {};
      int ids[kMaxTopK];
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
        topk_ids[t * k + j] = ids[j];
        topk_w[t * k + j] = p[ids[j]] / picked_sum;
      }
    }
    __syncthreads();  // partial is reused by the next token
  }
  if (threadIdx.x != 0) return;
  const int n_pairs = T * k;
  int count[kMaxExperts], cursor[kMaxExperts];
  for (int e = 0; e < E; ++e) count[e] = 0;
  for (int i = 0; i < n_pairs; ++i) ++count[ids_s[i]];
  int run = 0;
  for (int e = 0; e < E; ++e) {
    offsets[e] = run;
    cursor[e] = pad_stride > 0 ? e * pad_stride : run;
    run += count[e];
    if (expert_hits && count[e] > 0) expert_hits[0] += 1;
  }
  offsets[E] = run;
  for (int i = 0; i < n_pairs; ++i) {
    const int p = cursor[ids_s[i]]++;
    sorted_pairs[p] = i;
    pos_of_pair[i] = p;
  }
}

bool FusedRouterEnabled() {
  static const bool off = [] {
    const char* v = std::getenv("MIXSERVE_ROUTER_FUSED");
    return v != nullptr && v[0] == '0';
  }();
  return !off;
}

}  // namespace

cudaError_t LaunchRouter(const float* xn, const bf16* router, int T, int H, int E, int k, int32_t* topk_ids,
                         float* topk_w, int32_t* offsets, int32_t* sorted_pairs, int32_t* pos_of_pair,
                         int32_t* expert_hits, int pad_stride, cudaStream_t stream) {
  if (T == 0) return cudaSuccess;
  if (E > kMaxExperts || k > kMaxTopK || k > E) return cudaErrorInvalidValue;
  const bool dense = E == 1;
  if (!dense && T * k <= kMaxFusedPairs && H % 8 == 0 && FusedRouterEnabled()) {
    LaunchKernel(RouterAlignSmallKernel, dim3(1), dim3(kFusedThreads), 0, stream, xn, router, T, H, E, k, topk_ids,
                 topk_w, offsets, sorted_pairs, pos_of_pair, expert_hits, pad_stride, EarlyTriggerEnabled());
    return cudaGetLastError();
  }
  if (!dense) {
    LaunchKernel(RouterKernel, dim3(T), dim3(kRouterThreads), 0, stream, xn, router, H, E, k, topk_ids, topk_w,
                 EarlyTriggerEnabled());
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
  }
  LaunchKernel(AlignKernel, dim3(1), dim3(1024), 0, stream, T * k, E, dense, topk_ids, topk_w, offsets, sorted_pairs, pos_of_pair,
                                       expert_hits, pad_stride, EarlyTriggerEnabled());
  return cudaGetLastError();
}

}  // namespace mixserve::cuda
