// Paths of the files a Hugging Face model folder holds, in one place.
#pragma once

#include <string>

namespace mixserve::model {

struct ModelFiles {
  std::string dir;
  std::string config() const { return dir + "/config.json"; }
  std::string tokenizer() const { return dir + "/tokenizer.json"; }
  std::string tokenizer_config() const { return dir + "/tokenizer_config.json"; }
  std::string safetensors_index() const { return dir + "/model.safetensors.index.json"; }
  std::string single_safetensors() const { return dir + "/model.safetensors"; }
};

}  // namespace mixserve::model
