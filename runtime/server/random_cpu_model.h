// RandomCpuModel: a CpuModel of a given shape filled with random weights instead of a checkpoint,
// for `mixserve serve --random-weights` on the CPU backend (tests of the flag, tiny shapes only).
#pragma once

#include <cstdint>
#include <memory>

#include "runtime/backend/cpu/cpu_model.h"
#include "runtime/base/status.h"

namespace mixserve::server {

// The CPU backend holds fp32 weights; past this many bytes random weights are refused.
constexpr int64_t kMaxRandomCpuWeightBytes = int64_t{4} << 30;

// fp32 bytes the weights of `shape` take (tied: no separate lm_head).
int64_t CpuWeightBytes(const cpu::ModelShape& shape, bool tied);

// Matrices drawn uniformly with standard deviation 0.02 from `seed`, norms 1. InvalidArgument when
// the weights would exceed kMaxRandomCpuWeightBytes (one line with the size and what to use instead).
Result<std::unique_ptr<cpu::CpuModel>> RandomCpuModel(const cpu::ModelShape& shape, bool tied, uint64_t seed,
                                                      int kv_block_tokens, int num_kv_blocks);

}  // namespace mixserve::server
