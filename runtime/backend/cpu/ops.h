// The CPU reference ops: one plain loop nest per op, fp32 throughout (llm.c style).
//
// Shapes are in the comments as (rows, cols), row-major. Weights follow Hugging Face's nn.Linear
// layout (out_features, in_features), so `matmul_forward` computes inp @ weight^T.
#pragma once

#include <cstdint>

namespace mixserve::cpu {

// out (T, OC) = inp (T, C) @ weight (OC, C)^T. Parallel over output columns.
void matmul_forward(float* out, const float* inp, const float* weight, int T, int C, int OC);

// out (T, C) = inp / sqrt(mean(inp^2) + eps) * weight (C,)
void rmsnorm_forward(float* out, const float* inp, const float* weight, int T, int C, float eps);

// Rotates x (T, n_heads, head_dim) in place at positions pos (T,), Hugging Face's "rotate_half"
// pairing: element i pairs with i + head_dim/2.
void rope_forward(float* x, const int32_t* pos, int T, int n_heads, int head_dim, float theta);

// out (N,) = silu(gate) * up
void silu_mul_forward(float* out, const float* gate, const float* up, int N);

// x (n,) <- softmax(x), computed stably.
void softmax_forward(float* x, int n);

}  // namespace mixserve::cpu
