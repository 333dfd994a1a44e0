#include "runtime/backend/cuda/device_info.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <vector>

namespace mixserve::cuda {

std::string NoGpuReason() {
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err == cudaErrorInsufficientDriver) {
    int driver = 0, runtime = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);
    cudaGetLastError();
    if (driver == 0) return "no CUDA GPU found (no NVIDIA driver loaded)";
    return "CUDA driver too old: it supports CUDA " + std::to_string(driver / 1000) + "." +
           std::to_string(driver % 1000 / 10) + ", mixserve needs CUDA " + std::to_string(runtime / 1000) + "." +
           std::to_string(runtime % 1000 / 10) + " (update the NVIDIA driver)";
  }
  if (err == cudaErrorNoDevice || (err == cudaSuccess && n == 0)) {
    cudaGetLastError();
    return "no CUDA GPU found (the driver sees 0 devices)";
  }
  if (err != cudaSuccess) {
    cudaGetLastError();
    return std::string("no CUDA GPU found (") + cudaGetErrorString(err) + ")";
  }
  return "";
}

Status GpuMemory(int64_t* free_bytes, int64_t* total_bytes) {
  size_t f = 0, t = 0;
  cudaError_t err = cudaMemGetInfo(&f, &t);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return Status::Unavailable(std::string("cannot read the GPU's free memory: ") + cudaGetErrorString(err));
  }
  *free_bytes = static_cast<int64_t>(f);
  *total_bytes = static_cast<int64_t>(t);
  return Status::Ok();
}

Result<std::string> GpuName() {
  if (std::string reason = NoGpuReason(); !reason.empty()) return Status::Unavailable(reason);
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) return Status::Internal("cudaGetDeviceProperties failed");
  return std::string(prop.name);
}

}  // namespace mixserve::cuda
