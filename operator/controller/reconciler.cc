#include "operator/controller/reconciler.h"

#include <future>
#include <utility>

#include "operator/api/llmservice_json.h"
#include "operator/controller/apply_plan.h"
#include "operator/controller/checks.h"
#include "operator/controller/log.h"
#include "operator/controller/names.h"

namespace mixserve::controller {
namespace {

using nlohmann::json;

constexpr std::chrono::seconds kSecretRecheck{10};

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

}  // namespace

Reconciler::Reconciler(kube::Client* client, kube::EventRecorder* events, Caches caches, RenderOptions options)
    : client_(client), events_(events), caches_(caches), options_(std::move(options)) {}

kube::Informer* Reconciler::CacheFor(const std::string& kind) const {
  if (kind == "Deployment") return caches_.deployments;
  if (kind == "StatefulSet") return caches_.statefulsets;
  if (kind == "Service") return caches_.services;
  if (kind == "Ingress") return caches_.ingresses;
  if (kind == "PodDisruptionBudget") return caches_.pdbs;
  return nullptr;
}

Reconciler::Outcome Reconciler::Reconcile(const std::string& key) {
  const size_t slash = key.find('/');
  const std::string ns = key.substr(0, slash), name = key.substr(slash + 1);
  std::optional<json> owner = caches_.llmservices->Get(ns, name);
  if (!owner || (*owner)["metadata"].contains("deletionTimestamp")) return {};
  if (!owner->contains("apiVersion")) (*owner)["apiVersion"] = api::kApiVersion;
  if (!owner->contains("kind")) (*owner)["kind"] = api::kKind;

  auto parsed = api::LLMServiceFromJson(*owner);
  if (!parsed.ok()) {
    // The schema keeps types right; an object that still does not parse cannot get a status either.
    events_->Record(*owner, "Warning", "InvalidSpec", parsed.status().message());
    LogJson("error", "cannot read LLMService", {{"key", key}, {"error", parsed.status().message()}});
    return {};
  }
  const api::LLMService& service = *parsed;

  Status check_error;
  Findings findings = Check(service, &check_error);
  if (!check_error.ok()) return {check_error, std::nullopt};

  std::vector<std::string> created;
  Status sync;
  if (!findings.blocker) {
    auto rendered = Render(service, options_);
    if (!rendered.ok()) {
      findings.blocker = Blocker{"InvalidSpec", rendered.status().message()};
    } else {
      sync = SyncChildren(*owner, service, *rendered, &created);
    }
  }
  if (!created.empty()) events_->Record(*owner, "Normal", "Created", "created " + Join(created));

  api::LLMServiceStatus status = Observe(service, ObserveChildren(service), findings, NowRfc3339());
  if (status != service.status) {
    json patch = {{"apiVersion", api::kApiVersion},
                  {"kind", api::kKind},
                  {"metadata", {{"name", name}, {"namespace", ns}}},
                  {"status", api::StatusToJson(status)}};
    auto applied = client_->ApplyStatus(patch, kFieldManager);
    if (!applied.ok()) return {applied.status().WithContext("status of " + key), std::nullopt};
    RecordTransitions(*owner, service.status, status);
  }
  if (!sync.ok()) return {sync, std::nullopt};
  Outcome outcome;
  if (findings.blocker && findings.blocker->reason == "MissingSecret") outcome.requeue_after = kSecretRecheck;
  return outcome;
}

Findings Reconciler::Check(const api::LLMService& service, Status* error) {
  Findings findings;
  findings.blocker = CheckSpec(service);
  if (findings.blocker) return findings;
  const std::string& ns = service.metadata.namespace_;
  findings.blocker = CheckSecrets(service, [&](const std::string& name) -> std::optional<json> {
    auto secret = client_->Get(kube::kSecretKind, ns, name);
    if (secret.ok()) return *secret;
    if (!kube::IsNotFound(secret.status()) && error->ok()) *error = secret.status();
    return std::nullopt;
  });
  if (!error->ok()) findings.blocker.reset();
  if (caches_.nodes) findings.advisory = CheckGpuCapacity(service, caches_.nodes->List());
  return findings;
}

Status Reconciler::SyncChildren(const json& owner, const api::LLMService& service, const std::vector<json>& rendered,
                                std::vector<std::string>* created) {
  const std::string& ns = service.metadata.namespace_;
  const std::string& uid = service.metadata.uid;
  Status first_error;
  // The children that differ are applied concurrently: one reconcile then costs one API round trip,
  // not one per child, which is what a burst of new LLMServices waits for.
  struct Job {
    std::string kind, name;
    bool existed;
    std::future<Result<json>> applied;
  };
  std::vector<Job> jobs;
  for (const json& child : rendered) {
    const std::string kind = child["kind"];
    const std::string child_name = child["metadata"]["name"];
    kube::Informer* cache = CacheFor(kind);
    std::optional<json> live = cache ? cache->Get(ns, child_name) : std::nullopt;
    if (live && !ControlledBy(*live, uid)) {
      // Someone else's object (or a previous LLMService's, about to be collected): never take it over.
      if (first_error.ok()) {
        first_error = Status::InvalidArgument(kind + " " + child_name + " exists and is not controlled by LLMService " +
                                              service.metadata.name + ": delete or rename it");
      }
      continue;
    }
    json stamped = StampRenderedHash(child);
    if (!NeedsApply(stamped, live ? *live : json())) continue;
    jobs.push_back({kind, child_name, live.has_value(), std::async(std::launch::async, [this, stamped = std::move(stamped)] {
                      return client_->Apply(stamped, kFieldManager);
                    })});
  }
  for (Job& job : jobs) {
    Result<json> applied = job.applied.get();
    const std::string object = job.kind + "/" + ns + "/" + job.name;
    if (!applied.ok()) {
      LogJson("error", "apply failed", {{"object", object}, {"error", applied.status().message()}});
      if (first_error.ok()) first_error = applied.status();
      if (job.existed && kube::IsInvalid(applied.status())) {
        // A hand edit that apply cannot merge away (e.g. a Service port another manager now owns
        // under the same name): replace the object; its DELETED event brings us back to create it.
        events_->Record(owner, "Warning", "Recreating",
                        job.kind + " " + job.name + " was edited in a way apply cannot revert; deleting it to recreate it: " +
                            applied.status().message());
        Status deleted = client_->Delete(CacheFor(job.kind)->kind(), ns, job.name);
        if (!deleted.ok() && !kube::IsNotFound(deleted)) first_error = deleted;
      }
      continue;
    }
    LogJson("info", job.existed ? "updated child" : "created child", {{"object", object}});
    if (!job.existed) created->push_back(job.kind + " " + job.name);
  }
  if (!first_error.ok()) return first_error;  // the rendered set is not in place: keep the rest for later

  std::vector<json> owned;
  for (const auto& [kind, child_name] : caches_.index->Children(uid)) {
    kube::Informer* cache = CacheFor(kind);
    std::optional<json> object = cache ? cache->Get(ns, child_name) : std::nullopt;
    if (!object || !ControlledBy(*object, uid)) continue;
    (*object)["kind"] = kind;
    owned.push_back(std::move(*object));
  }
  for (const json& orphan : Orphans(owned, rendered)) {
    const std::string orphan_name = orphan["metadata"]["name"];
    Status deleted = client_->Delete(CacheFor(orphan["kind"])->kind(), ns, orphan_name);
    if (!deleted.ok() && !kube::IsNotFound(deleted)) return deleted;
    LogJson("info", "deleted child render no longer produces", {{"object", ChildId(orphan)}, {"namespace", ns}});
    events_->Record(owner, "Normal", "Deleted", "deleted " + ChildId(orphan) + ", which the spec no longer asks for");
  }
  return Status::Ok();
}

ObservedChildren Reconciler::ObserveChildren(const api::LLMService& service) const {
  const std::string& ns = service.metadata.namespace_;
  const std::string& uid = service.metadata.uid;
  ObservedChildren out;
  auto owned = [&](kube::Informer* cache, const std::string& child_name) -> std::optional<json> {
    if (!cache) return std::nullopt;
    std::optional<json> object = cache->Get(ns, child_name);
    if (object && !ControlledBy(*object, uid)) return std::nullopt;
    return object;
  };
  const std::string main_name = ChildName(service.metadata.name);
  out.service = owned(caches_.services, main_name);
  out.ingress = owned(caches_.ingresses, main_name);
  if (service.spec.runtime.nodes > 1) {
    for (const auto& [kind, child_name] : caches_.index->Children(uid)) {
      if (kind != "StatefulSet") continue;
      if (std::optional<json> sts = owned(caches_.statefulsets, child_name)) out.statefulsets.push_back(std::move(*sts));
    }
  } else {
    out.deployment = owned(caches_.deployments, main_name);
  }
  for (const std::string& pod_name : caches_.index->Pods(ns, LabelValue(service.metadata.name))) {
    if (std::optional<json> pod = caches_.pods->Get(ns, pod_name)) out.pods.push_back(std::move(*pod));
  }
  return out;
}

void Reconciler::RecordTransitions(const json& owner, const api::LLMServiceStatus& before,
                                   const api::LLMServiceStatus& after) {
  auto state = [](const api::LLMServiceStatus& s, const char* type) {
    const api::Condition* c = FindCondition(s, type);
    return c ? std::make_pair(c->status, c->reason) : std::make_pair(std::string(), std::string());
  };
  const api::Condition* ready = FindCondition(after, kConditionReady);
  if (ready && ready->status == "True" && state(before, kConditionReady).first != "True") {
    events_->Record(owner, "Normal", "Ready", ready->message);
  }
  const api::Condition* degraded = FindCondition(after, kConditionDegraded);
  if (degraded && degraded->status == "True" &&
      state(before, kConditionDegraded) != std::make_pair(degraded->status, degraded->reason)) {
    events_->Record(owner, "Warning", degraded->reason, degraded->message);
  }
  if (degraded && degraded->status == "False" && state(before, kConditionDegraded).first == "True") {
    events_->Record(owner, "Normal", "Recovered", "no longer degraded");
  }
}

}  // namespace mixserve::controller
