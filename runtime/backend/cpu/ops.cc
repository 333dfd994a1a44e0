#include "runtime/backend/cpu/ops.h"

#include <algorithm>
#include <cmath>

#include "runtime/backend/cpu/thread_pool.h"

namespace mixserve::cpu {

void matmul_forward(float* out, const float* inp, const float* weight, int T, int C, int OC) {
  // Each output column o reads its weight row once and uses it for all T rows of inp.
  ParallelFor(OC, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      const float* w = weight + o * static_cast<int64_t>(C);
      for (int t = 0; t < T; ++t) {
        const float* x = inp + static_cast<int64_t>(t) * C;
        float acc = 0.0f;
        for (int c = 0; c < C; ++c) acc += x[c] * w[c];
        out[static_cast<int64_t>(t) * OC + o] = acc;
      }
    }
  }, 16);
}

void rmsnorm_forward(float* out, const float* inp, const float* weight, int T, int C, float eps) {
  for (int t = 0; t < T; ++t) {
    const float* x = inp + static_cast<int64_t>(t) * C;
    float* y = out + static_cast<int64_t>(t) * C;
    float ss = 0.0f;
    for (int c = 0; c < C; ++c) ss += x[c] * x[c];
    float inv_rms = 1.0f / std::sqrt(ss / C + eps);
    for (int c = 0; c < C; ++c) y[c] = weight[c] * (x[c] * inv_rms);
  }
}

void rope_forward(float* x, const int32_t* pos, int T, int n_heads, int head_dim, float theta) {
  int half = head_dim / 2;
  for (int t = 0; t < T; ++t) {
    for (int i = 0; i < half; ++i) {
      // Same float32 arithmetic as transformers' default rotary embedding.
      float inv_freq = 1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(head_dim));
      float angle = static_cast<float>(pos[t]) * inv_freq;
      float cos_a = std::cos(angle), sin_a = std::sin(angle);
      for (int h = 0; h < n_heads; ++h) {
        float* v = x + (static_cast<int64_t>(t) * n_heads + h) * head_dim;
        float a = v[i], b = v[i + half];
        v[i] = a * cos_a - b * sin_a;
        v[i + half] = b * cos_a + a * sin_a;
      }
    }
  }
}

void silu_mul_forward(float* out, const float* gate, const float* up, int N) {
  for (int i = 0; i < N; ++i) {
    float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void softmax_forward(float* x, int n) {
  float maxv = *std::max_element(x, x + n);
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - maxv);
    sum += x[i];
  }
  for (int i = 0; i < n; ++i) x[i] /= sum;
}

}  // namespace mixserve::cpu
