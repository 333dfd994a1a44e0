#include "operator/kube/resource.h"

#include <array>
#include <cctype>
#include <cstdio>

namespace mixserve::kube {

const ResourceKind kLLMServiceKind{"mixserve.io", "v1alpha1", "llmservices", "LLMService", true};
const ResourceKind kDeploymentKind{"apps", "v1", "deployments", "Deployment", true};
const ResourceKind kStatefulSetKind{"apps", "v1", "statefulsets", "StatefulSet", true};
const ResourceKind kServiceKind{"", "v1", "services", "Service", true};
const ResourceKind kPodKind{"", "v1", "pods", "Pod", true};
const ResourceKind kEventKind{"", "v1", "events", "Event", true};
const ResourceKind kSecretKind{"", "v1", "secrets", "Secret", true};
const ResourceKind kConfigMapKind{"", "v1", "configmaps", "ConfigMap", true};
const ResourceKind kNamespaceKind{"", "v1", "namespaces", "Namespace", false};
const ResourceKind kNodeKind{"", "v1", "nodes", "Node", false};
const ResourceKind kIngressKind{"networking.k8s.io", "v1", "ingresses", "Ingress", true};
const ResourceKind kPodDisruptionBudgetKind{"policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true};
const ResourceKind kLeaseKind{"coordination.k8s.io", "v1", "leases", "Lease", true};

std::string ResourceKind::ApiVersion() const { return group.empty() ? version : group + "/" + version; }

Result<ResourceKind> KindOf(const std::string& api_version, const std::string& kind) {
  static const std::array<const ResourceKind*, 13> kKnown = {
      &kLLMServiceKind, &kDeploymentKind, &kStatefulSetKind, &kServiceKind, &kPodKind,
      &kEventKind,      &kSecretKind,     &kConfigMapKind,   &kNamespaceKind, &kNodeKind,
      &kIngressKind,    &kPodDisruptionBudgetKind, &kLeaseKind};
  for (const ResourceKind* k : kKnown) {
    if (k->kind == kind && k->ApiVersion() == api_version) return *k;
  }
  return Status::NotFound("unknown kind " + api_version + "/" + kind + " (the operator knows LLMService, "
                          "Deployment, StatefulSet, Service, Pod, Event, Secret, ConfigMap, Namespace, Node, "
                          "Ingress, PodDisruptionBudget, Lease)");
}

Result<ResourceKind> KindOfObject(const nlohmann::json& object) {
  if (!object.is_object() || !object.contains("apiVersion") || !object["apiVersion"].is_string() ||
      !object.contains("kind") || !object["kind"].is_string()) {
    return Status::InvalidArgument("object has no apiVersion/kind");
  }
  return KindOf(object["apiVersion"].get<std::string>(), object["kind"].get<std::string>());
}

std::string CollectionPath(const ResourceKind& kind, const std::string& ns) {
  std::string path = kind.group.empty() ? "/api/" + kind.version : "/apis/" + kind.group + "/" + kind.version;
  if (kind.namespaced && !ns.empty()) path += "/namespaces/" + ns;
  return path + "/" + kind.resource;
}

std::string ObjectPath(const ResourceKind& kind, const std::string& ns, const std::string& name) {
  return CollectionPath(kind, ns) + "/" + name;
}

std::string QueryEscape(const std::string& value) {
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char hex[4];
      std::snprintf(hex, sizeof(hex), "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

std::string ObjectKey(const std::string& ns, const std::string& name) { return ns.empty() ? name : ns + "/" + name; }

std::string ObjectKey(const nlohmann::json& object) {
  const auto& meta = object.contains("metadata") ? object["metadata"] : nlohmann::json::object();
  return ObjectKey(meta.value("namespace", ""), meta.value("name", ""));
}

}  // namespace mixserve::kube
