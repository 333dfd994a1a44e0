#include "operator/api/llmservice_json.h"

#include <limits>
#include <string>
#include <utility>

namespace mixserve::api {
namespace {

using nlohmann::json;

// Reads the typed fields of one JSON object. The first field of a wrong type is recorded, with
// its path, in *error; once an error is recorded every later read leaves its output untouched.
// Reads of an absent (or null) field also leave the output untouched, so outputs keep their
// defaults.
class Fields {
 public:
  Fields(const json* object, std::string path, Status* error)
      : object_(object), path_(std::move(path)), error_(error) {}

  Fields Object(const char* key) const {
    const json* v = Get(key);
    if (v && !v->is_object()) {
      Fail(Path(key), "must be an object");
      v = nullptr;
    }
    return Fields(v, Path(key), error_);
  }

  bool Has(const char* key) const { return Get(key) != nullptr; }

  void Read(const char* key, std::string* out) const {
    if (const json* v = Typed(key, &json::is_string, "must be a string")) *out = v->get<std::string>();
  }
  void Read(const char* key, std::optional<std::string>* out) const {
    if (const json* v = Typed(key, &json::is_string, "must be a string")) *out = v->get<std::string>();
  }
  void Read(const char* key, bool* out) const {
    if (const json* v = Typed(key, &json::is_boolean, "must be a boolean")) *out = v->get<bool>();
  }
  void Read(const char* key, int64_t* out) const {
    std::optional<int64_t> v;
    Read(key, &v);
    if (v) *out = *v;
  }
  void Read(const char* key, std::optional<int64_t>* out) const {
    const json* v = Typed(key, &json::is_number_integer, "must be an integer");
    if (!v) return;
    if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max())) {
      Fail(Path(key), "is out of range");
      return;
    }
    *out = v->get<int64_t>();
  }
  // An int-or-string Kubernetes quantity; an integer is kept as its decimal digits.
  void ReadQuantity(const char* key, std::optional<std::string>* out) const {
    const json* v = Get(key);
    if (!v) return;
    if (v->is_string()) {
      *out = v->get<std::string>();
    } else if (v->is_number_integer()) {
      *out = v->dump();
    } else {
      Fail(Path(key), "must be an integer or a string");
    }
  }
  void Read(const char* key, std::vector<std::string>* out) const {
    const json* v = Typed(key, &json::is_array, "must be a list");
    if (!v) return;
    std::vector<std::string> items;
    for (const json& item : *v) {
      if (!item.is_string()) {
        Fail(Path(key), "must be a list of strings");
        return;
      }
      items.push_back(item.get<std::string>());
    }
    *out = std::move(items);
  }
  void Read(const char* key, StringMap* out) const {
    const json* v = Typed(key, &json::is_object, "must be an object");
    if (!v) return;
    StringMap map;
    for (const auto& [k, item] : v->items()) {
      if (!item.is_string()) {
        Fail(Path(key), "must map names to strings");
        return;
      }
      map[k] = item.get<std::string>();
    }
    *out = std::move(map);
  }
  // An object the operator passes through without looking inside (affinity, env valueFrom).
  void ReadRaw(const char* key, json* out) const {
    if (const json* v = Typed(key, &json::is_object, "must be an object")) *out = *v;
  }
  // A list of objects, each read by `read_item(Fields, T*)`.
  template <typename T, typename ReadItem>
  void ReadList(const char* key, std::vector<T>* out, ReadItem read_item) const {
    const json* v = Typed(key, &json::is_array, "must be a list");
    if (!v) return;
    std::vector<T> items;
    for (size_t i = 0; i < v->size(); ++i) {
      std::string item_path = Path(key) + "[" + std::to_string(i) + "]";
      if (!(*v)[i].is_object()) {
        Fail(item_path, "must be an object");
        return;
      }
      T item;
      read_item(Fields(&(*v)[i], item_path, error_), &item);
      items.push_back(std::move(item));
    }
    *out = std::move(items);
  }

 private:
  std::string Path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  const json* Get(const char* key) const {
    if (!object_ || !error_->ok()) return nullptr;
    auto it = object_->find(key);
    return it == object_->end() || it->is_null() ? nullptr : &*it;
  }

  const json* Typed(const char* key, bool (json::*is_type)() const noexcept, const char* what) const {
    const json* v = Get(key);
    if (v && !(v->*is_type)()) {
      Fail(Path(key), what);
      return nullptr;
    }
    return v;
  }

  void Fail(const std::string& path, const char* what) const {
    if (error_->ok()) *error_ = Status::InvalidArgument(path + ": " + what);
  }

