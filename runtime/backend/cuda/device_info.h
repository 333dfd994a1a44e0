// What `mixserve bench` and `mixserve serve` learn about the GPU: whether one is usable (and if not,
// why, in one line), its name, its free memory, and the device copy bandwidth.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/base/status.h"

namespace mixserve::cuda {

// Empty when GPU 0 is usable; else one line naming what is missing: no driver, no device, or a
// driver too old for this build's CUDA runtime (with both versions).
std::string NoGpuReason();

// Free and total memory of GPU 0, in bytes.
Status GpuMemory(int64_t* free_bytes, int64_t* total_bytes);

// The name of GPU 0 ("NVIDIA H200"), or an error when there is none.
Result<std::string> GpuName();

// Device-to-device cudaMemcpy of `bytes` (median of several), in GB/s counting bytes read plus
// bytes written.
Result<double> MeasureCopyGbps(int64_t bytes);

// One read-only bandwidth probe (membw.cu): how it read, and GB/s of bytes read.
struct ReadProbe {
  std::string name;
  double gbps = 0;
};
// Reads `bytes` of device memory with each probe kernel (median of several passes): 16-byte loads
// at several depths per thread, and TMA bulk copies into a shared-memory ring (sm_90).
Result<std::vector<ReadProbe>> MeasureReadGbps(int64_t bytes);

}  // namespace mixserve::cuda
