#include "operator/api/defaults.h"

#include "operator/api/model_uri.h"

namespace mixserve::api {

std::string DefaultServedName(const std::string& uri) {
  Result<ModelUri> parsed = ParseModelUri(uri);
  if (!parsed.ok()) return "";
  if (parsed->scheme == ModelUri::Scheme::kHf) return parsed->repo;
  const std::string& path = parsed->path;
  return path.substr(path.rfind('/') + 1);
}

void ApplyDefaults(LLMServiceSpec& spec) {
  const RuntimeSpec& runtime = spec.runtime;
  if (!spec.resources.gpus_per_node && runtime.nodes >= 1 && runtime.tensor_parallel % runtime.nodes == 0) {
    spec.resources.gpus_per_node = runtime.tensor_parallel / runtime.nodes;
  }
  if (spec.model.served_names.empty()) {
    std::string name = DefaultServedName(spec.model.uri);
    if (!name.empty()) spec.model.served_names.push_back(name);
  }
}

}  // namespace mixserve::api
