// Pieces shared by the thin GEMM kernels (thin_gemm.cu: mma.sync, thin_wgmma.cu: wgmma): the
// swizzled 128-byte smem rows, cp.async, output stores, the split-K sum over a thread-block cluster
// and the launch.
#pragma once

#include <cstdint>

#include "runtime/backend/cuda/common.cuh"
#include "runtime/backend/cuda/kernels.h"

namespace mixserve::cuda::thin {

constexpr int kBN = 128;       // weight rows (output columns) per CTA
constexpr int kKC = 64;        // K elements per stage: one 128-byte smem row per operand row
constexpr int kThreads = 128;  // 4 warps (one warpgroup)
constexpr int kMaxM = 64;
constexpr int kPartLd = kBN + 8;                 // fp32 partial tile row (padded: fewer conflicts)
constexpr int kPartBytes = kMaxM * kPartLd * 4;  // 34 KiB
static_assert(kThreads == kBN, "the split-K sum gives each thread one column");

// 16-byte chunk `ch` (0..7) of row `r` of a stage tile lives at chunk ch ^ (r & 7) (bf16 elements):
// the 8 rows a fragment load touches fall on different banks, and a tile whose base is 1,024-byte
// aligned is the K-major 128-byte-swizzle layout wgmma reads.
__device__ __forceinline__ int Swz(int r, int ch) { return r * kKC + ((ch ^ (r & 7)) << 3); }

__device__ __forceinline__ void CpAsync(void* dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(SmemAddr(dst)), "l"(src));
}
__device__ __forceinline__ void CpAsyncCommit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N>
__device__ __forceinline__ void CpAsyncWait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}

__device__ __forceinline__ void Store(float* y, float v, bool acc) { *y = acc ? *y + v : v; }
__device__ __forceinline__ void Store(bf16* y, float v, bool acc) {
  *y = __float2bfloat16(acc ? __bfloat162float(*y) + v : v);
}

// Split K: every CTA of the cluster has written its fp32 partial tile (rows < M, kPartLd apart) to
// `part` in its own shared memory; CTA `slice` adds rows slice, slice + S, ... of all S partials in
// slice order and stores them to y (columns n_base + thread). Returns after every CTA is done reading.
template <typename OutT>
__device__ __forceinline__ void ClusterSumStore(const float* part, const ThinGemmArgs& a, int M, int n_base, int slice,
                                                OutT* y) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  ClusterBarrier();
  const int c = threadIdx.x, n = n_base + c;
  for (int m = slice; m < M; m += a.splits) {
    float s = 0.0f;
    for (int r = 0; r < a.splits; ++r) s += ClusterLoad(part + m * kPartLd + c, r);
    if (n < a.N) Store(y + static_cast<int64_t>(m) * a.ldy + n, s, a.accumulate);
  }
  ClusterBarrier();  // no CTA may leave while another still reads its shared memory
#endif
}

// Grid (column tiles, K slices, batch) of kThreads-thread CTAs, clusters of (1, slices, 1).
template <typename Kernel>
cudaError_t Launch(Kernel kernel, const ThinGemmArgs& a, int smem_bytes, cudaStream_t stream) {
  return LaunchKernelInClusters(kernel, dim3((a.N + kBN - 1) / kBN, a.splits, a.batch), dim3(kThreads), smem_bytes,
                                stream, dim3(1, a.splits, 1), a);
}

}  // namespace mixserve::cuda::thin
