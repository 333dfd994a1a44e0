#include "operator/controller/controller.h"

#include <malloc.h>

#include <utility>

#include "operator/controller/cache_trim.h"
#include "operator/controller/log.h"
#include "operator/controller/names.h"

namespace mixserve::controller {
namespace {

using nlohmann::json;

std::string ManagedSelector() { return std::string(kLabelManagedBy) + "=" + kFieldManager; }

}  // namespace

Controller::Controller(kube::Client* client, ControllerOptions options)
    : client_(client), options_(std::move(options)), events_(client, kFieldManager) {
  auto add = [&](const kube::ResourceKind& kind, const std::string& ns, const std::string& selector) {
    informers_.push_back(std::make_unique<kube::Informer>(client_, kind, ns, selector));
    informers_.back()->SetTransform([kind = kind.kind](json& object) { TrimForCache(kind, object); });
    return informers_.back().get();
  };
  const std::string& ns = options_.ns;
  caches_.llmservices = add(kube::kLLMServiceKind, ns, "");
  caches_.deployments = add(kube::kDeploymentKind, ns, ManagedSelector());
  caches_.statefulsets = add(kube::kStatefulSetKind, ns, ManagedSelector());
  caches_.services = add(kube::kServiceKind, ns, ManagedSelector());
  caches_.ingresses = add(kube::kIngressKind, ns, ManagedSelector());
  caches_.pdbs = add(kube::kPodDisruptionBudgetKind, ns, ManagedSelector());
  caches_.pods = add(kube::kPodKind, ns, ManagedSelector());
  caches_.nodes = add(kube::kNodeKind, "", "");

  caches_.llmservices->AddHandler([this](const std::string& type, const json& obj) { OnLLMService(type, obj); });
  for (kube::Informer* child : {caches_.deployments, caches_.statefulsets, caches_.services, caches_.ingresses, caches_.pdbs}) {
    child->AddHandler([this, kind = child->kind().kind](const std::string& type, const json& obj) {
      index_.Update(type, kind, obj);
      EnqueueController(obj);
    });
  }
  caches_.pods->AddHandler([this](const std::string& type, const json& obj) {
    index_.Update(type, "Pod", obj);
    EnqueuePodOwner(obj);
  });
  caches_.index = &index_;
  reconciler_ = std::make_unique<Reconciler>(client_, &events_, caches_, options_.render);
}

Controller::~Controller() { Stop(); }

void Controller::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return;
  started_ = true;
  for (auto& informer : informers_) informer->Start();
  runner_ = std::thread([this] { Run(); });
}

void Controller::Run() {
  for (auto& informer : informers_) {
    while (!stopping_ && !informer->WaitForSync(std::chrono::milliseconds(200))) {
    }
  }
  if (stopping_) return;
  LogJson("info", "caches synced, starting workers", {{"workers", options_.workers}});
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { Worker(); });
  }
  ResyncLoop();
}

void Controller::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_ || stopping_) return;
    stopping_ = true;
  }
  stop_cv_.notify_all();
  queue_.ShutDown();
  if (runner_.joinable()) runner_.join();
  for (std::thread& worker : workers_) worker.join();
  for (auto& informer : informers_) informer->Stop();
}

bool Controller::Synced() const {
  for (const auto& informer : informers_) {
    if (!informer->HasSynced()) return false;
  }
  return true;
}

void Controller::ResyncLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (stop_cv_.wait_for(lock, options_.resync_period, [this] { return stopping_.load(); })) break;
    lock.unlock();
    for (const json& service : caches_.llmservices->List()) queue_.Add(kube::ObjectKey(service));
    // Bursts of watch events (hundreds of new objects) leave freed heap pages behind; hand them back.
    malloc_trim(0);
    lock.lock();
  }
}

