// Loads a Hugging Face Mixtral/Mistral folder into a CpuModel (weights converted to fp32).
#pragma once

#include <memory>
#include <string>

#include "runtime/backend/cpu/cpu_model.h"
#include "runtime/base/status.h"
#include "runtime/model/config.h"

namespace mixserve::cpu {

struct CpuModelOptions {
  int kv_block_tokens = 16;
  int num_kv_blocks = 256;  // KV capacity in blocks, shared by all sequences
  int num_layers = 0;       // >0: load only the first N layers (for tests and benchmarks)
};

// The shape CpuModel needs, from config.json.
ModelShape ShapeFromConfig(const model::ModelConfig& config);

// Reads config.json and every tensor the architecture needs, checking each tensor's shape.
// Errors name the file or tensor at fault.
Result<std::unique_ptr<CpuModel>> LoadCpuModel(const std::string& model_dir, const CpuModelOptions& options);

}  // namespace mixserve::cpu
