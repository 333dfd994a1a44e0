// Device memory bandwidth: the copy bandwidth the roofline divides by (cudaMemcpy device to device,
// bytes read plus written), and read-only probes (`mixserve bench --membw`): how fast a kernel that
// only reads can pull bytes, with per-thread 16-byte loads at several depths and with TMA bulk copies
// into a shared-memory ring. A batch-1 decode step only reads, so the probes say how much headroom the
// weight streams have above the copy figure.
#include <algorithm>
#include <cstdio>
#include <vector>

#include "runtime/backend/cuda/common.cuh"
#include "runtime/backend/cuda/device_info.h"

namespace mixserve::cuda {
namespace {

// U independent 16-byte loads per thread per pass, consecutive threads on consecutive vectors.
template <int U>
__global__ void __launch_bounds__(256) ReadLoadsKernel(const uint4* p, int64_t n_vec, unsigned* sink) {
  unsigned acc = 0;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x * U;
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * blockDim.x * U + threadIdx.x; base < n_vec; base += stride) {
    uint4 v[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t i = base + static_cast<int64_t>(u) * blockDim.x;
      v[u] = i < n_vec ? LoadStreaming(p + i) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < U; ++u) acc ^= v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
  }
  if (acc == 0x9e3779b9u) sink[0] = acc;  // never true for the probe's zeroed data; keeps the loads
}

// kStages chunks of kChunk bytes in flight per block, each one TMA bulk copy completing on its stage's
// mbarrier; all threads read the stage from shared memory, then thread 0 refills it.
template <int kStages, int kChunk>
__global__ void __launch_bounds__(256) ReadBulkKernel(const char* p, int64_t n_chunks, unsigned* sink) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  extern __shared__ __align__(128) unsigned char ring[];
  __shared__ __align__(8) uint64_t full[kStages];
  const int tid = threadIdx.x;
  if (tid == 0) {
    for (int s = 0; s < kStages; ++s) {
      asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(SmemAddr(&full[s])));
    }
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();
  auto issue = [&](int64_t c, int s) {
    const uint32_t bar = SmemAddr(&full[s]);
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(kChunk) : "memory");
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];"
                 ::"r"(SmemAddr(ring + s * kChunk)), "l"(p + c * kChunk), "r"(kChunk), "r"(bar)
                 : "memory");
  };
  if (tid == 0) {
    for (int s = 0; s < kStages; ++s) {
      const int64_t c = blockIdx.x + static_cast<int64_t>(s) * gridDim.x;
      if (c < n_chunks) issue(c, s);
    }
  }
  unsigned acc = 0;
  int i = 0;
  for (int64_t c = blockIdx.x; c < n_chunks; c += gridDim.x, ++i) {
    const int s = i % kStages;
    const uint32_t parity = (i / kStages) & 1, bar = SmemAddr(&full[s]);
    uint32_t done = 0;
    while (!done) {
      asm volatile(
          "{ .reg .pred P; mbarrier.try_wait.parity.shared::cta.b64 P, [%1], %2; selp.u32 %0, 1, 0, P; }"
          : "=r"(done)
          : "r"(bar), "r"(parity)
          : "memory");
    }
    const uint4* src = reinterpret_cast<const uint4*>(ring + s * kChunk);
    for (int j = tid; j < kChunk / 16; j += blockDim.x) {
      const uint4 v = src[j];
      acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    __syncthreads();
    if (tid == 0) {
      const int64_t next = c + static_cast<int64_t>(kStages) * gridDim.x;
      if (next < n_chunks) issue(next, s);
    }
  }
  if (acc == 0x9e3779b9u) sink[0] = acc;
#endif
}

