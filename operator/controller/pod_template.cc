#include "operator/controller/pod_template.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "operator/api/duration.h"
#include "operator/api/llmservice_json.h"
#include "operator/api/model_uri.h"
#include "operator/controller/names.h"

namespace mixserve::controller {
namespace {

using nlohmann::json;

constexpr int kSecretFileMode = 0440;  // owner and fsGroup may read

// The --model argument, and the volume + mount a pvc:// source needs (null when none).
struct ModelSource {
  std::string path_or_uri;
  json volume;
  json mount;
};

ModelSource ResolveModel(const api::ModelSpec& model) {
  api::ModelUri uri = *api::ParseModelUri(model.uri);
  switch (uri.scheme) {
    case api::ModelUri::Scheme::kHf:
      return {model.uri, nullptr, nullptr};
    case api::ModelUri::Scheme::kFile:
      return {uri.path, nullptr, nullptr};
    case api::ModelUri::Scheme::kPvc:
      break;
  }
  if (model.cache.pvc && model.cache.pvc->claim_name == uri.claim) {
    return {std::string(kModelCacheMount) + "/" + uri.path, nullptr, nullptr};
  }
  return {std::string(kModelSourceMount) + "/" + uri.path,
          {{"name", "model-source"}, {"persistentVolumeClaim", {{"claimName", uri.claim}, {"readOnly", true}}}},
          {{"name", "model-source"}, {"mountPath", kModelSourceMount}, {"readOnly", true}}};
}

// Pieces of the pod spec, each one field of it.
json SecretVolume(const std::string& volume, const api::SecretKeyRef& ref, const std::string& file) {
  return {{"name", volume},
          {"secret",
           {{"secretName", ref.name},
            {"items", json::array({{{"key", ref.key}, {"path", file}}})},
            {"defaultMode", kSecretFileMode}}}};
}

json HttpProbe(const char* path, int period_seconds, int failure_threshold) {
  return {{"httpGet", {{"path", path}, {"port", "http"}}},
          {"periodSeconds", period_seconds},
          {"timeoutSeconds", 5},
          {"failureThreshold", failure_threshold}};
}

json EnvValue(const std::string& name, const std::string& value) { return {{"name", name}, {"value", value}}; }

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

// `mixserve serve` flags derived from the spec, then the user's args (which may not repeat them).
json Args(const api::LLMServiceSpec& spec, const ModelSource& model) {
  const api::RuntimeSpec& r = spec.runtime;
  json args = {"--model", model.path_or_uri,
               "--served-model-name", JoinNames(spec.model.served_names),
               "--host", "0.0.0.0",
               "--port", std::to_string(kHttpPort),
               "--tensor-parallel-size", std::to_string(r.tensor_parallel)};
  if (r.expert_parallel) args.push_back("--expert-parallel");
  if (r.max_model_len) {
    args.push_back("--max-model-len");
    args.push_back(std::to_string(*r.max_model_len));
  }
  args.push_back("--dtype");
  args.push_back(r.dtype);
  args.push_back("--drain-timeout");
  args.push_back(std::to_string(kDrainTimeoutSeconds) + "s");
  if (spec.auth.api_key_secret_ref) {
    args.push_back("--api-key-file");
    args.push_back(std::string(kApiKeyDir) + "/api-key");
  }
  for (const std::string& a : r.args) args.push_back(a);
  return args;
}

// The operator's variables first (the user's may not set them), then the user's.
json Env(const api::LLMService& service, const std::optional<RankWiring>& wiring) {
  const api::LLMServiceSpec& spec = service.spec;
  json env = json::array({EnvValue("HF_HUB_CACHE", std::string(kModelCacheMount) + "/hub")});
  if (spec.model.cache.pvc && spec.model.cache.pvc->read_only) env.push_back(EnvValue("HF_HUB_OFFLINE", "1"));
  if (spec.model.token_secret_ref) env.push_back(EnvValue("HF_TOKEN_PATH", std::string(kHfTokenDir) + "/token"));
  if (wiring) {
    std::string pod_index_path = std::string("metadata.labels['") + kLabelPodIndex + "']";
    env.push_back({{"name", "MIXSERVE_RANK"}, {"valueFrom", {{"fieldRef", {{"fieldPath", pod_index_path}}}}}});
    env.push_back(EnvValue("MIXSERVE_WORLD_NODES", std::to_string(spec.runtime.nodes)));
    env.push_back(EnvValue("MIXSERVE_LEADER_ADDR", wiring->statefulset + "-0." + wiring->headless_service + "." +
                                                       service.metadata.namespace_ + ".svc:" +
                                                       std::to_string(kRendezvousPort)));
  }
  for (const api::EnvVar& e : spec.runtime.env) env.push_back(api::EnvVarToJson(e));
  return env;
}

json Resources(const api::ResourcesSpec& r) {
  const std::string gpus = std::to_string(*r.gpus_per_node);
  json requests = {{r.gpu_resource, gpus}};
  if (r.cpu) requests["cpu"] = *r.cpu;
  if (r.memory) requests["memory"] = *r.memory;
  return {{"requests", requests}, {"limits", {{r.gpu_resource, gpus}}}};
}

}  // namespace

int StartupFailureThreshold(const api::LLMServiceSpec& spec) {
  double seconds = *api::ParseDurationSeconds(spec.probes.startup_timeout);
  double periods = std::ceil(seconds / kStartupProbePeriodSeconds);
  return static_cast<int>(std::min(periods, double(std::numeric_limits<int32_t>::max())));
}

json PodTemplate(const api::LLMService& service, const std::string& image, const json& labels,
                 const std::optional<RankWiring>& wiring) {
  const api::LLMServiceSpec& spec = service.spec;
  const ModelSource model = ResolveModel(spec.model);

  json cache_volume = {{"name", "models"}};
  if (spec.model.cache.pvc) {
    cache_volume["persistentVolumeClaim"] = {{"claimName", spec.model.cache.pvc->claim_name},
                                             {"readOnly", spec.model.cache.pvc->read_only}};
  } else {
    json empty_dir = json::object();
    if (spec.model.cache.empty_dir->size_limit) empty_dir["sizeLimit"] = *spec.model.cache.empty_dir->size_limit;
    cache_volume["emptyDir"] = empty_dir;
  }
  json shm = {{"medium", "Memory"}};
  if (spec.resources.shm_size) shm["sizeLimit"] = *spec.resources.shm_size;

  json volumes = json::array({cache_volume, {{"name", "dshm"}, {"emptyDir", shm}}});
  json mounts = json::array({{{"name", "models"}, {"mountPath", kModelCacheMount},
                              {"readOnly", spec.model.cache.pvc && spec.model.cache.pvc->read_only}},
                             {{"name", "dshm"}, {"mountPath", "/dev/shm"}}});
  if (!model.volume.is_null()) {
    volumes.push_back(model.volume);
    mounts.push_back(model.mount);
  }
  if (spec.model.token_secret_ref) {
    volumes.push_back(SecretVolume("hf-token", *spec.model.token_secret_ref, "token"));
    mounts.push_back({{"name", "hf-token"}, {"mountPath", kHfTokenDir}, {"readOnly", true}});
  }
  if (spec.auth.api_key_secret_ref) {
    volumes.push_back(SecretVolume("api-key", *spec.auth.api_key_secret_ref, "api-key"));
    mounts.push_back({{"name", "api-key"}, {"mountPath", kApiKeyDir}, {"readOnly", true}});
  }

  json ports = json::array({{{"name", "http"}, {"containerPort", kHttpPort}, {"protocol", "TCP"}}});
  if (wiring) ports.push_back({{"name", "rendezvous"}, {"containerPort", kRendezvousPort}, {"protocol", "TCP"}});

  json container = {
      {"name", "mixserve"},
      {"image", image},
      {"command", {"mixserve", "serve"}},
      {"args", Args(spec, model)},
      {"ports", ports},
      {"env", Env(service, wiring)},
      {"resources", Resources(spec.resources)},
      {"volumeMounts", mounts},
      {"startupProbe", HttpProbe("/health", kStartupProbePeriodSeconds, StartupFailureThreshold(spec))},
      {"readinessProbe", HttpProbe("/health", 5, 3)},
      {"livenessProbe", HttpProbe("/live", 10, 6)},
      {"securityContext", {{"allowPrivilegeEscalation", false}, {"capabilities", {{"drop", {"ALL"}}}}}},
  };
  if (spec.runtime.image_pull_policy) container["imagePullPolicy"] = *spec.runtime.image_pull_policy;

  json pod = {
      {"automountServiceAccountToken", false},
      {"enableServiceLinks", false},
      {"terminationGracePeriodSeconds", kTerminationGraceSeconds},
      {"securityContext",
       {{"runAsNonRoot", true},
        {"runAsUser", kRunAsUser},
        {"runAsGroup", kRunAsUser},
        {"fsGroup", kRunAsUser},
        {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
      {"containers", json::array({container})},
      {"volumes", volumes},
  };
  pod.update(api::PlacementToJson(spec.placement));
  if (!spec.runtime.image_pull_secrets.empty()) {
    pod["imagePullSecrets"] = api::ImagePullSecretsToJson(spec.runtime.image_pull_secrets);
  }
  return {{"metadata", {{"labels", labels}}}, {"spec", pod}};
}

}  // namespace mixserve::controller
