// What `mixserve bench` reports about the GPU: its name and the device copy bandwidth it measures.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/base/status.h"

namespace mixserve::cuda {

// The name of GPU 0 ("NVIDIA H200"), or an error when there is none.
Result<std::string> GpuName();

// Device-to-device cudaMemcpy of `bytes` (median of several), in GB/s counting bytes read plus
// bytes written.
Result<double> MeasureCopyGbps(int64_t bytes);

}  // namespace mixserve::cuda
