// Rotary position embedding fused with the write of K and V into the paged KV cache.
#include "runtime/backend/cuda/common.cuh"
#include "runtime/backend/cuda/kernels.h"

namespace mixserve::cuda {
namespace {

// One block per token; threads walk (head, i) pairs with i < hd/2 over the q and k heads, then v.
__device__ __forceinline__ void Store(bf16* p, float v) { *p = __float2bfloat16(v); }
__device__ __forceinline__ void Store(float* p, float v) { *p = v; }

template <typename KV>
__global__ void RopeKvKernel(float* qkv, const int32_t* pos, const int32_t* slot, int nh, int nkv, int hd,
                             float theta, KV* k_cache, KV* v_cache, bool early) {
  GridDepWait();
  GridDepLaunch(early);
  const int t = blockIdx.x;
  const int half = hd / 2;
  const int ld = (nh + 2 * nkv) * hd;
  float* row = qkv + static_cast<int64_t>(t) * ld;
  const float p = static_cast<float>(pos[t]);
  const int64_t cache_base = static_cast<int64_t>(slot[t]) * nkv * hd;
  for (int idx = threadIdx.x; idx < (nh + nkv) * half; idx += blockDim.x) {
    const int h = idx / half, i = idx - h * half;
    // Same float32 arithmetic as the CPU oracle and transformers' default rotary embedding.
    const float inv_freq = 1.0f / powf(theta, static_cast<float>(2 * i) / static_cast<float>(hd));
    const float angle = p * inv_freq;
    float s, c;
    sincosf(angle, &s, &c);
    float* v = row + h * hd;
    const float a = v[i], b = v[i + half];
    const float ra = a * c - b * s, rb = b * c + a * s;
    // Rotated k goes back into qkv too: the tensor-core prefill attention reads it from there.
    v[i] = ra;
    v[i + half] = rb;
    if (h >= nh) {
      KV* dst = k_cache + cache_base + (h - nh) * hd;
      Store(dst + i, ra);
      Store(dst + i + half, rb);
    }
  }
  const float* vsrc = row + (nh + nkv) * hd;
  for (int idx = threadIdx.x; idx < nkv * hd; idx += blockDim.x) {
    Store(v_cache + cache_base + idx, vsrc[idx]);
  }
}

}  // namespace

cudaError_t LaunchRopeKv(float* qkv, const int32_t* pos, const int32_t* slot, int T, int nh, int nkv, int hd,
                         float theta, void* k_cache, void* v_cache, bool kv_f32, cudaStream_t stream) {
  if (T == 0) return cudaSuccess;
  if (kv_f32) {
    LaunchKernel(RopeKvKernel<float>, dim3(T), dim3(128), 0, stream, qkv, pos, slot, nh, nkv, hd, theta, static_cast<float*>(k_cache),
               static_cast<float*>(v_cache), EarlyTriggerEnabled());
  } else {
    LaunchKernel(RopeKvKernel<bf16>, dim3(T), dim3(128), 0, stream, qkv, pos, slot, nh, nkv, hd, theta, static_cast<bf16*>(k_cache),
               static_cast<bf16*>(v_cache), EarlyTriggerEnabled());
  }
  return cudaGetLastError();
}

}  // namespace mixserve::cuda