// GB/s of `bytes` moved by launch(): the median of 8 timed runs after 2 warm-ups.
template <typename Launch>
double TimeGbps(int64_t bytes, Launch launch) {
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  std::vector<float> ms;
  for (int i = 0; i < 10; ++i) {
    cudaEventRecord(start);
    launch();
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float t = 0;
    cudaEventElapsedTime(&t, start, stop);
    if (i >= 2) ms.push_back(t);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  return static_cast<double>(bytes) / (ms[ms.size() / 2] * 1e-3) / 1e9;
}

template <int U>
ReadProbe LoadsProbe(const uint4* p, int64_t bytes, int blocks, unsigned* sink) {
  const double g = TimeGbps(bytes, [&] { ReadLoadsKernel<U><<<blocks, 256>>>(p, bytes / 16, sink); });
  char name[64];
  std::snprintf(name, sizeof(name), "ld16 x%d, %d blocks", U, blocks);
  return {name, g};
}

template <int kStages, int kChunk>
ReadProbe BulkProbe(const char* p, int64_t bytes, int blocks, unsigned* sink) {
  const size_t smem = static_cast<size_t>(kStages) * kChunk;
  cudaFuncSetAttribute(ReadBulkKernel<kStages, kChunk>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                       static_cast<int>(smem));
  const double g =
      TimeGbps(bytes, [&] { ReadBulkKernel<kStages, kChunk><<<blocks, 256, smem>>>(p, bytes / kChunk, sink); });
  char name[64];
  std::snprintf(name, sizeof(name), "bulk %d x %d KB, %d blocks", kStages, kChunk / 1024, blocks);
  return {name, g};
}

}  // namespace

Result<double> MeasureCopyGbps(int64_t bytes) {
  void* a = nullptr;
  void* b = nullptr;
  if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess) {
    cudaGetLastError();
    if (a) cudaFree(a);
    return Status::Unavailable("copy bandwidth: cannot allocate 2 x " + std::to_string(bytes >> 20) + " MiB");
  }
  cudaMemset(a, 1, bytes);
  const double gbps = TimeGbps(2 * bytes, [&] { cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice); });
  const cudaError_t err = cudaGetLastError();
  cudaFree(a);
  cudaFree(b);
  if (err != cudaSuccess) return Status::Internal(std::string("copy bandwidth: ") + cudaGetErrorString(err));
  return gbps;
}

Result<std::vector<ReadProbe>> MeasureReadGbps(int64_t bytes) {
  int sms = 0;
  if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0) != cudaSuccess) {
    return Status::Internal("read bandwidth: no multiprocessor count");
  }
  bytes = bytes / (64 * 1024) * (64 * 1024);
  char* p = nullptr;
  unsigned* sink = nullptr;
  if (cudaMalloc(&p, bytes) != cudaSuccess || cudaMalloc(&sink, 16) != cudaSuccess) {
    cudaGetLastError();
    if (p) cudaFree(p);
    return Status::Unavailable("read bandwidth: cannot allocate " + std::to_string(bytes >> 20) + " MiB");
  }
  cudaMemset(p, 0, bytes);
  const uint4* v = reinterpret_cast<const uint4*>(p);
  std::vector<ReadProbe> out;
  out.push_back(LoadsProbe<4>(v, bytes, sms * 4, sink));
  out.push_back(LoadsProbe<4>(v, bytes, sms * 8, sink));
  out.push_back(LoadsProbe<8>(v, bytes, sms * 4, sink));
  out.push_back(LoadsProbe<8>(v, bytes, sms * 8, sink));
  out.push_back(LoadsProbe<16>(v, bytes, sms * 4, sink));
  out.push_back(BulkProbe<4, 16384>(p, bytes, sms * 3, sink));
  out.push_back(BulkProbe<8, 8192>(p, bytes, sms * 3, sink));
  out.push_back(BulkProbe<4, 32768>(p, bytes, sms, sink));
  out.push_back(BulkProbe<6, 32768>(p, bytes, sms, sink));
  out.push_back(BulkProbe<3, 32768>(p, bytes, sms * 2, sink));
  const cudaError_t err = cudaDeviceSynchronize();
  cudaFree(p);
  cudaFree(sink);
  if (err != cudaSuccess) return Status::Internal(std::string("read bandwidth: ") + cudaGetErrorString(err));
  return out;
}

}  // namespace mixserve::cuda
