// The router's arithmetic shared by the router kernels and the kernels that route for themselves:
// softmax over a token's expert logits, top-k, renormalised weights.
#pragma once

#include <cfloat>

#include "runtime/backend/cuda/common.cuh"

namespace mixserve::cuda {

constexpr int kMaxExperts = 16;
constexpr int kMaxTopK = 8;

// One float4 of a normed row: g * (x * inv_rms), in that order (the CPU oracle's RMSNorm).
__device__ __forceinline__ float4 NormScale(const float4& x, const float4& g, float inv_rms) {
  return make_float4(g.x * (x.x * inv_rms), g.y * (x.y * inv_rms), g.z * (x.z * inv_rms), g.w * (x.w * inv_rms));
}

// 8 router weights (bf16, packed) dotted with x[0..8), left to right.
__device__ __forceinline__ float Dot8Bf16(const uint4& w, const float4& x0, const float4& x1) {
  float wf[8];
  Unpack8(w, wf);
  return wf[0] * x0.x + wf[1] * x0.y + wf[2] * x0.z + wf[3] * x0.w + wf[4] * x1.x + wf[5] * x1.y + wf[6] * x1.z +
         wf[7] * x1.w;
}

// Softmax over the E logits in p (left as probabilities), then the top k by descending probability
// (exact ties to the lower index, as the CPU oracle), their weights renormalised to sum to 1.
__device__ __forceinline__ void SoftmaxTopK(float (&p)[kMaxExperts], int E, int k, int (&ids)[kMaxTopK],
                                            float (&w)[kMaxTopK]) {
  float mx = -FLT_MAX;
  for (int e = 0; e < E; ++e) mx = fmaxf(mx, p[e]);
  float sum = 0.0f;
  for (int e = 0; e < E; ++e) {
    p[e] = expf(p[e] - mx);
    sum += p[e];
  }
  for (int e = 0; e < E; ++e) p[e] /= sum;
  bool taken[kMaxExperts] = {};
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
  for (int j = 0; j < k; ++j) w[j] = p[ids[j]] / picked_sum;
}

// The warp form of SoftmaxTopK: lane e < E holds logit e; every lane gets the top k ids (descending
// probability, exact ties to the lower index) and their renormalised weights. The softmax sum is a
// shuffle tree, so a weight may differ from SoftmaxTopK's in the last bit; the ids cannot.
__device__ __forceinline__ void WarpSoftmaxTopK(float logit, int E, int k, int (&ids)[kMaxTopK], float (&w)[kMaxTopK]) {
  const int lane = threadIdx.x & 31;
  const float l = lane < E ? logit : -FLT_MAX;
  float mx = l;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  float p = lane < E ? expf(l - mx) : 0.0f;
  const float sum = WarpSum(p);
  p = lane < E ? p / sum : -1.0f;  // lanes past E are never picked (k <= E)
  float picked = 0.0f;
#pragma unroll
  for (int j = 0; j < kMaxTopK; ++j) {
    if (j >= k) break;
    float v = p;
    int idx = lane;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, v, o);
      const int oi = __shfl_xor_sync(0xffffffffu, idx, o);
      if (ov > v || (ov == v && oi < idx)) v = ov, idx = oi;
    }
    ids[j] = idx;
    w[j] = v;
    picked += v;
    if (lane == idx) p = -1.0f;
  }
#pragma unroll
  for (int j = 0; j < kMaxTopK; ++j) {
    if (j < k) w[j] /= picked;
  }
}

}  // namespace mixserve::cuda
