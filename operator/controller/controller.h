// Controller: the informers, workqueue and worker threads that drive the Reconciler.
//
// Watches LLMServices and the objects the operator manages (Deployments, StatefulSets, Services,
// Ingresses, PodDisruptionBudgets and Pods labelled app.kubernetes.io/managed-by=mixserve-operator,
// plus Nodes for their GPU capacity). An event on an LLMService queues its key; an event on a child
// queues the LLMService that controls it (owner reference; pods by their mixserve.io/llmservice
// label). Every resync period all LLMServices are queued again, which writes nothing when they
// have converged. N workers take keys from the queue; a failed reconcile is retried with per-key
// exponential backoff.
//
//   Controller controller(&client, {.ns = "", .workers = 2});
//   controller.Start();        // returns at once; Synced() turns true when the caches are filled
//   ...
//   controller.Stop();
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "operator/controller/metrics.h"
#include "operator/controller/owner_index.h"
#include "operator/controller/reconciler.h"
#include "operator/controller/render.h"
#include "operator/kube/client.h"
#include "operator/kube/events.h"
#include "operator/kube/informer.h"
#include "operator/kube/workqueue.h"

namespace mixserve::controller {

struct ControllerOptions {
  std::string ns;  // empty: all namespaces
  int workers = 2;
  std::chrono::milliseconds resync_period{30000};
  RenderOptions render;
};

class Controller {
 public:
  // `client` must outlive the controller.
  Controller(kube::Client* client, ControllerOptions options);
  ~Controller();  // Stop()s

  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Starts the informers, then (on a thread of its own, once they have synced) the workers and the
  // resync timer. Returns at once.
  void Start();
  // Stops the workers, the timer and the informers; returns within a few seconds. Idempotent.
  void Stop();

  // Whether every informer has done its first list.
  bool Synced() const;

  // Prometheus text: reconciles, the workqueue, API requests by verb and code, informer relists.
  std::string MetricsText() const;

 private:
  void Run();
  void Worker();
  void ResyncLoop();
  void OnLLMService(const std::string& type, const nlohmann::json& object);
  void EnqueueController(const nlohmann::json& child);
  void EnqueuePodOwner(const nlohmann::json& pod);

  kube::Client* client_;
  const ControllerOptions options_;
  kube::EventRecorder events_;
  kube::WorkQueue queue_;
  ReconcileMetrics reconcile_metrics_;

  std::vector<std::unique_ptr<kube::Informer>> informers_;
  Caches caches_;
  OwnerIndex index_;
  std::unique_ptr<Reconciler> reconciler_;

  std::mutex labels_mu_;
  std::map<std::string, std::string> key_by_label_;  // "ns/<mixserve.io/llmservice label>" -> "ns/name"

  std::mutex mu_;
  std::condition_variable stop_cv_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;
  std::thread runner_;
  std::vector<std::thread> workers_;
};

}  // namespace mixserve::controller