void Controller::Worker() {
  std::string key;
  while (queue_.Get(&key)) {
    const auto t0 = std::chrono::steady_clock::now();
    Reconciler::Outcome outcome = reconciler_->Reconcile(key);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!outcome.status.ok()) {
      reconcile_metrics_.Record("error", seconds);
      LogJson("error", "reconcile failed, will retry", {{"key", key}, {"error", outcome.status.message()},
                                                         {"retries", queue_.NumRequeues(key)}});
      queue_.AddRateLimited(key);
    } else {
      queue_.Forget(key);
      if (outcome.requeue_after) {
        reconcile_metrics_.Record("requeue", seconds);
        queue_.AddAfter(key, *outcome.requeue_after);
      } else {
        reconcile_metrics_.Record("success", seconds);
      }
    }
    queue_.Done(key);
  }
}

void Controller::OnLLMService(const std::string& type, const json& object) {
  const std::string key = kube::ObjectKey(object);
  const json& meta = object["metadata"];
  const std::string label_key = meta.value("namespace", "") + "/" + LabelValue(meta.value("name", ""));
  {
    std::lock_guard<std::mutex> lock(labels_mu_);
    if (type == "DELETED") {
      key_by_label_.erase(label_key);
    } else {
      key_by_label_[label_key] = key;
    }
  }
  if (type != "DELETED") queue_.Add(key);
}

void Controller::EnqueueController(const json& child) {
  const json& meta = child["metadata"];
  for (const json& ref : meta.value("ownerReferences", json::array())) {
    if (ref.value("kind", "") == api::kKind && ref.value("controller", false)) {
      queue_.Add(kube::ObjectKey(meta.value("namespace", ""), ref.value("name", "")));
    }
  }
}

void Controller::EnqueuePodOwner(const json& pod) {
  const json& meta = pod["metadata"];
  const std::string label = meta.value("labels", json::object()).value(kLabelService, "");
  if (label.empty()) return;
  std::string key;
  {
    std::lock_guard<std::mutex> lock(labels_mu_);
    auto it = key_by_label_.find(meta.value("namespace", "") + "/" + label);
    if (it == key_by_label_.end()) return;
    key = it->second;
  }
  queue_.Add(key);
}

std::string Controller::MetricsText() const {
  std::string out = reconcile_metrics_.PrometheusText();
  const kube::WorkQueue::Metrics q = queue_.metrics();
  out += MetricHeader("mixserve_operator_workqueue_depth", "gauge", "Keys waiting in the workqueue.");
  out += MetricSample("mixserve_operator_workqueue_depth", {}, double(q.depth));
  out += MetricHeader("mixserve_operator_workqueue_adds_total", "counter", "Keys added to the workqueue.");
  out += MetricSample("mixserve_operator_workqueue_adds_total", {}, double(q.adds_total));
  out += MetricHeader("mixserve_operator_workqueue_retries_total", "counter", "Keys requeued with backoff after a failure.");
  out += MetricSample("mixserve_operator_workqueue_retries_total", {}, double(q.retries_total));
  out += MetricHeader("mixserve_operator_workqueue_latency_seconds", "histogram", "Time a key waited in the workqueue.");
  out += HistogramSamples("mixserve_operator_workqueue_latency_seconds", {}, q.latency_buckets, q.latency_sum_seconds,
                          q.latency_count);

  kube::RequestCounters& counters = client_->counters();
  out += MetricHeader("mixserve_operator_api_requests_total", "counter", "Kubernetes API requests by verb and HTTP code.");
  out += counters.PrometheusLines("mixserve_operator_api_requests_total");
  out += MetricHeader("mixserve_operator_api_writes_total", "counter", "Kubernetes API writes (POST, PUT, PATCH, DELETE).");
  out += MetricSample("mixserve_operator_api_writes_total", {}, double(counters.writes()));
  out += MetricHeader("mixserve_operator_informer_lists_total", "counter", "Lists done by each informer (relists after 410 included).");
  for (const auto& informer : informers_) {
    out += MetricSample("mixserve_operator_informer_lists_total", {{"resource", informer->kind().resource}},
                        double(informer->relists()));
  }
  return out;
}

}  // namespace mixserve::controller
