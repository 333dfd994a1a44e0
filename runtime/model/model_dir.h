// Paths of the files a Hugging Face model folder holds, in one place.
#pragma once

#include <string>

namespace mixserve::model {

struct ModelFiles {
  static constexpr const char* kSafetensorsIndexName = "model.safetensors.index.json";
  static constexpr const char* kSingleSafetensorsName = "model.safetensors";

  std::string dir;
  std::string config() const { return dir + "/config.json"; }
  std::string tokenizer() const { return dir + "/tokenizer.json"; }
  std::string tokenizer_config() const { return dir + "/tokenizer_config.json"; }
  std::string safetensors_index() const { return dir + "/" + kSafetensorsIndexName; }
  std::string single_safetensors() const { return dir + "/" + kSingleSafetensorsName; }
};

}  // namespace mixserve::model
