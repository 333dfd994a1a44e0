// Turning CUDA runtime results into Status values inside the CudaModel step code. A successful call
// is also marked on the kernel timer (MIXSERVE_KERNEL_TIMES=1), so every launch site is one line.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "runtime/backend/cuda/kernel_timer.h"
#include "runtime/base/status.h"

namespace mixserve::cuda {

inline Status Cuda(const char* what, cudaError_t err) {
  if (err == cudaSuccess) {
    if (KernelTimer* t = KernelTimer::Get(); t != nullptr && t->active()) t->Mark(what);
    return Status::Ok();
  }
  cudaGetLastError();
  return Status::Internal(std::string(what) + ": " + cudaGetErrorString(err));
}

}  // namespace mixserve::cuda

#define MIXSERVE_CUDA_RETURN_IF_ERROR(expr) \
  do {                                      \
    ::mixserve::Status _st = (expr);        \
    if (!_st.ok()) return _st;              \
  } while (0)
