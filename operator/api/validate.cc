#include "operator/api/validate.h"

#include <algorithm>
#include <initializer_list>
#include <regex>
#include <set>

#include "operator/api/duration.h"
#include "operator/api/model_uri.h"
#include "operator/api/quantity.h"

namespace mixserve::api {
namespace {

// The CRD's patterns, as ECMAScript regexes matched against the whole string.
const std::regex& Dns1123Subdomain() {
  static const std::regex re("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$");
  return re;
}
const std::regex& SecretKey() {
  static const std::regex re("^[-._a-zA-Z0-9]+$");
  return re;
}
const std::regex& ServedName() {
  static const std::regex re("^[^\\s,]+$");
  return re;
}
const std::regex& ExtendedResource() {
  static const std::regex re(
      "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$");
  return re;
}
const std::regex& LabelKey() {
  static const std::regex re(
      "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$");
  return re;
}
const std::regex& LabelValue() {
  static const std::regex re("^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$");
  return re;
}
const std::regex& OperatorFlag() {
  static const std::regex re("^--(model|served-model-name|host|port|tensor-parallel-size|api-key-file)(=.*)?$");
  return re;
}
const std::regex& DurationText() {
  static const std::regex re("^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$");
  return re;
}
const std::regex& IngressPath() {
  static const std::regex re("^(/[A-Za-z0-9._~-]+)*/?$");
  return re;
}

bool Matches(const std::string& s, const std::regex& re) { return std::regex_match(s, re); }

bool OneOf(const std::string& s, std::initializer_list<const char*> allowed) {
  return std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return s == a; });
}

// Collects errors as the API server words them.
class Errors {
 public:
  void Check(bool ok, std::string field, std::string message) {
    if (!ok) list_.push_back({std::move(field), std::move(message)});
  }
  std::vector<FieldError> Take() { return std::move(list_); }

 private:
  std::vector<FieldError> list_;
};

void CheckSecretKeyRef(Errors& e, const std::optional<SecretKeyRef>& ref, const std::string& field) {
  if (!ref) return;
  e.Check(Matches(ref->name, Dns1123Subdomain()) && ref->name.size() <= 253, field + ".name",
          "a Secret name must be a DNS-1123 subdomain");
  e.Check(Matches(ref->key, SecretKey()), field + ".key",
          "a Secret key must consist of letters, digits, '-', '_' or '.'");
}

void CheckModel(Errors& e, const ModelSpec& m) {
  Result<ModelUri> uri = ParseModelUri(m.uri);
  e.Check(uri.ok(), "spec.model.uri", uri.status().message());
  e.Check(std::all_of(m.served_names.begin(), m.served_names.end(),
                      [](const std::string& n) { return Matches(n, ServedName()); }),
          "spec.model.servedNames", "model.servedNames must be non-empty names without whitespace or commas");
  e.Check(std::set<std::string>(m.served_names.begin(), m.served_names.end()).size() == m.served_names.size(),
          "spec.model.servedNames", "model.servedNames must not repeat a name");
  CheckSecretKeyRef(e, m.token_secret_ref, "spec.model.tokenSecretRef");
  e.Check(m.cache.pvc.has_value() != m.cache.empty_dir.has_value(), "spec.model.cache",
          "model.cache must set exactly one of pvc or emptyDir");
  if (m.cache.pvc) {
    e.Check(Matches(m.cache.pvc->claim_name, Dns1123Subdomain()) && m.cache.pvc->claim_name.size() <= 253,
            "spec.model.cache.pvc.claimName", "model.cache.pvc.claimName must be a DNS-1123 subdomain");
  }
  if (m.cache.empty_dir && m.cache.empty_dir->size_limit) {
    e.Check(IsPositiveQuantity(*m.cache.empty_dir->size_limit), "spec.model.cache.emptyDir.sizeLimit",
            "model.cache.emptyDir.sizeLimit must be a positive quantity such as 200Gi");
  }
}

void CheckRuntime(Errors& e, const RuntimeSpec& r) {
  e.Check(!r.expert_parallel || r.tensor_parallel >= 2, "spec.runtime.expertParallel",
          "runtime.expertParallel needs runtime.tensorParallel of 2 or more, since experts are spread over the ranks");
  if (r.image_pull_policy) {
    e.Check(OneOf(*r.image_pull_policy, {"Always", "IfNotPresent", "Never"}), "spec.runtime.imagePullPolicy",
            "runtime.imagePullPolicy must be one of Always, IfNotPresent, Never");
  }
  const int64_t tp = r.tensor_parallel;
  e.Check(tp >= 1 && tp <= 64 && (tp & (tp - 1)) == 0, "spec.runtime.tensorParallel",
          "runtime.tensorParallel must be a power of two from 1 to 64");
  e.Check(r.nodes >= 1, "spec.runtime.nodes", "runtime.nodes must be at least 1");
  e.Check(OneOf(r.dtype, {"bfloat16", "float16", "float32"}), "spec.runtime.dtype",
          "runtime.dtype must be one of bfloat16, float16, float32");
  e.Check(!r.max_model_len || *r.max_model_len >= 1, "spec.runtime.maxModelLen",
          "runtime.maxModelLen must be at least 1");
  e.Check(std::none_of(r.args.begin(), r.args.end(), [](const std::string& a) { return Matches(a, OperatorFlag()); }),
          "spec.runtime.args",
          "runtime.args must not repeat flags the operator derives from the spec (--model, --served-model-name, "
          "--host, --port, --tensor-parallel-size, --api-key-file)");
  e.Check(std::none_of(r.env.begin(), r.env.end(),
                       [](const EnvVar& v) {
                         return v.name.rfind("MIXSERVE_", 0) == 0 || v.name == "HF_HUB_CACHE" ||
                                v.name == "HF_TOKEN_PATH";
                       }),
          "spec.runtime.env",
          "runtime.env must not set variables the operator manages (MIXSERVE_*, HF_HUB_CACHE, HF_TOKEN_PATH)");
}

