// LLMService (mixserve.io/v1alpha1): the C++ side of crds/mixserve.io_llmservices.yaml.
//
// One struct per section of the spec. Members start at the CRD's `default:` values, so an object
// parsed from JSON that omits a field reads exactly as the API server would have defaulted it;
// ApplyDefaults (defaults.h) fills the defaults the schema cannot express (they depend on other
// fields). std::optional marks fields whose absence means something ("use the model's limit",
// "request no CPU"). The field documentation lives in the CRD, where `kubectl explain` shows it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mixserve::api {

inline constexpr char kApiVersion[] = "mixserve.io/v1alpha1";
inline constexpr char kKind[] = "LLMService";

using StringMap = std::map<std::string, std::string>;

// A key of a Secret in the LLMService's namespace.
struct SecretKeyRef {
  std::string name;
  std::string key;

  bool operator==(const SecretKeyRef&) const = default;
};

struct PvcCache {
  std::string claim_name;
  bool read_only = false;

  bool operator==(const PvcCache&) const = default;
};

struct EmptyDirCache {
  std::optional<std::string> size_limit;  // a Kubernetes quantity

  bool operator==(const EmptyDirCache&) const = default;
};

// Exactly one of pvc / empty_dir is set in a valid spec.
struct ModelCache {
  std::optional<PvcCache> pvc;
  std::optional<EmptyDirCache> empty_dir;

  bool operator==(const ModelCache&) const = default;
};

struct ModelSpec {
  std::string uri;
  std::vector<std::string> served_names;
  std::optional<SecretKeyRef> token_secret_ref;  // key defaults to "token"
  ModelCache cache{.pvc = std::nullopt, .empty_dir = EmptyDirCache{}};

  bool operator==(const ModelSpec&) const = default;
};

struct EnvVar {
  std::string name;
  std::optional<std::string> value;
  nlohmann::json value_from;  // null, or an object as in a Pod's env[].valueFrom

  bool operator==(const EnvVar&) const = default;
};

struct RuntimeSpec {
  std::string image;  // empty: the operator's --runtime-image
  std::optional<std::string> image_pull_policy;
  std::vector<std::string> image_pull_secrets;
  int64_t tensor_parallel = 1;
  bool expert_parallel = false;
  int64_t nodes = 1;
  std::string dtype = "bfloat16";
  std::optional<int64_t> max_model_len;
  std::vector<std::string> args;
  std::vector<EnvVar> env;

  bool operator==(const RuntimeSpec&) const = default;
};

// Quantities keep the text the user wrote (an integer is kept as its decimal digits).
struct ResourcesSpec {
  std::optional<int64_t> gpus_per_node;  // ApplyDefaults: tensor_parallel / nodes
  std::string gpu_resource = "nvidia.com/gpu";
  std::optional<std::string> cpu;
  std::optional<std::string> memory;
  std::optional<std::string> shm_size;

  bool operator==(const ResourcesSpec&) const = default;
};

struct Toleration {
  std::optional<std::string> key;
  std::optional<std::string> op;  // "operator" in JSON
  std::optional<std::string> value;
  std::optional<std::string> effect;
  std::optional<int64_t> toleration_seconds;

  bool operator==(const Toleration&) const = default;
};

struct PlacementSpec {
  StringMap node_selector;
  nlohmann::json affinity;  // null, or an object as in a Pod's spec.affinity
  std::vector<Toleration> tolerations;
  std::string priority_class_name;

  bool operator==(const PlacementSpec&) const = default;
};

struct ProbesSpec {
  std::string startup_timeout = "30m";  // a Go duration string

  bool operator==(const ProbesSpec&) const = default;
};

struct IngressTls {
  std::string secret_name;

  bool operator==(const IngressTls&) const = default;
};

struct IngressSpec {
  bool enabled = false;
  std::string class_name;
  std::string host;
  std::string path = "/";
  std::optional<IngressTls> tls;
  StringMap annotations;

  bool operator==(const IngressSpec&) const = default;
};

struct AuthSpec {
  std::optional<SecretKeyRef> api_key_secret_ref;  // key defaults to "api-key"

  bool operator==(const AuthSpec&) const = default;
};

struct LLMServiceSpec {
  ModelSpec model;
  RuntimeSpec runtime;
  ResourcesSpec resources;
  PlacementSpec placement;
  int64_t replicas = 1;
  ProbesSpec probes;
  IngressSpec ingress;
  AuthSpec auth;

  bool operator==(const LLMServiceSpec&) const = default;
};

// A status condition as the Kubernetes API conventions define it.
struct Condition {
  std::string type;    // Ready, Progressing, Degraded
  std::string status;  // "True", "False", "Unknown"
  int64_t observed_generation = 0;
  std::string last_transition_time;  // RFC 3339
  std::string reason;                // CamelCase
  std::string message;

  bool operator==(const Condition&) const = default;
};

struct LLMServiceStatus {
  std::vector<Condition> conditions;
  int64_t observed_generation = 0;
  int64_t replicas = 0;
  int64_t ready_replicas = 0;
  std::string ready_text;  // "<readyReplicas>/<replicas>", for the Ready printer column
  std::string selector;    // for the scale subresource
  std::string url;         // the OpenAI base URL
  std::vector<std::string> served_names;

  bool operator==(const LLMServiceStatus&) const = default;
};

// The parts of metadata the operator reads or writes.
struct ObjectMeta {
  std::string name;
  std::string namespace_;
  std::string uid;
  std::string resource_version;
  int64_t generation = 0;
  std::string creation_timestamp;
  StringMap labels;
  StringMap annotations;

  bool operator==(const ObjectMeta&) const = default;
};

struct LLMService {
  ObjectMeta metadata;
  LLMServiceSpec spec;
  LLMServiceStatus status;

  bool operator==(const LLMService&) const = default;
};

}  // namespace mixserve::api
