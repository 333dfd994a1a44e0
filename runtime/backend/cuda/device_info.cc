#include "runtime/backend/cuda/device_info.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <vector>

namespace mixserve::cuda {

Result<std::string> GpuName() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    cudaGetLastError();
    return Status::Unavailable("no CUDA GPU found");
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) return Status::Internal("cudaGetDeviceProperties failed");
  return std::string(prop.name);
}

Result<double> MeasureCopyGbps(int64_t bytes) {
  void* a = nullptr;
  void* b = nullptr;
  if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess) {
    cudaGetLastError();
    if (a) cudaFree(a);
    return Status::Unavailable("copy bandwidth: cannot allocate 2 x " + std::to_string(bytes >> 20) + " MiB");
  }
  cudaMemset(a, 1, bytes);
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  std::vector<float> ms;
  for (int i = 0; i < 12; ++i) {
    cudaEventRecord(start);
    cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float t = 0;
    cudaEventElapsedTime(&t, start, stop);
    if (i >= 2) ms.push_back(t);
  }
  cudaError_t err = cudaGetLastError();
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaFree(a);
  cudaFree(b);
  if (err != cudaSuccess) return Status::Internal(std::string("copy bandwidth: ") + cudaGetErrorString(err));
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  return 2.0 * static_cast<double>(bytes) / (median * 1e-3) / 1e9;
}

}  // namespace mixserve::cuda