void CheckResources(Errors& e, const ResourcesSpec& r) {
  e.Check(Matches(r.gpu_resource, ExtendedResource()), "spec.resources.gpuResource",
          "resources.gpuResource must be an extended resource name such as nvidia.com/gpu");
  auto positive = [](const std::optional<std::string>& q) { return !q || IsPositiveQuantity(*q); };
  e.Check(positive(r.cpu), "spec.resources.cpu", "resources.cpu must be a positive quantity such as 8 or 7500m");
  e.Check(positive(r.memory), "spec.resources.memory", "resources.memory must be a positive quantity such as 64Gi");
  e.Check(positive(r.shm_size), "spec.resources.shmSize",
          "resources.shmSize must be a positive quantity such as 16Gi");
}

void CheckPlacement(Errors& e, const PlacementSpec& p) {
  e.Check(std::all_of(p.node_selector.begin(), p.node_selector.end(),
                      [](const auto& kv) { return Matches(kv.first, LabelKey()) && Matches(kv.second, LabelValue()); }),
          "spec.placement.nodeSelector",
          "placement.nodeSelector must map label keys (such as nvidia.com/gpu.product) to label values");
  for (size_t i = 0; i < p.tolerations.size(); ++i) {
    const Toleration& t = p.tolerations[i];
    const std::string field = "spec.placement.tolerations[" + std::to_string(i) + "]";
    e.Check(t.op.value_or("Equal") != "Exists" || t.value.value_or("").empty(), field,
            "a toleration with operator Exists must not set value");
    if (t.op) e.Check(OneOf(*t.op, {"Exists", "Equal"}), field + ".operator", "must be one of Exists, Equal");
    if (t.effect) {
      e.Check(OneOf(*t.effect, {"NoSchedule", "PreferNoSchedule", "NoExecute"}), field + ".effect",
              "must be one of NoSchedule, PreferNoSchedule, NoExecute");
    }
  }
}

void CheckStartupTimeout(Errors& e, const std::string& timeout) {
  Result<double> seconds = ParseDurationSeconds(timeout);
  e.Check(Matches(timeout, DurationText()) && seconds.ok() && *seconds >= 60, "spec.probes.startupTimeout",
          "probes.startupTimeout must be a duration of at least 1m, such as 90s, 30m or 1h30m");
}

void CheckIngress(Errors& e, const IngressSpec& i) {
  e.Check(!i.tls || i.tls->secret_name.empty() || !i.host.empty(), "spec.ingress.tls.secretName",
          "ingress.tls.secretName needs ingress.host, since a certificate is issued for a host name");
  e.Check(i.host.empty() || (Matches(i.host, Dns1123Subdomain()) && i.host.size() <= 253), "spec.ingress.host",
          "ingress.host must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.')");
  e.Check(Matches(i.path, IngressPath()), "spec.ingress.path",
          "ingress.path must be / or a path such as /team-a made of letters, digits and -._~");
}

}  // namespace

std::string FieldError::ToString() const { return field + ": " + message; }

std::vector<FieldError> FieldErrors(const LLMServiceSpec& spec) {
  Errors e;
  const RuntimeSpec& runtime = spec.runtime;
  const std::optional<int64_t>& gpus = spec.resources.gpus_per_node;
  int64_t gpus_total = 0;
  bool gpus_match = !gpus || (!__builtin_mul_overflow(*gpus, runtime.nodes, &gpus_total) &&
                              gpus_total == runtime.tensor_parallel);
  e.Check(gpus_match, "spec.resources.gpusPerNode",
          "resources.gpusPerNode × runtime.nodes must equal runtime.tensorParallel: each tensor-parallel rank owns "
          "one GPU (with expertParallel too, experts are spread over those same ranks)");
  e.Check(gpus || runtime.nodes < 1 || runtime.tensor_parallel % runtime.nodes == 0, "spec.runtime.nodes",
          "runtime.nodes must divide runtime.tensorParallel, so that every node of a replica gets the same number "
          "of GPUs");
  CheckModel(e, spec.model);
  CheckRuntime(e, spec.runtime);
  CheckResources(e, spec.resources);
  CheckPlacement(e, spec.placement);
  e.Check(spec.replicas >= 0, "spec.replicas", "replicas must be 0 or more");
  CheckStartupTimeout(e, spec.probes.startup_timeout);
  CheckIngress(e, spec.ingress);
  CheckSecretKeyRef(e, spec.auth.api_key_secret_ref, "spec.auth.apiKeySecretRef");
  return e.Take();
}

Status Validate(const LLMServiceSpec& spec) {
  std::vector<FieldError> errors = FieldErrors(spec);
  if (errors.empty()) return Status::Ok();
  std::string message;
  for (const FieldError& error : errors) {
    if (!message.empty()) message += "; ";
    message += error.ToString();
  }
  return Status::InvalidArgument(message);
}

}  // namespace mixserve::api