  const json* object_;
  std::string path_;
  Status* error_;
};

// Readers, one per section of the spec: each starts from the section's defaults and overwrites
// what the JSON sets.
std::optional<SecretKeyRef> ReadSecretKeyRef(const Fields& parent, const char* key, const char* default_key) {
  if (!parent.Has(key)) return std::nullopt;
  Fields f = parent.Object(key);
  SecretKeyRef ref{.name = "", .key = default_key};
  f.Read("name", &ref.name);
  f.Read("key", &ref.key);
  return ref;
}

ModelSpec ReadModel(const Fields& f) {
  ModelSpec m;
  f.Read("uri", &m.uri);
  f.Read("servedNames", &m.served_names);
  m.token_secret_ref = ReadSecretKeyRef(f, "tokenSecretRef", "token");
  if (f.Has("cache")) {
    Fields cache = f.Object("cache");
    m.cache = ModelCache{};
    if (cache.Has("pvc")) {
      Fields pvc = cache.Object("pvc");
      m.cache.pvc = PvcCache{};
      pvc.Read("claimName", &m.cache.pvc->claim_name);
      pvc.Read("readOnly", &m.cache.pvc->read_only);
    }
    if (cache.Has("emptyDir")) {
      m.cache.empty_dir = EmptyDirCache{};
      cache.Object("emptyDir").ReadQuantity("sizeLimit", &m.cache.empty_dir->size_limit);
    }
  }
  return m;
}

RuntimeSpec ReadRuntime(const Fields& f) {
  RuntimeSpec r;
  f.Read("image", &r.image);
  f.Read("imagePullPolicy", &r.image_pull_policy);
  f.ReadList("imagePullSecrets", &r.image_pull_secrets,
             [](const Fields& item, std::string* name) { item.Read("name", name); });
  f.Read("tensorParallel", &r.tensor_parallel);
  f.Read("expertParallel", &r.expert_parallel);
  f.Read("nodes", &r.nodes);
  f.Read("dtype", &r.dtype);
  f.Read("maxModelLen", &r.max_model_len);
  f.Read("args", &r.args);
  f.ReadList("env", &r.env, [](const Fields& item, EnvVar* e) {
    item.Read("name", &e->name);
    item.Read("value", &e->value);
    item.ReadRaw("valueFrom", &e->value_from);
  });
  return r;
}

ResourcesSpec ReadResources(const Fields& f) {
  ResourcesSpec r;
  f.Read("gpusPerNode", &r.gpus_per_node);
  f.Read("gpuResource", &r.gpu_resource);
  f.ReadQuantity("cpu", &r.cpu);
  f.ReadQuantity("memory", &r.memory);
  f.ReadQuantity("shmSize", &r.shm_size);
  return r;
}

PlacementSpec ReadPlacement(const Fields& f) {
  PlacementSpec p;
  f.Read("nodeSelector", &p.node_selector);
  f.ReadRaw("affinity", &p.affinity);
  f.ReadList("tolerations", &p.tolerations, [](const Fields& item, Toleration* t) {
    item.Read("key", &t->key);
    item.Read("operator", &t->op);
    item.Read("value", &t->value);
    item.Read("effect", &t->effect);
    item.Read("tolerationSeconds", &t->toleration_seconds);
  });
  f.Read("priorityClassName", &p.priority_class_name);
  return p;
}

IngressSpec ReadIngress(const Fields& f) {
  IngressSpec i;
  f.Read("enabled", &i.enabled);
  f.Read("className", &i.class_name);
  f.Read("host", &i.host);
  f.Read("path", &i.path);
  if (f.Has("tls")) {
    i.tls = IngressTls{};
    f.Object("tls").Read("secretName", &i.tls->secret_name);
  }
  f.Read("annotations", &i.annotations);
  return i;
}

LLMServiceSpec ReadSpec(const Fields& f) {
  LLMServiceSpec s;
  s.model = ReadModel(f.Object("model"));
  s.runtime = ReadRuntime(f.Object("runtime"));
  s.resources = ReadResources(f.Object("resources"));
  s.placement = ReadPlacement(f.Object("placement"));
  f.Read("replicas", &s.replicas);
  f.Object("probes").Read("startupTimeout", &s.probes.startup_timeout);
  s.ingress = ReadIngress(f.Object("ingress"));
  s.auth.api_key_secret_ref = ReadSecretKeyRef(f.Object("auth"), "apiKeySecretRef", "api-key");
  return s;
}

