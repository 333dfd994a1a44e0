// Per-warp dot products of batch-1/2 decode kernels: a warp streams two bf16 weight rows with 16-byte
// loads (U in flight per row and lane) against TT fp32 activation rows that a functor produces
// 8 columns at a time (from global memory, shared memory, or computed on the fly).
#pragma once

#include "runtime/backend/cuda/common.cuh"
#include "runtime/backend/cuda/kernels.h"

namespace mixserve::cuda {

__device__ __forceinline__ void Load8(const float* p, float* v) {
  const float4 a = __ldg(reinterpret_cast<const float4*>(p));
  const float4 b = __ldg(reinterpret_cast<const float4*>(p + 4));
  v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
}

// Loads of two weight rows for one step of Dot2 (k0 = this lane's first element of the step).
template <int U>
__device__ __forceinline__ void LoadW(const bf16* w0, const bf16* w1, int K, int k0, uint4 (&wv)[2][U]) {
#pragma unroll
  for (int u = 0; u < U; ++u) {
    const int k = k0 + u * 256;
    wv[0][u] = k < K ? LoadStreaming(reinterpret_cast<const uint4*>(w0 + k)) : make_uint4(0, 0, 0, 0);
    wv[1][u] = k < K ? LoadStreaming(reinterpret_cast<const uint4*>(w1 + k)) : make_uint4(0, 0, 0, 0);
  }
}

// Two weight rows (w0, w1: K bf16 each) dotted with TT activation rows produced 8 at a time by
// act(t, k, v). On entry wv holds the first step's weights (LoadW at k0 = lane * 8), so a kernel can
// issue them before its PDL wait: weights never depend on the previous kernel.
template <int TT, int U, typename Act>
__device__ __forceinline__ void Dot2(const bf16* w0, const bf16* w1, int K, Act& act, float (&acc)[2][TT],
                                     uint4 (&wv)[2][U]) {
  const int lane = threadIdx.x & 31;
  for (int k0 = lane * 8; k0 < K; k0 += 256 * U) {
    if (k0 != lane * 8) LoadW<U>(w0, w1, K, k0, wv);
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int k = k0 + u * 256;
      if (k >= K) break;
      float wf[2][8];
      Unpack8(wv[0][u], wf[0]);
      Unpack8(wv[1][u], wf[1]);
#pragma unroll
      for (int t = 0; t < TT; ++t) {
        float xv[8];
        act(t, k, xv);
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          float s = acc[r][t];
#pragma unroll
          for (int e = 0; e < 8; ++e) s = fmaf(wf[r][e], xv[e], s);
          acc[r][t] = s;
        }
      }
    }
  }
}

template <int TT>
struct SmemInput {
  const float* xs;
  int H;
  __device__ __forceinline__ void operator()(int t, int k, float* v) {
    const float4 a = *reinterpret_cast<const float4*>(xs + t * H + k);
    const float4 b = *reinterpret_cast<const float4*>(xs + t * H + k + 4);
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
  }
};


}  // namespace mixserve::cuda
