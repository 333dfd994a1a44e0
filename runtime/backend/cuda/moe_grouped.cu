// The grouped MoE path for large batches: rows gathered in expert order for cuBLASLt, and the
// SiLU-times-up activation between the two expert GEMMs.
#include "runtime/backend/cuda/common.cuh"
#include "runtime/backend/cuda/kernels.h"

namespace mixserve::cuda {
namespace {

__global__ void GatherRowsKernel(bf16* out, const bf16* x, const int32_t* gather, int div, int H) {
  GridDepWait();
  const int p = blockIdx.x;
  const uint4* src = reinterpret_cast<const uint4*>(x + static_cast<int64_t>(gather[p] / div) * H);
  uint4* dst = reinterpret_cast<uint4*>(out + static_cast<int64_t>(p) * H);
  for (int c = threadIdx.x; c < H / 8; c += blockDim.x) dst[c] = src[c];
}

__global__ void GatherPaddedKernel(bf16* out, const bf16* x, const int32_t* sorted_pairs, const int32_t* offsets,
                                   int div, int stride, int H) {
  GridDepWait();
  const int r = blockIdx.x, e = r / stride, i = r - e * stride;
  uint4* dst = reinterpret_cast<uint4*>(out + static_cast<int64_t>(r) * H);
  if (i < offsets[e + 1] - offsets[e]) {
    const uint4* src = reinterpret_cast<const uint4*>(x + static_cast<int64_t>(sorted_pairs[r] / div) * H);
    for (int c = threadIdx.x; c < H / 8; c += blockDim.x) dst[c] = src[c];
  } else {
    for (int c = threadIdx.x; c < H / 8; c += blockDim.x) dst[c] = make_uint4(0, 0, 0, 0);
  }
}

__global__ void SiluMulKernel(bf16* act, const bf16* gu, int I) {
  GridDepWait();
  const int p = blockIdx.x;
  const bf16* g = gu + static_cast<int64_t>(p) * 2 * I;
  for (int j = threadIdx.x; j < I; j += blockDim.x) {
    act[static_cast<int64_t>(p) * I + j] =
        __float2bfloat16(Silu(__bfloat162float(g[j])) * __bfloat162float(g[I + j]));
  }
}

}  // namespace

cudaError_t LaunchGatherRows(bf16* out, const bf16* x, const int32_t* gather, int div, int n, int H,
                             cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (H % 8 != 0) return cudaErrorInvalidValue;
  LaunchKernel(GatherRowsKernel, dim3(n), dim3(128), 0, stream, out, x, gather, div, H);
  return cudaGetLastError();
}

cudaError_t LaunchGatherPadded(bf16* out, const bf16* x, const int32_t* sorted_pairs, const int32_t* offsets, int div,
                               int E, int stride, int H, cudaStream_t stream) {
  if (E * stride == 0) return cudaSuccess;
  if (H % 8 != 0) return cudaErrorInvalidValue;
  LaunchKernel(GatherPaddedKernel, dim3(E * stride), dim3(128), 0, stream, out, x, sorted_pairs, offsets, div, stride, H);
  return cudaGetLastError();
}

cudaError_t LaunchSiluMul(bf16* act, const bf16* gu, int n, int I, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  LaunchKernel(SiluMulKernel, dim3(n), dim3(256), 0, stream, act, gu, I);
  return cudaGetLastError();
}

}  // namespace mixserve::cuda
