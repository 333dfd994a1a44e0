// Fused MoE router (gate logits -> softmax -> top-k -> renormalise, one block per token) and the
// grouping of (token, slot) pairs by expert that the MoE kernels walk (like vLLM's
// moe_align_block_size, without padding: the skinny kernel takes any count).
#include <algorithm>
#include <atomic>
#include <cfloat>
#include <cstdlib>

#include "runtime/backend/cuda/common.cuh"
#include "runtime/backend/cuda/env_switch.h"
#include "runtime/backend/cuda/kernels.h"
#include "runtime/backend/cuda/router.cuh"

namespace mixserve::cuda {
namespace {

constexpr int kRouterThreads = 256;

// acc[e] += router[e, c..c+8) . x[c..c+8) over this thread's columns c = threadIdx.x * 8 + i * kThreads * 8
// (16-byte loads; H % 8 == 0).
template <int kThreads>
__device__ __forceinline__ void AddLogits(const float* x, const bf16* router, int H, int E, float (&acc)[kMaxExperts]) {
  for (int c = threadIdx.x * 8; c < H; c += kThreads * 8) {
    const float4 x0 = *reinterpret_cast<const float4*>(x + c), x1 = *reinterpret_cast<const float4*>(x + c + 4);
#pragma unroll
    for (int e = 0; e < kMaxExperts; ++e) {
      if (e < E) acc[e] += Dot8Bf16(*reinterpret_cast<const uint4*>(router + static_cast<int64_t>(e) * H + c), x0, x1);
    }
  }
}

// Token t's logits from every thread's acc (warp sums to `partial`, then thread 0 adds the warps in
// order), routed by thread 0: topk_ids / topk_w (and ids_s when not null) at t * k.
template <int kThreads>
__device__ __forceinline__ void RouteBlockToken(const float (&acc)[kMaxExperts], float (&partial)[kThreads / 32][kMaxExperts],
                                                int E, int k, int t, int32_t* topk_ids, float* topk_w, int* ids_s) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int e = 0; e < kMaxExperts; ++e) {
    const float v = WarpSum(acc[e]);
    if (lane == 0) partial[warp][e] = v;
  }
  __syncthreads();
  if (threadIdx.x != 0) return;
  float p[kMaxExperts];
  for (int e = 0; e < E; ++e) {
    float v = 0.0f;
    for (int w = 0; w < kThreads / 32; ++w) v += partial[w][e];
    p[e] = v;
  }
  int ids[kMaxTopK];
  float wk[kMaxTopK];
  SoftmaxTopK(p, E, k, ids, wk);
  for (int j = 0; j < k; ++j) {
    if (ids_s) ids_s[t * k + j] = ids[j];
    topk_ids[t * k + j] = ids[j];
    topk_w[t * k + j] = wk[j];
  }
}

