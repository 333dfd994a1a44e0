// The model shapes the CUDA backend and `mixserve bench` know by name, and config.json loading.
#pragma once

#include <string>

#include "runtime/backend/cpu/cpu_model.h"
#include "runtime/base/status.h"

namespace mixserve::cuda {

struct CudaModelConfig {
  std::string name;            // "mixtral-8x7b" or the config path
  cpu::ModelShape shape;       // num_experts == 0 means dense (Mistral)
  bool tie_word_embeddings = false;
  int64_t max_position_embeddings = 32768;  // the longest context the model was trained for
};

// `name_or_path`: mixtral-8x7b, mixtral-8x22b, mistral-7b, or a config.json file or a folder that
// holds one. `layers` > 0 keeps only the first N layers. Unknown names are InvalidArgument listing
// the built-in ones.
Result<CudaModelConfig> ResolveModelConfig(const std::string& name_or_path, int layers);

}  // namespace mixserve::cuda