LLMServiceStatus ReadStatus(const Fields& f) {
  LLMServiceStatus s;
  f.ReadList("conditions", &s.conditions, [](const Fields& item, Condition* c) {
    item.Read("type", &c->type);
    item.Read("status", &c->status);
    item.Read("observedGeneration", &c->observed_generation);
    item.Read("lastTransitionTime", &c->last_transition_time);
    item.Read("reason", &c->reason);
    item.Read("message", &c->message);
  });
  f.Read("observedGeneration", &s.observed_generation);
  f.Read("replicas", &s.replicas);
  f.Read("readyReplicas", &s.ready_replicas);
  f.Read("readyText", &s.ready_text);
  f.Read("selector", &s.selector);
  f.Read("url", &s.url);
  f.Read("servedNames", &s.served_names);
  return s;
}

ObjectMeta ReadMetadata(const Fields& f) {
  ObjectMeta m;
  f.Read("name", &m.name);
  f.Read("namespace", &m.namespace_);
  f.Read("uid", &m.uid);
  f.Read("resourceVersion", &m.resource_version);
  f.Read("generation", &m.generation);
  f.Read("creationTimestamp", &m.creation_timestamp);
  f.Read("labels", &m.labels);
  f.Read("annotations", &m.annotations);
  return m;
}

// Writers: set `key` only when the value says something (see the header).
void PutString(json& out, const char* key, const std::string& v) {
  if (!v.empty()) out[key] = v;
}
template <typename T>
void PutOptional(json& out, const char* key, const std::optional<T>& v) {
  if (v) out[key] = *v;
}
template <typename Container>
void PutNonEmpty(json& out, const char* key, const Container& v) {
  if (!v.empty()) out[key] = v;
}
// Writers, one per section of the spec, the inverse of the readers above.
json SecretKeyRefJson(const SecretKeyRef& ref) { return {{"name", ref.name}, {"key", ref.key}}; }

json ModelJson(const ModelSpec& m) {
  json out = json::object();
  out["uri"] = m.uri;
  PutNonEmpty(out, "servedNames", m.served_names);
  if (m.token_secret_ref) out["tokenSecretRef"] = SecretKeyRefJson(*m.token_secret_ref);
  json cache = json::object();
  if (m.cache.pvc) {
    json pvc = {{"claimName", m.cache.pvc->claim_name}};
    if (m.cache.pvc->read_only) pvc["readOnly"] = true;
    cache["pvc"] = pvc;
  }
  if (m.cache.empty_dir) {
    json empty_dir = json::object();
    PutOptional(empty_dir, "sizeLimit", m.cache.empty_dir->size_limit);
    cache["emptyDir"] = empty_dir;
  }
  out["cache"] = cache;
  return out;
}

json RuntimeJson(const RuntimeSpec& r) {
  json out = json::object();
  PutString(out, "image", r.image);
  PutOptional(out, "imagePullPolicy", r.image_pull_policy);
  if (!r.image_pull_secrets.empty()) out["imagePullSecrets"] = ImagePullSecretsToJson(r.image_pull_secrets);
  out["tensorParallel"] = r.tensor_parallel;
  out["expertParallel"] = r.expert_parallel;
  out["nodes"] = r.nodes;
  out["dtype"] = r.dtype;
  PutOptional(out, "maxModelLen", r.max_model_len);
  PutNonEmpty(out, "args", r.args);
  if (!r.env.empty()) {
    json env = json::array();
    for (const EnvVar& e : r.env) env.push_back(EnvVarToJson(e));
    out["env"] = env;
  }
  return out;
}

json ResourcesJson(const ResourcesSpec& r) {
  json out = json::object();
  PutOptional(out, "gpusPerNode", r.gpus_per_node);
  out["gpuResource"] = r.gpu_resource;
  PutOptional(out, "cpu", r.cpu);
  PutOptional(out, "memory", r.memory);
  PutOptional(out, "shmSize", r.shm_size);
  return out;
}

json IngressJson(const IngressSpec& i) {
  json out = {{"enabled", i.enabled}, {"path", i.path}};
  PutString(out, "className", i.class_name);
  PutString(out, "host", i.host);
  if (i.tls) {
    json tls = json::object();
    PutString(tls, "secretName", i.tls->secret_name);
    out["tls"] = tls;
  }
  PutNonEmpty(out, "annotations", i.annotations);
  return out;
}

