// The router's arithmetic shared by the router kernels and the kernels that route for themselves:
// softmax over a token's expert logits, top-k, renormalised weights.
#pragma once

#include <cfloat>

#include "runtime/backend/cuda/common.cuh"

namespace mixserve::cuda {

constexpr int kMaxExperts = 16;
constexpr int kMaxTopK = 8;

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

}  // namespace mixserve::cuda
