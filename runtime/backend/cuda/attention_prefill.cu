// Prefill attention for a sequence whose prompt starts at position 0, on the tensor cores: the
// scores of a chunk of queries against every key come from one batched cuBLASLt GEMM per chunk
// (batched over KV heads, the G query heads of a group stacked as rows), then a masked softmax,
// then P.V as a second GEMM. These are the kernels between the GEMMs.
#include <cfloat>
#include <cstdlib>

#include "runtime/backend/cuda/common.cuh"
#include "runtime/backend/cuda/env_switch.h"
#include "runtime/backend/cuda/kernels.h"

namespace mixserve::cuda {
namespace {

// Block per row t of [0, T): k and v rows to kb/vb (nkv, T, hd); q rows in [q0, q0 + Tq) to
// qb (nkv, Tq * G, hd) at row (t - q0) * G + gi.
__global__ void PackKernel(const float* qkv, int ldq, int nh, int nkv, int hd, int T, int q0, int Tq, bf16* qb,
                           bf16* kb, bf16* vb, bool pack_kv, int kv_rows) {
  GridDepWait();
  const int t = blockIdx.x + (pack_kv ? 0 : q0), G = nh / nkv;
  const float* row = qkv + static_cast<int64_t>(t) * ldq;
  if (pack_kv) {
    for (int i = threadIdx.x; i < nkv * hd; i += blockDim.x) {
      const int g = i / hd, d = i - g * hd;
      kb[(static_cast<int64_t>(g) * kv_rows + t) * hd + d] = __float2bfloat16(row[(nh + g) * hd + d]);
      vb[(static_cast<int64_t>(g) * kv_rows + t) * hd + d] = __float2bfloat16(row[(nh + nkv + g) * hd + d]);
    }
  }
  if (t < q0 || t >= q0 + Tq) return;
  for (int i = threadIdx.x; i < nh * hd; i += blockDim.x) {
    const int h = i / hd, d = i - h * hd, g = h / G, gi = h - g * G;
    qb[((static_cast<int64_t>(g) * Tq + (t - q0)) * G + gi) * hd + d] = __float2bfloat16(row[i]);
  }
}

// The softmax kernels' row: block (m, g) takes score row m of kv head g, at element offset off in s and
// p; its query sits at position t and sees keys [lo, t] (the causal mask, and the window when > 0).
struct SoftmaxRow {
  int64_t off;
  int t, lo;
};
__device__ __forceinline__ SoftmaxRow BlockRow(int rows, int Tk, int G, int q0, int window) {
  const int m = blockIdx.x, g = blockIdx.y;
  const int t = q0 + m / G;
  return {(static_cast<int64_t>(g) * rows + m) * Tk, t, window > 0 ? max(0, t - window + 1) : 0};
}

// Block per (row m, kv head g): softmax over keys [0, Tk) of s (scaled scores) with the causal and
// window mask of query position q0 + m / G; writes p (bf16, zeros where masked). With hilo it also
// writes the rounding remainder p - bf16(p) as bf16 into the row's own storage in s (bf16 element
// 2 * ((g * rows + m) * Tk) + n, i.e. a (rows, Tk) bf16 matrix with leading dimension 2 * Tk), so a
// second P.V GEMM over it restores ~16 bits of each probability. bf16 P alone (8 bits) is what
// failed tiny-mixtral-swa's goldens (logits max abs 0.40): with a window of 8 keys each probability
// is large and its rounding error does not average out (numpy emulation of the model: fp32 1.4e-6,
// bf16 K/V 0.030, + bf16 P 0.39, + bf16 q and P as hi + lo 0.026).
__global__ void MaskedSoftmaxKernel(float* s, bf16* p, int rows, int Tk, int G, int q0, int window, bool hilo) {
  GridDepWait();
  __shared__ float scratch[32];
  const SoftmaxRow row_of = BlockRow(rows, Tk, G, q0, window);
  const int64_t off = row_of.off;
  const int t = row_of.t, lo = row_of.lo;
  float mx = -FLT_MAX;
  for (int n = threadIdx.x; n < Tk; n += blockDim.x) {
    if (n >= lo && n <= t) mx = fmaxf(mx, s[off + n]);
  }
  mx = WarpMax(mx);
  __syncthreads();
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = mx;
  __syncthreads();
  mx = -FLT_MAX;
  for (int i = 0; i < static_cast<int>(blockDim.x >> 5); ++i) mx = fmaxf(mx, scratch[i]);
  float sum = 0.0f;
  for (int n = threadIdx.x; n < Tk; n += blockDim.x) {
    if (n >= lo && n <= t) sum += expf(s[off + n] - mx);
  }
  sum = BlockSum(sum, scratch);  // its barriers also order every read of s above before the writes below
  const float inv = 1.0f / sum;
  bf16* lo_row = reinterpret_cast<bf16*>(s) + 2 * off;
  for (int b = 0; b < Tk; b += blockDim.x) {
    const int n = b + threadIdx.x;
    const float v = n < Tk && n >= lo && n <= t ? expf(s[off + n] - mx) * inv : 0.0f;
    // The remainder of element n lands in float slot n / 2 <= n of this row: read in this step or
    // an earlier one, and later steps read only slots >= b + blockDim.
    if (hilo) __syncthreads();
    if (n < Tk) {
      const bf16 hi = __float2bfloat16(v);
      p[off + n] = hi;
      if (hilo) lo_row[n] = __float2bfloat16(v - __bfloat162float(hi));
    }
  }
}

// The same softmax (without hilo) for rows of Tk <= 1024 * V keys, Tk % 8 == 0: each thread holds V
// float4 of the row (columns 4 * (threadIdx.x + 256 * i)), loaded once and only where a key is live
// (causal: about half the row), so s is read once instead of three times.
template <int V>
__global__ void __launch_bounds__(256) MaskedSoftmaxRowKernel(const float* s, bf16* p, int rows, int Tk, int G, int q0,
                                                             int window) {
  GridDepWait();
  __shared__ float scratch[32];
  const SoftmaxRow row_of = BlockRow(rows, Tk, G, q0, window);
  const int64_t off = row_of.off;
  const int t = row_of.t, lo = row_of.lo;
  const float4* row = reinterpret_cast<const float4*>(s + off);
  float v[V][4];
  float mx = -FLT_MAX;
#pragma unroll
  for (int i = 0; i < V; ++i) {
    const int n0 = 4 * (threadIdx.x + 256 * i);
    const bool any = n0 < Tk && n0 + 3 >= lo && n0 <= t;
    const float4 x = any ? row[n0 / 4] : make_float4(0.f, 0.f, 0.f, 0.f);
    v[i][0] = x.x, v[i][1] = x.y, v[i][2] = x.z, v[i][3] = x.w;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int n = n0 + j;
      if (n < Tk && n >= lo && n <= t) mx = fmaxf(mx, v[i][j]);
    }
  }
  mx = WarpMax(mx);
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = mx;
  __syncthreads();
  mx = -FLT_MAX;
  for (int i = 0; i < static_cast<int>(blockDim.x >> 5); ++i) mx = fmaxf(mx, scratch[i]);
  float sum = 0.0f;
#pragma unroll
  for (int i = 0; i < V; ++i) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int n = 4 * (threadIdx.x + 256 * i) + j;
      v[i][j] = n < Tk && n >= lo && n <= t ? expf(v[i][j] - mx) : 0.0f;
      sum += v[i][j];
    }
  }
  const float inv = 1.0f / BlockSum(sum, scratch);
