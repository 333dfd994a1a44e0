#include "operator/controller/checks.h"

#include <algorithm>
#include <charconv>
#include <cstdint>

#include "operator/api/defaults.h"
#include "operator/api/validate.h"

namespace mixserve::controller {

std::vector<SecretReference> ReferencedSecrets(const api::LLMService& service) {
  std::vector<SecretReference> out;
  if (const auto& ref = service.spec.model.token_secret_ref) {
    out.push_back({"spec.model.tokenSecretRef", ref->name, ref->key.empty() ? "token" : ref->key});
  }
  if (const auto& ref = service.spec.auth.api_key_secret_ref) {
    out.push_back({"spec.auth.apiKeySecretRef", ref->name, ref->key.empty() ? "api-key" : ref->key});
  }
  return out;
}

std::optional<Blocker> CheckSpec(const api::LLMService& service) {
  api::LLMServiceSpec spec = service.spec;
  api::ApplyDefaults(spec);
  if (Status valid = api::Validate(spec); !valid.ok()) return Blocker{"InvalidSpec", valid.message()};
  return std::nullopt;
}

std::optional<Blocker> CheckSecrets(const api::LLMService& service,
                                    const std::function<std::optional<nlohmann::json>(const std::string& name)>& get_secret) {
  const std::string& ns = service.metadata.namespace_;
  for (const SecretReference& ref : ReferencedSecrets(service)) {
    const std::string create = "kubectl create secret generic " + ref.name + " -n " + ns + " --from-literal=" + ref.key + "=<value>";
    std::optional<nlohmann::json> secret = get_secret(ref.name);
    if (!secret) {
      return Blocker{"MissingSecret", "Secret " + ref.name + " (" + ref.field + ") does not exist in namespace " + ns +
                                          ": create it with `" + create + "`"};
    }
    const nlohmann::json& data = (*secret)["data"];
    const nlohmann::json& string_data = (*secret)["stringData"];
    const bool has_key = (data.is_object() && data.contains(ref.key)) || (string_data.is_object() && string_data.contains(ref.key));
    if (!has_key) {
      return Blocker{"MissingSecret", "Secret " + ref.name + " (" + ref.field + ") in namespace " + ns + " has no key " +
                                          ref.key + ": add it, or set the key the Secret has in " + ref.field + ".key"};
    }
  }
  return std::nullopt;
}

std::optional<Blocker> CheckGpuCapacity(const api::LLMService& service, const std::vector<nlohmann::json>& nodes) {
  api::LLMServiceSpec spec = service.spec;
  api::ApplyDefaults(spec);
  if (!spec.resources.gpus_per_node || nodes.empty()) return std::nullopt;
  const int64_t want = *spec.resources.gpus_per_node;
  const std::string& resource = spec.resources.gpu_resource;
  int64_t most = 0;
  for (const nlohmann::json& node : nodes) {
    const nlohmann::json& allocatable = node["status"]["allocatable"];
    if (!allocatable.is_object() || !allocatable.contains(resource)) continue;
    const nlohmann::json& value = allocatable[resource];
    int64_t count = 0;
    if (value.is_number_integer()) {
      count = value.get<int64_t>();
    } else if (value.is_string()) {
      const std::string& text = value.get_ref<const std::string&>();
      std::from_chars(text.data(), text.data() + text.size(), count);  // GPU counts are plain integers
    }
    most = std::max(most, count);
  }
  if (want <= most) return std::nullopt;
  return Blocker{"InsufficientGPUs",
                 "resources.gpusPerNode is " + std::to_string(want) + " but no node has more than " + std::to_string(most) +
                     " " + resource + " allocatable: lower resources.gpusPerNode (with runtime.nodes > 1 to spread "
                     "tensorParallel over several nodes) or add nodes with more GPUs"};
}

}  // namespace mixserve::controller
