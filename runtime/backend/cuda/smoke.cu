#include "runtime/backend/cuda/smoke.h"

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <nccl.h>

namespace mixserve::cuda {
namespace {

// values is (n,): one thread per element.
__global__ void add_one_kernel(float* values, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) values[i] += 1.0f;
}

Status CudaError(const char* what, cudaError_t err) {
  return Status::Internal(std::string(what) + ": " + cudaGetErrorString(err));
}

}  // namespace

int DeviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error so later calls start clean
    return 0;
  }
  return n;
}

int NcclVersion() {
  int version = 0;
  if (ncclGetVersion(&version) != ncclSuccess) return 0;
  return version;
}

int RuntimeVersion() {
  int version = 0;
  cudaRuntimeGetVersion(&version);
  return version;
}

Status AddOneOnDevice(std::vector<float>& values) {
  if (DeviceCount() == 0) return Status::Unavailable("no CUDA device");
  float* device_values = nullptr;
  size_t bytes = values.size() * sizeof(float);
  if (auto err = cudaMalloc(&device_values, bytes); err != cudaSuccess) return CudaError("cudaMalloc", err);
  cudaMemcpy(device_values, values.data(), bytes, cudaMemcpyHostToDevice);
  int n = static_cast<int>(values.size());
  add_one_kernel<<<(n + 255) / 256, 256>>>(device_values, n);
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess) err = cudaMemcpy(values.data(), device_values, bytes, cudaMemcpyDeviceToHost);
  cudaFree(device_values);
  return err == cudaSuccess ? Status::Ok() : CudaError("add_one_kernel", err);
}

Status CheckCublasLt() {
  if (DeviceCount() == 0) return Status::Unavailable("no CUDA device");
  cublasLtHandle_t handle = nullptr;
  if (cublasLtCreate(&handle) != CUBLAS_STATUS_SUCCESS) return Status::Internal("cublasLtCreate failed");
  cublasLtDestroy(handle);
  return Status::Ok();
}

}  // namespace mixserve::cuda
