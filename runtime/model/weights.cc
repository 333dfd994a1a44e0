#include "runtime/model/weights.h"

#include <filesystem>

#include "runtime/model/json_object.h"
#include "runtime/model/mapped_file.h"
#include "runtime/model/model_dir.h"

namespace mixserve::model {
namespace {

bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

bool IsRegularFile(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

}  // namespace

Result<std::map<std::string, std::string>> ParseWeightMap(std::string_view index_json) {
  auto object = ParseJsonObject(index_json);
  if (!object.ok()) return object.status();
  auto it = object->find("weight_map");
  if (it == object->end()) return Status::InvalidArgument("missing field weight_map");
  if (!it->is_object()) {
    return Status::InvalidArgument(std::string("weight_map must be an object, got ") + JsonKindName(*it));
  }
  if (it->empty()) return Status::InvalidArgument("weight_map is empty");
  std::map<std::string, std::string> shard_of_tensor;
  for (const auto& [tensor, shard] : it->items()) {
    if (!shard.is_string()) {
      return Status::InvalidArgument("weight_map[" + MessageSafe(tensor) + "] must be a file name, got " +
                                     JsonKindName(shard));
    }
    std::string file_name = shard.get<std::string>();
    if (!IsPlainFileName(file_name)) {
      return Status::InvalidArgument("weight_map[" + MessageSafe(tensor) + "] = " + MessageSafe(file_name) +
                                     " is not a file name inside the model folder");
    }
    shard_of_tensor[tensor] = std::move(file_name);
  }
  return shard_of_tensor;
}

Result<ModelWeights> ModelWeights::Open(const std::string& model_dir) {
  ModelFiles paths{model_dir};
  ModelWeights weights;
  weights.model_dir_ = model_dir;
  if (IsRegularFile(paths.single_safetensors())) {
    if (Status s = weights.AddFile(ModelFiles::kSingleSafetensorsName); !s.ok()) return s;
    for (const TensorView& view : weights.files_.back().tensors()) {
      weights.tensors_[view.name] = view;
      weights.file_of_tensor_[view.name] = 0;
    }
    return weights;
  }
  if (!IsRegularFile(paths.safetensors_index())) {
    return Status::NotFound(model_dir + ": no " + ModelFiles::kSingleSafetensorsName + " or " +
                            ModelFiles::kSafetensorsIndexName);
  }

  const std::string index_path = paths.safetensors_index();
  auto index_file = MappedFile::Open(index_path);
  if (!index_file.ok()) return index_file.status();
  std::span<const uint8_t> index_bytes = index_file->bytes();
  auto shard_of_tensor = ParseWeightMap({reinterpret_cast<const char*>(index_bytes.data()), index_bytes.size()});
  if (!shard_of_tensor.ok()) return shard_of_tensor.status().WithContext(index_path);

  // Every shard is mapped once; a tensor found in two of them makes the checkpoint ambiguous.
  std::map<std::string, size_t> file_index_of_shard;
  for (const auto& [tensor, shard] : *shard_of_tensor) file_index_of_shard.emplace(shard, 0);
  std::map<std::string, std::string> first_shard_holding;
  for (auto& [shard, file_index] : file_index_of_shard) {
    if (Status s = weights.AddFile(shard); !s.ok()) return s;
    file_index = weights.files_.size() - 1;
    for (const TensorView& view : weights.files_.back().tensors()) {
      auto [it, inserted] = first_shard_holding.emplace(view.name, shard);
      if (!inserted) {
        return TensorError(view.name, "appears in both " + MessageSafe(it->second) + " and " + MessageSafe(shard));
      }
    }
  }
  for (const auto& [tensor, shard] : *shard_of_tensor) {
    const size_t file_index = file_index_of_shard.at(shard);
    const TensorView* view = weights.files_[file_index].Find(tensor);
    if (view == nullptr) {
      return Status::NotFound(index_path + ": tensor " + MessageSafe(tensor) + " is mapped to " + MessageSafe(shard) +
                              ", which does not hold it");
    }
    weights.tensors_[tensor] = *view;
    weights.file_of_tensor_[tensor] = file_index;
  }
  return weights;
}

Status ModelWeights::AddFile(const std::string& file_name) {
  auto file = SafetensorsFile::Open(model_dir_ + "/" + file_name);
  if (!file.ok()) return file.status();
  files_.push_back(std::move(file).value());
  file_names_.push_back(file_name);
  return Status::Ok();
}

std::optional<std::string> ModelWeights::FileOf(std::string_view name) const {
  auto it = file_of_tensor_.find(name);
  if (it == file_of_tensor_.end()) return std::nullopt;
  return file_names_[it->second];
}

Result<TensorView> ModelWeights::Get(std::string_view name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) return Status::NotFound("tensor " + MessageSafe(name) + " not found in " + model_dir_);
  return it->second;
}

Result<TensorView> ModelWeights::Expect(std::string_view name, const std::vector<int64_t>& shape,
                                        std::optional<DType> dtype) const {
  auto view = Get(name);
  if (!view.ok()) return view.status();
  if (view->shape != shape) {
    return TensorError(name, "expected shape " + FormatShape(shape) + ", got " + FormatShape(view->shape));
  }
  if (dtype && view->dtype != *dtype) {
    return TensorError(name, std::string("expected dtype ") + DTypeName(*dtype) + ", got " + DTypeName(view->dtype));
  }
  return view;
}

}  // namespace mixserve::model