#pragma unroll
  for (int i = 0; i < V; ++i) {
    const int n0 = 4 * (threadIdx.x + 256 * i);
    if (n0 >= Tk) break;
    __nv_bfloat162* dst = reinterpret_cast<__nv_bfloat162*>(p + off + n0);
    dst[0] = __floats2bfloat162_rn(v[i][0] * inv, v[i][1] * inv);
    dst[1] = __floats2bfloat162_rn(v[i][2] * inv, v[i][3] * inv);
  }
}

// Block per (row m, kv head g): o (nkv, Tq * G, hd) back to the attention output rows.
__global__ void ScatterKernel(const float* o, int rows, int G, int hd, int nh, int row0, float* out_f, bf16* out_b) {
  GridDepWait();
  const int m = blockIdx.x, g = blockIdx.y, t = m / G, gi = m - t * G;
  const float* src = o + (static_cast<int64_t>(g) * rows + m) * hd;
  const int64_t dst = static_cast<int64_t>(row0 + t) * nh * hd + (g * G + gi) * hd;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    if (out_f) out_f[dst + d] = src[d];
    if (out_b) out_b[dst + d] = __float2bfloat16(src[d]);
  }
}

// The same with float4 columns: hd / 4 threads per row, blockDim / (hd / 4) rows (m) per block.
__global__ void ScatterRowsKernel(const float* o, int rows, int G, int hd, int nh, int row0, float* out_f, bf16* out_b) {
  GridDepWait();
  const int per_row = hd / 4, m = blockIdx.x * (blockDim.x / per_row) + threadIdx.x / per_row;
  const int c = threadIdx.x % per_row, g = blockIdx.y;
  if (m >= rows) return;
  const int t = m / G, gi = m - t * G;
  const float4 v = reinterpret_cast<const float4*>(o + (static_cast<int64_t>(g) * rows + m) * hd)[c];
  const int64_t dst = static_cast<int64_t>(row0 + t) * nh * hd + (g * G + gi) * hd + 4 * c;
  if (out_f) *reinterpret_cast<float4*>(out_f + dst) = v;
  if (out_b) {
    __nv_bfloat162* b = reinterpret_cast<__nv_bfloat162*>(out_b + dst);
    b[0] = __floats2bfloat162_rn(v.x, v.y);
    b[1] = __floats2bfloat162_rn(v.z, v.w);
  }
}

}  // namespace

