// Small device helpers shared by the backend's kernels: reductions and bf16 vector unpacking.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <utility>

namespace mixserve::cuda {

// Programmatic dependent launch (Hopper): every kernel waits here for the kernel before it to
// finish, so a kernel launched with the attribute below may be scheduled while its predecessor
// drains, which hides the launch gap between the many small kernels of a decode step.
__device__ __forceinline__ void GridDepWait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Early trigger: lets the next kernel in the stream launch now (its blocks get resident and wait in
// GridDepWait, or prefetch weights that do not depend on this kernel). Called right after GridDepWait,
// so at most one grid waits behind a running one. On in steps of 1-2 rows (MIXSERVE_PDL_EARLY=2, the
// default; 1: every step, 0: never), see EarlyTriggerEnabled.
__device__ __forceinline__ void GridDepLaunch(bool on) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if (on) asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

bool ProgrammaticLaunchEnabled();
// Host side: whether the launch being made triggers its dependents early (MIXSERVE_PDL_EARLY, default 2).
bool EarlyTriggerEnabled();

// Launches `kernel` with programmatic dependent launch (when enabled) and, where `cluster` has more
// than one block, in thread-block clusters of that shape (sm_90).
template <typename... KArgs, typename... Args>
cudaError_t LaunchKernelInClusters(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                                   dim3 cluster, Args&&... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[2];
  unsigned n = 0;
  if (ProgrammaticLaunchEnabled()) {
    attr[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[n].val.programmaticStreamSerializationAllowed = 1;
    ++n;
  }
  if (cluster.x * cluster.y * cluster.z > 1) {
    attr[n].id = cudaLaunchAttributeClusterDimension;
    attr[n].val.clusterDim.x = cluster.x;
    attr[n].val.clusterDim.y = cluster.y;
    attr[n].val.clusterDim.z = cluster.z;
    ++n;
  }
  cfg.attrs = attr;
  cfg.numAttrs = n;
  return cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
}

template <typename... KArgs, typename... Args>
cudaError_t LaunchKernel(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                         Args&&... args) {
  return LaunchKernelInClusters(kernel, grid, block, smem, stream, dim3(1, 1, 1), std::forward<Args>(args)...);
}

// The 32-bit shared-memory address of a generic pointer into shared memory (for PTX operands).
__device__ __forceinline__ uint32_t SmemAddr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// Thread-block clusters (sm_90): every thread of every CTA of the cluster arrives, then waits
// (release / acquire: shared-memory writes before it are visible to the cluster's loads after it).
__device__ __forceinline__ void ClusterBarrier() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;" ::: "memory");
#endif
}

// The float at the same shared-memory offset as p, in the CTA of cluster rank `rank`.
__device__ __forceinline__ float ClusterLoad(const float* p, int rank) {
  float v = 0.0f;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  uint32_t remote;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(remote) : "r"(SmemAddr(p)), "r"(rank));
  asm volatile("ld.shared::cluster.f32 %0, [%1];" : "=f"(v) : "r"(remote));
#endif
  return v;
}

__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float WarpMax(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the block; every thread gets the result. `scratch` holds >= 32 floats.
__device__ __forceinline__ float BlockSum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  v = WarpSum(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float total = 0.0f;
  for (int i = 0; i < warps; ++i) total += scratch[i];
  return total;
}

// 8 bf16 packed in a uint4 -> 8 floats.
__device__ __forceinline__ void Unpack8(const uint4& u, float* f) {
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float2 v = __bfloat1622float2(h[i]);
    f[2 * i] = v.x;
    f[2 * i + 1] = v.y;
  }
}

__device__ __forceinline__ uint4 LoadStreaming(const uint4* p) {
  uint4 r;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
               : "l"(p));
  return r;
}

__device__ __forceinline__ float Silu(float g) { return g / (1.0f + expf(-g)); }

}  // namespace mixserve::cuda
