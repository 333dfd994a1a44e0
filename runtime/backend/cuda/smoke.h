// A minimal check that the CUDA toolchain, cuBLASLt and NCCL are compiled and linked in.
//
// The build machine has no GPU, so everything here must link there; functions that need a device
// return a Status saying so instead of failing deep inside the CUDA runtime.
#pragma once

#include <string>
#include <vector>

#include "runtime/base/status.h"

namespace mixserve::cuda {

// Number of visible CUDA devices; 0 (not an error) when there is no GPU or no driver.
int DeviceCount();

// NCCL's version as an integer, e.g. 22809 for 2.28.9. Needs no GPU.
int NcclVersion();

// cudart's version as CUDA encodes it (13000 for 13.0). Needs no GPU.
int RuntimeVersion();

// Adds 1.0 to every element on the GPU and copies the result back.
// REQUIRES: DeviceCount() > 0, else returns Unavailable.
Status AddOneOnDevice(std::vector<float>& values);

// Creates and destroys a cuBLASLt handle. REQUIRES: a GPU, else Unavailable.
Status CheckCublasLt();

}  // namespace mixserve::cuda
