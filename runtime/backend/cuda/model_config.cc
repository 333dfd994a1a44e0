#include "runtime/backend/cuda/model_config.h"

#include <filesystem>

#include "runtime/backend/cpu/cpu_loader.h"
#include "runtime/model/config.h"

namespace mixserve::cuda {
namespace {

cpu::ModelShape Mixtral8x7b() {
  cpu::ModelShape s;
  s.vocab_size = 32000;
  s.hidden_size = 4096;
  s.num_layers = 32;
  s.num_heads = 32;
  s.num_kv_heads = 8;
  s.head_dim = 128;
  s.intermediate_size = 14336;
  s.num_experts = 8;
  s.experts_per_token = 2;
  s.rope_theta = 1e6f;
  s.rms_norm_eps = 1e-5f;
  return s;
}

cpu::ModelShape Mixtral8x22b() {
  cpu::ModelShape s = Mixtral8x7b();
  s.vocab_size = 32768;
  s.hidden_size = 6144;
  s.num_layers = 56;
  s.num_heads = 48;
  s.intermediate_size = 16384;
  return s;
}

cpu::ModelShape Mistral7b() {
  cpu::ModelShape s = Mixtral8x7b();
  s.num_experts = 0;
  s.experts_per_token = 0;
  s.rope_theta = 10000.0f;
  s.sliding_window = 4096;
  return s;
}

}  // namespace

Result<CudaModelConfig> ResolveModelConfig(const std::string& name_or_path, int layers) {
  CudaModelConfig c;
  c.name = name_or_path;
  if (name_or_path == "mixtral-8x7b") {
    c.shape = Mixtral8x7b();
  } else if (name_or_path == "mixtral-8x22b") {
    c.shape = Mixtral8x22b();
    c.max_position_embeddings = 65536;
  } else if (name_or_path == "mistral-7b") {
    c.shape = Mistral7b();
  } else {
    std::string path = name_or_path;
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) path += "/config.json";
    if (!std::filesystem::exists(path, ec)) {
      return Status::InvalidArgument("unknown model config '" + name_or_path +
                                     "': use mixtral-8x7b, mixtral-8x22b, mistral-7b or a config.json path");
    }
    auto config = model::LoadModelConfig(path);
    if (!config.ok()) return config.status();
    c.shape = cpu::ShapeFromConfig(*config);
    c.tie_word_embeddings = config->tie_word_embeddings;
    c.max_position_embeddings = config->max_position_embeddings;
  }
  if (layers > 0 && layers < c.shape.num_layers) c.shape.num_layers = layers;
  return c;
}

}  // namespace mixserve::cuda
