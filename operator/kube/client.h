// Client: typed Kubernetes API verbs over a RestClient, with request counters.
//
// Objects go in and come out as nlohmann::json exactly as the API server speaks them. Failures are
// Status values built by ApiError (use IsNotFound / IsConflict / IsGone from errors.h). Apply is
// server-side apply: a PATCH with Content-Type application/apply-patch+yaml (the JSON body is valid
// YAML), ?fieldManager=<manager>&force=true, so the server merges fields owned by the manager and an
// unchanged apply changes nothing (same resourceVersion). Watch streams a chunked watch response
// and hands each event to a callback as it arrives. Thread-safe: any number of threads may call.
//
//   kube::Client client(*kube::LoadKubeconfig(path));
//   auto dep = client.Get(kube::kDeploymentKind, "default", "web");
//   if (!dep.ok() && kube::IsNotFound(dep.status())) ...
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "operator/kube/errors.h"
#include "operator/kube/kubeconfig.h"
#include "operator/kube/request_counters.h"
#include "operator/kube/resource.h"
#include "operator/kube/rest_client.h"
#include "runtime/base/status.h"

namespace mixserve::kube {

class Client {
 public:
  explicit Client(ClusterAccess access);
  ~Client();

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // GET one object; NotFound for 404.
  Result<nlohmann::json> Get(const ResourceKind& kind, const std::string& ns, const std::string& name);
  // GET the collection (ns empty: all namespaces). The answer is the List object: "items" and
  // "metadata.resourceVersion" (the version to watch from).
  Result<nlohmann::json> List(const ResourceKind& kind, const std::string& ns, const std::string& label_selector = "");

  // Server-side apply of `object` (kind, namespace and name taken from the object).
  Result<nlohmann::json> Apply(const nlohmann::json& object, const std::string& field_manager);
  // Server-side apply of the status subresource (.../status): `object` carries apiVersion, kind,
  // metadata.name/namespace and the status fields this manager owns.
  Result<nlohmann::json> ApplyStatus(const nlohmann::json& object, const std::string& field_manager);

  // POST; AlreadyExists for 409.
  Result<nlohmann::json> Create(const ResourceKind& kind, const std::string& ns, const nlohmann::json& object);
  // PUT of the whole object (name from object.metadata.name); Conflict for 409 when
  // metadata.resourceVersion is stale.
  Result<nlohmann::json> Update(const ResourceKind& kind, const std::string& ns, const nlohmann::json& object);
  // PUT of the status subresource.
  Result<nlohmann::json> UpdateStatus(const ResourceKind& kind, const std::string& ns, const nlohmann::json& object);
  // PATCH with a JSON merge patch (application/merge-patch+json).
  Result<nlohmann::json> MergePatch(const ResourceKind& kind, const std::string& ns, const std::string& name,
                                    const nlohmann::json& patch);
  // DELETE with propagationPolicy=Background; NotFound for 404.
  Status Delete(const ResourceKind& kind, const std::string& ns, const std::string& name);

  // Watch from `resource_version` (empty: from now). Calls on_event(type, object) for each event
  // as it arrives, type one of ADDED, MODIFIED, DELETED, BOOKMARK (object carries only
  // metadata.resourceVersion). Returns Ok when the server ends the watch (timeout_seconds passed)
  // or `stop` returned true (polled about every 100 ms, so Watch returns within ~0.2 s of it);
  // Gone when the server answers 410 or sends an ERROR event with code 410 (relist); another error
  // for other failures. allowWatchBookmarks=true is always set.
  Status Watch(const ResourceKind& kind, const std::string& ns, const std::string& resource_version,
               const std::string& label_selector, int timeout_seconds,
               const std::function<void(const std::string& type, const nlohmann::json& object)>& on_event,
               const std::function<bool()>& stop);

  RequestCounters& counters() { return counters_; }
  const ClusterAccess& access() const;

 private:
  Result<nlohmann::json> Call(const std::string& verb, const std::string& path, const nlohmann::json* body,
                              const std::string& content_type);

  std::unique_ptr<RestClient> rest_;
  RequestCounters counters_;
};

}  // namespace mixserve::kube