__global__ void RouterKernel(const float* xn, const bf16* router, int H, int E, int k, int32_t* topk_ids,
                             float* topk_w, bool early) {
  GridDepWait();
  GridDepLaunch(early);
  __shared__ float partial[kRouterThreads / 32][kMaxExperts];
  const int t = blockIdx.x;
  const float* x = xn + static_cast<int64_t>(t) * H;
  float acc[kMaxExperts];
#pragma unroll
  for (int e = 0; e < kMaxExperts; ++e) acc[e] = 0.0f;
  if (H % 8 == 0) {
    AddLogits<kRouterThreads>(x, router, H, E, acc);  // the scalar loop below took 44 us a token on H100
  } else {
    for (int c = threadIdx.x; c < H; c += kRouterThreads) {
      const float xv = x[c];
#pragma unroll
      for (int e = 0; e < kMaxExperts; ++e) {
        if (e < E) acc[e] += xv * __bfloat162float(router[static_cast<int64_t>(e) * H + c]);
      }
    }
  }
  RouteBlockToken<kRouterThreads>(acc, partial, E, k, t, topk_ids, topk_w, nullptr);
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
  for (int t = 0; t < T; ++t) {
    const float* x = xn + static_cast<int64_t>(t) * H;
    float acc[kMaxExperts];
#pragma unroll
    for (int e = 0; e < kMaxExperts; ++e) acc[e] = 0.0f;
    AddLogits<kFusedThreads>(x, router, H, E, acc);
    RouteBlockToken<kFusedThreads>(acc, partial, E, k, t, topk_ids, topk_w, ids_s);
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

// ---- v2: the router GEMV spread over blocks (T <= 64) ----
// Block b takes columns [c, c + 256) for c = (b + i * blocks) * 256 of every expert and token (a
// warp per expert, 8 columns per lane, tokens 8 at a time; the first router weights are loaded
// before the PDL wait: they do not depend on earlier kernels), and writes its per-(token, expert)
// partial sums. The last block to finish (threadfence + atomic counter, reset by that block for
// graph replays) adds the partials in block order (deterministic), does softmax / top-k /
// renormalise with one thread per token (the fused kernel's arithmetic), then the grouping in pair
// order (the same output as the fused kernel's serial loop, computed in parallel).
constexpr int kV2Threads = 256;
constexpr int kV2Cols = 256;  // columns per block step: 32 lanes x 8
constexpr int kV2MaxBlocks = 32;
constexpr int kV2MaxTokens = 64;
constexpr int kV2TokenStep = 8;
__device__ float g_router_partial[kV2MaxBlocks * kV2MaxTokens * kMaxExperts];
__device__ unsigned int g_router_done;

// With norm.x (T <= kV2TokenStep): the rows are normed here first: every block adds the sums of squares
// of the whole rows x (one pass, all loads in flight), and the router reads g * (x * inv_rms), which
// warp 0 also writes to norm.xn_f / xn_b for the block's columns (the experts' input).
struct SplitNorm {
  const float* x = nullptr;
  const float* g = nullptr;
  float eps = 0;
  float* xn_f = nullptr;
  bf16* xn_b = nullptr;
};

__global__ void __launch_bounds__(kV2Threads) RouterSplitKernel(
    const float* xn, const bf16* router, int T, int H, int E, int k, int32_t* topk_ids, float* topk_w,
    int32_t* offsets, int32_t* sorted_pairs, int32_t* pos_of_pair, int32_t* expert_hits, int pad_stride, bool early,
    SplitNorm norm) {
  __shared__ float logit_s[kV2MaxTokens][kMaxExperts];
  __shared__ int ids_s[kV2MaxTokens * kMaxTopK];
  __shared__ int count_s[kMaxExperts], base_s[kMaxExperts];
  __shared__ bool last_s;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nb = gridDim.x, b = blockIdx.x, tid = threadIdx.x;
  constexpr int kWarps = kV2Threads / 32;
  const bool has0 = warp < E, has1 = warp + kWarps < E;
  // The first step's weights (experts warp and warp + 8) before the wait.
  const int c0 = b * kV2Cols + lane * 8;
  uint4 w0_first = make_uint4(0, 0, 0, 0), w1_first = make_uint4(0, 0, 0, 0);
  if (c0 < H) {
    if (has0) w0_first = *reinterpret_cast<const uint4*>(router + static_cast<int64_t>(warp) * H + c0);
    if (has1) w1_first = *reinterpret_cast<const uint4*>(router + static_cast<int64_t>(warp + kWarps) * H + c0);
  }
  GridDepWait();
  GridDepLaunch(early);
  float inv_rms[kV2TokenStep];
  if (norm.x != nullptr) {
    __shared__ float red_s[32];
    for (int t = 0; t < T && t < kV2TokenStep; ++t) {
      const float4* xr = reinterpret_cast<const float4*>(norm.x + static_cast<int64_t>(t) * H);
      float4 v[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int c4 = tid + j * kV2Threads;
        v[j] = c4 * 4 < H ? __ldcg(xr + c4) : make_float4(0.f, 0.f, 0.f, 0.f);
      }
      float ss = 0.0f;
      for (int c4 = tid + 4 * kV2Threads; c4 * 4 < H; c4 += kV2Threads) {  // rows past 4096
        const float4 u = __ldcg(xr + c4);
        ss += u.x * u.x + u.y * u.y + u.z * u.z + u.w * u.w;
      }
#pragma unroll
      for (int j = 0; j < 4; ++j) ss += v[j].x * v[j].x + v[j].y * v[j].y + v[j].z * v[j].z + v[j].w * v[j].w;
      inv_rms[t] = 1.0f / sqrtf(BlockSum(ss, red_s) / H + norm.eps);
    }
  }
  for (int t0 = 0; t0 < T; t0 += kV2TokenStep) {
    float acc0[kV2TokenStep], acc1[kV2TokenStep];
#pragma unroll
    for (int t = 0; t < kV2TokenStep; ++t) acc0[t] = acc1[t] = 0.0f;
    for (int c = c0; c < H; c += nb * kV2Cols) {
      uint4 w0 = w0_first, w1 = w1_first;
      if (c != c0) {
        if (has0) w0 = *reinterpret_cast<const uint4*>(router + static_cast<int64_t>(warp) * H + c);
        if (has1) w1 = *reinterpret_cast<const uint4*>(router + static_cast<int64_t>(warp + kWarps) * H + c);
      }
      float f0[8], f1[8];
      Unpack8(w0, f0);
      Unpack8(w1, f1);
#pragma unroll
      for (int t = 0; t < kV2TokenStep; ++t) {
        if (t0 + t < T) {
          float4 x0, x1;
          if (norm.x == nullptr) {
            const float* x = xn + static_cast<int64_t>(t0 + t) * H + c;
            x0 = *reinterpret_cast<const float4*>(x), x1 = *reinterpret_cast<const float4*>(x + 4);
          } else {  // the last-block norm's expression (decode_fused.cu): g * (x * inv_rms)
            const int64_t o = static_cast<int64_t>(t0 + t) * H + c;
            const float r = inv_rms[t];
            const float4 u0 = __ldcg(reinterpret_cast<const float4*>(norm.x + o));
            const float4 u1 = __ldcg(reinterpret_cast<const float4*>(norm.x + o + 4));
            const float4 g0 = __ldg(reinterpret_cast<const float4*>(norm.g + c));
            const float4 g1 = __ldg(reinterpret_cast<const float4*>(norm.g + c + 4));
            x0 = NormScale(u0, g0, r);
            x1 = NormScale(u1, g1, r);
            if (warp == 0) {
              *reinterpret_cast<float4*>(norm.xn_f + o) = x0;
              *reinterpret_cast<float4*>(norm.xn_f + o + 4) = x1;
              if (norm.xn_b != nullptr) {
                __nv_bfloat162* b2 = reinterpret_cast<__nv_bfloat162*>(norm.xn_b + o);
                b2[0] = __floats2bfloat162_rn(x0.x, x0.y);
                b2[1] = __floats2bfloat162_rn(x0.z, x0.w);
                b2[2] = __floats2bfloat162_rn(x1.x, x1.y);
                b2[3] = __floats2bfloat162_rn(x1.z, x1.w);
              }
            }
          }
          acc0[t] += f0[0] * x0.x + f0[1] * x0.y + f0[2] * x0.z + f0[3] * x0.w + f0[4] * x1.x + f0[5] * x1.y +
                     f0[6] * x1.z + f0[7] * x1.w;
          acc1[t] += f1[0] * x0.x + f1[1] * x0.y + f1[2] * x0.z + f1[3] * x0.w + f1[4] * x1.x + f1[5] * x1.y +
                     f1[6] * x1.z + f1[7] * x1.w;
        }
      }
    }
#pragma unroll
    for (int t = 0; t < kV2TokenStep; ++t) {
      if (t0 + t < T) {
        const float v0 = WarpSum(acc0[t]), v1 = WarpSum(acc1[t]);
        if (lane == 0) {
          float* out = g_router_partial + (static_cast<int64_t>(b) * kV2MaxTokens + t0 + t) * kMaxExperts;
          if (has0) out[warp] = v0;
          if (has1) out[warp + kWarps] = v1;
        }
      }
    }
  }
  __threadfence();
  __syncthreads();
  if (tid == 0) last_s = atomicAdd(&g_router_done, 1u) == static_cast<unsigned int>(nb - 1);
  __syncthreads();
  if (!last_s) return;
  __threadfence();
  for (int i = tid; i < T * E; i += kV2Threads) {
    const int t = i / E, e = i - t * E;
    float p[kV2MaxBlocks];  // every block's partial in flight at once, then added in block order
#pragma unroll
    for (int j = 0; j < kV2MaxBlocks; ++j) {
      p[j] = j < nb ? __ldcg(g_router_partial + (static_cast<int64_t>(j) * kV2MaxTokens + t) * kMaxExperts + e) : 0.0f;
    }
    float v = 0.0f;
#pragma unroll
    for (int j = 0; j < kV2MaxBlocks; ++j) v += p[j];
    logit_s[t][e] = v;
  }
  __syncthreads();
  if (tid == 0) g_router_done = 0u;
  if (tid < T) {
    const int t = tid;
    float p[kMaxExperts];
    for (int e = 0; e < E; ++e) p[e] = logit_s[t][e];
    int ids[kMaxTopK];
    float wk[kMaxTopK];
    SoftmaxTopK(p, E, k, ids, wk);
    for (int j = 0; j < k; ++j) {
      ids_s[t * k + j] = ids[j];
      topk_ids[t * k + j] = ids[j];
      topk_w[t * k + j] = wk[j];
    }
  }
  __syncthreads();
  // Grouping: pair i goes to its expert's range at its rank among that expert's pairs (pair order).
  const int n_pairs = T * k;
  if (tid < E) {
    int cnt = 0;
    for (int i = 0; i < n_pairs; ++i) cnt += ids_s[i] == tid;
    count_s[tid] = cnt;
  }
  __syncthreads();
  if (tid == 0) {
    int run = 0, used = 0;
    for (int e = 0; e < E; ++e) {
      offsets[e] = run;
      base_s[e] = pad_stride > 0 ? e * pad_stride : run;
      run += count_s[e];
      used += count_s[e] > 0;
    }
    offsets[E] = run;
    if (expert_hits) expert_hits[0] += used;
  }
  __syncthreads();
  for (int i = tid; i < n_pairs; i += kV2Threads) {
    const int e = ids_s[i];
    int rank = 0;
    for (int j = 0; j < i; ++j) rank += ids_s[j] == e;
    const int p = base_s[e] + rank;
    sorted_pairs[p] = i;
    pos_of_pair[i] = p;
  }
}

std::atomic<int> g_router_version{0};

// MIXSERVE_ROUTER_V2: unset or 1 = the dispatch by T (v2 up to MIXSERVE_ROUTER_V2_MAX tokens, else the
// two-kernel router); 0 = the old dispatch (the one-block fused router up to 64 pairs, then two kernels).
bool RouterV2Enabled() {
  static const bool on = EnvInt("MIXSERVE_ROUTER_V2", 1) != 0;
  return on;
}

int RouterV2MaxTokens() {
  static const int n = std::clamp(EnvInt("MIXSERVE_ROUTER_V2_MAX", 16), 0, kV2MaxTokens);
  return n;
}

bool OneBlockRouterEnabled() {
  static const bool on = EnvSwitch("MIXSERVE_ROUTER_FUSED", true);
  return on;
}

}  // namespace

RouterKind ChooseRouter(int T, int H, int E, int k) {
  if (E == 1) return RouterKind::kTwoKernel;  // dense: the align kernel alone
  const bool v2_fits = T <= kV2MaxTokens && H % 8 == 0;
  const bool fused_fits = T * k <= kMaxFusedPairs && H % 8 == 0;
  switch (g_router_version.load(std::memory_order_relaxed)) {
    case 1:
      return fused_fits ? RouterKind::kFused : RouterKind::kTwoKernel;
    case 2:
      return v2_fits ? RouterKind::kSplit : RouterKind::kTwoKernel;
    case 3:
      return RouterKind::kTwoKernel;
    default:
      break;
  }
  if (!RouterV2Enabled()) return fused_fits && OneBlockRouterEnabled() ? RouterKind::kFused : RouterKind::kTwoKernel;
  // v2's single pass over the columns scales with T (5.9 us at T=1, 36.7 at T=64 on H200) while the
  // two-kernel router stays near 16 us; the one-block fused router is never taken (138 us at T=32).
  return v2_fits && T <= RouterV2MaxTokens() ? RouterKind::kSplit : RouterKind::kTwoKernel;
}

cudaError_t LaunchRouter(const float* xn, const bf16* router, int T, int H, int E, int k, int32_t* topk_ids,
                         float* topk_w, int32_t* offsets, int32_t* sorted_pairs, int32_t* pos_of_pair,
                         int32_t* expert_hits, int pad_stride, cudaStream_t stream) {
  if (T == 0) return cudaSuccess;
  if (E > kMaxExperts || k > kMaxTopK || k > E) return cudaErrorInvalidValue;
  const bool dense = E == 1;
  const RouterKind kind = ChooseRouter(T, H, E, k);
  if (kind == RouterKind::kSplit) {
    const int blocks = std::min(kV2MaxBlocks, (H + kV2Cols - 1) / kV2Cols);
    LaunchKernel(RouterSplitKernel, dim3(blocks), dim3(kV2Threads), 0, stream, xn, router, T, H, E, k, topk_ids, topk_w,
                 offsets, sorted_pairs, pos_of_pair, expert_hits, pad_stride, EarlyTriggerEnabled(), SplitNorm{});
    return cudaGetLastError();
  }
  if (kind == RouterKind::kFused) {
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

bool NormRouterApplies(int T, int H, int E, int k) {
  return T >= 1 && T <= kV2TokenStep && H % 8 == 0 && E > 1 && E <= kMaxExperts && k <= kMaxTopK && k <= E &&
         ChooseRouter(T, H, E, k) == RouterKind::kSplit;
}

cudaError_t LaunchNormRouter(const float* x, const float* g, float eps, float* xn_f, bf16* xn_b, const bf16* router,
                             int T, int H, int E, int k, int32_t* topk_ids, float* topk_w, int32_t* offsets,
                             int32_t* sorted_pairs, int32_t* pos_of_pair, int32_t* expert_hits, int pad_stride,
                             cudaStream_t stream) {
  if (!NormRouterApplies(T, H, E, k) || x == nullptr || g == nullptr || xn_f == nullptr) return cudaErrorInvalidValue;
  const int blocks = std::min(kV2MaxBlocks, (H + kV2Cols - 1) / kV2Cols);
  LaunchKernel(RouterSplitKernel, dim3(blocks), dim3(kV2Threads), 0, stream, xn_f, router, T, H, E, k, topk_ids, topk_w,
               offsets, sorted_pairs, pos_of_pair, expert_hits, pad_stride, EarlyTriggerEnabled(),
               SplitNorm{x, g, eps, xn_f, xn_b});
  return cudaGetLastError();
}

// MIXSERVE_NORM_ROUTER=0 keeps the norm in the fused O kernel (H200, 32 layers: bs1 134.0 -> 136.4 tok/s
// with it here, 2026-11-27 06:33 UTC).
bool NormRouterEnabled() {
  static const bool on = EnvSwitch("MIXSERVE_NORM_ROUTER", true);
  return on;
}

void SetRouterVersion(int version) { g_router_version.store(version, std::memory_order_relaxed); }

}  // namespace mixserve::cuda
