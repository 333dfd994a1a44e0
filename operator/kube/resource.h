// ResourceKind: which REST collection an object kind lives in, and the paths of its objects.
//
// The API server addresses objects by group, version and plural resource; manifests carry
// apiVersion and kind. KindOf maps the latter to the former for the kinds the operator touches:
// LLMService (mixserve.io/v1alpha1), Deployment and StatefulSet (apps/v1), Service, Pod, Event,
// Secret, ConfigMap, Namespace, Node (v1), Ingress (networking.k8s.io/v1), PodDisruptionBudget
// (policy/v1), Lease (coordination.k8s.io/v1). The constants below name the same kinds directly.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "runtime/base/status.h"

namespace mixserve::kube {

struct ResourceKind {
  std::string group;     // "" for the core group
  std::string version;   // "v1"
  std::string resource;  // plural, lower case: "deployments"
  std::string kind;      // "Deployment"
  bool namespaced = true;

  // "apps/v1" or "v1".
  std::string ApiVersion() const;
};

extern const ResourceKind kLLMServiceKind;
extern const ResourceKind kDeploymentKind;
extern const ResourceKind kStatefulSetKind;
extern const ResourceKind kServiceKind;
extern const ResourceKind kPodKind;
extern const ResourceKind kEventKind;
extern const ResourceKind kSecretKind;
extern const ResourceKind kConfigMapKind;
extern const ResourceKind kNamespaceKind;
extern const ResourceKind kNodeKind;
extern const ResourceKind kIngressKind;
extern const ResourceKind kPodDisruptionBudgetKind;
extern const ResourceKind kLeaseKind;

// The kind for a manifest's apiVersion and kind; NotFound for kinds not in the table above.
Result<ResourceKind> KindOf(const std::string& api_version, const std::string& kind);
// KindOf(object["apiVersion"], object["kind"]).
Result<ResourceKind> KindOfObject(const nlohmann::json& object);

// "/apis/apps/v1/namespaces/NS/deployments"; all namespaces (or cluster-scoped) when ns is empty.
std::string CollectionPath(const ResourceKind& kind, const std::string& ns);
// CollectionPath(kind, ns) + "/" + name.
std::string ObjectPath(const ResourceKind& kind, const std::string& ns, const std::string& name);

// Percent-encodes a query parameter value (label selectors contain '=', ',', '!').
std::string QueryEscape(const std::string& value);

// "namespace/name" (or "name" for cluster-scoped objects): the key informers and workqueues use.
std::string ObjectKey(const nlohmann::json& object);
std::string ObjectKey(const std::string& ns, const std::string& name);

}  // namespace mixserve::kube