json MetadataJson(const ObjectMeta& m) {
  json out = json::object();
  PutString(out, "name", m.name);
  PutString(out, "namespace", m.namespace_);
  PutString(out, "uid", m.uid);
  PutString(out, "resourceVersion", m.resource_version);
  if (m.generation != 0) out["generation"] = m.generation;
  PutString(out, "creationTimestamp", m.creation_timestamp);
  PutNonEmpty(out, "labels", m.labels);
  PutNonEmpty(out, "annotations", m.annotations);
  return out;
}

}  // namespace

Result<LLMService> LLMServiceFromJson(const json& object) {
  if (!object.is_object()) return Status::InvalidArgument("an LLMService must be a JSON object");
  Status error;
  Fields root(&object, "", &error);
  std::string api_version = kApiVersion, kind = kKind;
  root.Read("apiVersion", &api_version);
  root.Read("kind", &kind);
  if (error.ok() && (api_version != kApiVersion || kind != kKind)) {
    return Status::InvalidArgument("expected a " + std::string(kApiVersion) + " " + kKind + ", got " +
                                   api_version + " " + kind);
  }
  LLMService service;
  service.metadata = ReadMetadata(root.Object("metadata"));
  if (error.ok() && !root.Has("spec")) return Status::InvalidArgument("spec: is required");
  service.spec = ReadSpec(root.Object("spec"));
  service.status = ReadStatus(root.Object("status"));
  if (!error.ok()) return error;
  return service;
}

json PlacementToJson(const PlacementSpec& p) {
  json out = json::object();
  PutNonEmpty(out, "nodeSelector", p.node_selector);
  if (!p.affinity.is_null()) out["affinity"] = p.affinity;
  if (!p.tolerations.empty()) {
    json tolerations = json::array();
    for (const Toleration& t : p.tolerations) {
      json item = json::object();
      PutOptional(item, "key", t.key);
      PutOptional(item, "operator", t.op);
      PutOptional(item, "value", t.value);
      PutOptional(item, "effect", t.effect);
      PutOptional(item, "tolerationSeconds", t.toleration_seconds);
      tolerations.push_back(item);
    }
    out["tolerations"] = tolerations;
  }
  PutString(out, "priorityClassName", p.priority_class_name);
  return out;
}

json EnvVarToJson(const EnvVar& e) {
  json var = {{"name", e.name}};
  PutOptional(var, "value", e.value);
  if (!e.value_from.is_null()) var["valueFrom"] = e.value_from;
  return var;
}

json ImagePullSecretsToJson(const std::vector<std::string>& names) {
  json secrets = json::array();
  for (const std::string& name : names) secrets.push_back({{"name", name}});
  return secrets;
}

json SpecToJson(const LLMServiceSpec& s) {
  json out = json::object();
  out["model"] = ModelJson(s.model);
  out["runtime"] = RuntimeJson(s.runtime);
  out["resources"] = ResourcesJson(s.resources);
  json placement = PlacementToJson(s.placement);
  if (!placement.empty()) out["placement"] = placement;
  out["replicas"] = s.replicas;
  out["probes"] = {{"startupTimeout", s.probes.startup_timeout}};
  out["ingress"] = IngressJson(s.ingress);
  if (s.auth.api_key_secret_ref) out["auth"] = {{"apiKeySecretRef", SecretKeyRefJson(*s.auth.api_key_secret_ref)}};
  return out;
}

json StatusToJson(const LLMServiceStatus& s) {
  json out = json::object();
  if (!s.conditions.empty()) {
    json conditions = json::array();
    for (const Condition& c : s.conditions) {
      json item = {{"type", c.type}, {"status", c.status}, {"lastTransitionTime", c.last_transition_time},
                   {"reason", c.reason}, {"message", c.message}};
      if (c.observed_generation != 0) item["observedGeneration"] = c.observed_generation;
      conditions.push_back(item);
    }
    out["conditions"] = conditions;
  }
  if (s.observed_generation != 0) out["observedGeneration"] = s.observed_generation;
  out["replicas"] = s.replicas;
  out["readyReplicas"] = s.ready_replicas;
  PutString(out, "readyText", s.ready_text);
  PutString(out, "selector", s.selector);
  PutString(out, "url", s.url);
  PutNonEmpty(out, "servedNames", s.served_names);
  return out;
}

json ToJson(const LLMService& service) {
  json out = {{"apiVersion", kApiVersion},
          {"kind", kKind},
          {"metadata", MetadataJson(service.metadata)},
          {"spec", SpecToJson(service.spec)}};
  if (service.status != LLMServiceStatus{}) out["status"] = StatusToJson(service.status);
  return out;
}

}  // namespace mixserve::api
