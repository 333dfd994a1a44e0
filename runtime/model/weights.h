// ModelWeights: every tensor of a model folder, looked up by name.
//
// A folder holds either one model.safetensors or shards listed by model.safetensors.index.json
// (its "weight_map" maps each tensor name to the shard file that holds it). Each file is mapped
// once and stays mapped while the ModelWeights lives; the views it hands out point into those
// mappings. Backends ask for tensors with the shape they expect, so a checkpoint that does not
// match the config fails at load with the tensor's name rather than later with wrong numbers.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/base/status.h"
#include "runtime/model/safetensors.h"

namespace mixserve::model {

// Parses model.safetensors.index.json: tensor name -> shard file name. Shard names must be plain
// file names inside the folder (no '/', not "." or ".."), and the map must not be empty.
Result<std::map<std::string, std::string>> ParseWeightMap(std::string_view index_json);

class ModelWeights {
 public:
  // Opens `model_dir`. Like transformers, a single model.safetensors wins over an index.
  // Errors name the file, and the tensor when one is at fault.
  static Result<ModelWeights> Open(const std::string& model_dir);

  // Every tensor, by name.
  const std::map<std::string, TensorView, std::less<>>& tensors() const { return tensors_; }

  // The file (relative to the folder) holding `name`, or nullopt when there is no such tensor.
  std::optional<std::string> FileOf(std::string_view name) const;

  // NotFound naming the tensor when the model has none of that name.
  Result<TensorView> Get(std::string_view name) const;

  // Get, then checks the shape (and the dtype, when given):
  // "tensor model.layers.0.mlp.gate.weight: expected shape [8, 64], got [8, 32]".
  Result<TensorView> Expect(std::string_view name, const std::vector<int64_t>& shape,
                            std::optional<DType> dtype = std::nullopt) const;

 private:
  Status AddFile(const std::string& file_name);

  std::string model_dir_;
  // Moving a SafetensorsFile keeps its mapping where it is, so the views below stay valid.
  std::vector<SafetensorsFile> files_;
  std::vector<std::string> file_names_;  // parallel to files_
  std::map<std::string, TensorView, std::less<>> tensors_;
  std::map<std::string, size_t, std::less<>> file_of_tensor_;  // index into files_
};

}  // namespace mixserve::model