cudaError_t LaunchPrefillPack(const float* qkv, int ldq, int nh, int nkv, int hd, int T, int q0, int Tq, bf16* qb,
                              bf16* kb, bf16* vb, bool pack_kv, int kv_rows, cudaStream_t stream) {
  LaunchKernel(PackKernel, dim3(pack_kv ? T : Tq), dim3(256), 0, stream, qkv, ldq, nh, nkv, hd, T, q0, Tq, qb, kb, vb, pack_kv, kv_rows);
  return cudaGetLastError();
}

cudaError_t LaunchMaskedSoftmax(const float* s, bf16* p, int rows, int Tk, int nkv, int G, int q0, int window,
                                cudaStream_t stream) {
  // Rows up to 4096 keys in registers (MIXSERVE_SOFTMAX_ROW=0: the three-pass kernel for all).
  static const bool row_kernel = EnvSwitch("MIXSERVE_SOFTMAX_ROW", true);
  if (row_kernel && Tk % 8 == 0 && Tk <= 4096) {
    const dim3 grid(rows, nkv);
    if (Tk <= 1024) {
      LaunchKernel(MaskedSoftmaxRowKernel<1>, grid, dim3(256), 0, stream, s, p, rows, Tk, G, q0, window);
    } else if (Tk <= 2048) {
      LaunchKernel(MaskedSoftmaxRowKernel<2>, grid, dim3(256), 0, stream, s, p, rows, Tk, G, q0, window);
    } else {
      LaunchKernel(MaskedSoftmaxRowKernel<4>, grid, dim3(256), 0, stream, s, p, rows, Tk, G, q0, window);
    }
    return cudaGetLastError();
  }
  LaunchKernel(MaskedSoftmaxKernel, dim3(dim3(rows, nkv)), dim3(256), 0, stream, const_cast<float*>(s), p, rows, Tk, G,
               q0, window, false);
  return cudaGetLastError();
}

cudaError_t LaunchMaskedSoftmaxHiLo(float* s, bf16* p, int rows, int Tk, int nkv, int G, int q0, int window,
                                    cudaStream_t stream) {
  LaunchKernel(MaskedSoftmaxKernel, dim3(dim3(rows, nkv)), dim3(256), 0, stream, s, p, rows, Tk, G, q0, window, true);
  return cudaGetLastError();
}

cudaError_t LaunchPrefillScatter(const float* o, int rows, int nkv, int G, int hd, int row0, float* out_f, bf16* out_b,
                                 cudaStream_t stream) {
  const int per_row = hd / 4;
  if (hd % 4 == 0 && per_row <= 256 && 256 % per_row == 0) {
    const int per_block = 256 / per_row;
    LaunchKernel(ScatterRowsKernel, dim3((rows + per_block - 1) / per_block, nkv), dim3(256), 0, stream, o, rows, G, hd,
                 nkv * G, row0, out_f, out_b);
    return cudaGetLastError();
  }
  LaunchKernel(ScatterKernel, dim3(dim3(rows, nkv)), dim3(hd), 0, stream, o, rows, G, hd, nkv * G, row0, out_f, out_b);
  return cudaGetLastError();
}

}  // namespace mixserve::cuda
