// Reconciler: makes one LLMService's children match render() and writes what it observed to status.
//
// Reconcile(key) reads the LLMService and its children from the informer caches (never from the API
// server, except the Secrets the spec names), so a resync of a converged object costs no request
// but those Secret reads and writes nothing:
//   1. gone or being deleted → nothing (the garbage collector follows the owner references);
//   2. checks the spec cannot express (checks.h): invalid → Degraded/InvalidSpec, a missing Secret →
//      Degraded/MissingSecret, and no children are touched; too many GPUs per node → rendered, but
//      Degraded/InsufficientGPUs until the scheduler's message replaces it;
//   3. server-side applies each rendered child whose live copy differs (apply_plan.h) and deletes
//      owned children render no longer produces (an Ingress switched off, fewer replica groups);
//   4. Observe() → the status subresource, only when it changed; Events on transitions (children
//      created, Ready, Degraded).
// Thread-safe for distinct keys (the workqueue never hands one key to two workers).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "operator/api/llmservice.h"
#include "operator/controller/observe.h"
#include "operator/controller/owner_index.h"
#include "operator/controller/render.h"
#include "operator/kube/client.h"
#include "operator/kube/events.h"
#include "operator/kube/informer.h"
#include "runtime/base/status.h"

namespace mixserve::controller {

inline constexpr char kFieldManager[] = "mixserve-operator";

// The caches Reconcile reads; all must outlive the Reconciler. Children caches hold the objects
// labelled app.kubernetes.io/managed-by=mixserve-operator.
struct Caches {
  kube::Informer* llmservices = nullptr;
  kube::Informer* deployments = nullptr;
  kube::Informer* statefulsets = nullptr;
  kube::Informer* services = nullptr;
  kube::Informer* ingresses = nullptr;
  kube::Informer* pdbs = nullptr;
  kube::Informer* pods = nullptr;
  kube::Informer* nodes = nullptr;
  const OwnerIndex* index = nullptr;  // children and pods of each LLMService in those caches
};

class Reconciler {
 public:
  struct Outcome {
    Status status;                                         // not ok: requeue with backoff
    std::optional<std::chrono::milliseconds> requeue_after;  // look again later (e.g. waiting for a Secret)
  };

  // `client`, `events` and the caches must outlive the Reconciler.
  Reconciler(kube::Client* client, kube::EventRecorder* events, Caches caches, RenderOptions options);

  Outcome Reconcile(const std::string& key);

 private:
  kube::Informer* CacheFor(const std::string& kind) const;
  Findings Check(const api::LLMService& service, Status* error);
  // Applies what differs and deletes orphans; returns the kinds/names created (for an Event).
  Status SyncChildren(const nlohmann::json& owner, const api::LLMService& service,
                      const std::vector<nlohmann::json>& rendered, std::vector<std::string>* created);
  ObservedChildren ObserveChildren(const api::LLMService& service) const;
  void RecordTransitions(const nlohmann::json& owner, const api::LLMServiceStatus& before,
                         const api::LLMServiceStatus& after);

  kube::Client* client_;
  kube::EventRecorder* events_;
  Caches caches_;
  RenderOptions options_;
};

}  // namespace mixserve::controller
