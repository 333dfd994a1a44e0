#include "operator/kube/leader_election.h"

#include <cmath>
#include <thread>

#include "operator/kube/exec_credential.h"

namespace mixserve::kube {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

milliseconds Pick(milliseconds override_ms, std::chrono::seconds seconds) {
  return override_ms.count() > 0 ? override_ms : std::chrono::duration_cast<milliseconds>(seconds);
}

// Sleeps `d`, waking every 50 ms to check `stop`; returns false when stopped.
bool SleepUnless(milliseconds d, const std::function<bool()>& stop) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
    if (stop && stop()) return false;
    std::this_thread::sleep_for(std::min(milliseconds(50), std::chrono::duration_cast<milliseconds>(
                                                               until - std::chrono::steady_clock::now())));
  }
  return !(stop && stop());
}

// The access of `client`, with requests bounded by half the renew deadline (at least 1 s).
ClusterAccess LeaseAccess(const Client& client, const LeaderElectionConfig& config) {
  ClusterAccess access = client.access();
  const auto deadline = Pick(config.renew_deadline_ms, config.renew_deadline);
  access.request_timeout = std::max(milliseconds(1000), deadline / 2);
  return access;
}

}  // namespace

LeaderElector::LeaderElector(Client* client, LeaderElectionConfig config)
    : config_(std::move(config)), client_(LeaseAccess(*client, config_)) {}

std::string LeaderElector::observed_holder() const {
  std::lock_guard<std::mutex> lock(mu_);
  return observed_holder_;
}

LeaderElector::Attempt LeaderElector::TryAcquireOrRenew() {
  const auto now = std::chrono::system_clock::now();
  const auto lease_ms = Pick(config_.lease_duration_ms, config_.lease_duration);
  // The Lease stores whole seconds; round sub-second test durations up.
  const int64_t lease_seconds = std::max<int64_t>(1, (lease_ms.count() + 999) / 1000);
  const std::string now_text = FormatRfc3339Micro(now);

  auto current = client_.Get(kLeaseKind, config_.ns, config_.name);
  if (!current.ok()) {
    if (!IsNotFound(current.status())) return Attempt::kFailed;
    json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", config_.name}, {"namespace", config_.ns}}},
                  {"spec",
                   {{"holderIdentity", config_.identity},
                    {"leaseDurationSeconds", lease_seconds},
                    {"acquireTime", now_text},
                    {"renewTime", now_text},
                    {"leaseTransitions", 0}}}};
    auto created = client_.Create(kLeaseKind, config_.ns, lease);
    if (!created.ok()) return Attempt::kFailed;  // AlreadyExists: another candidate was first
    std::lock_guard<std::mutex> lock(mu_);
    observed_holder_ = config_.identity;
    return Attempt::kAcquired;
  }

  json lease = *current;
  json spec = lease.contains("spec") && lease["spec"].is_object() ? lease["spec"] : json::object();
  const std::string holder = spec.value("holderIdentity", "");
  {
    std::lock_guard<std::mutex> lock(mu_);
    observed_holder_ = holder;
  }
  if (!holder.empty() && holder != config_.identity) {
    const int64_t duration = spec.value("leaseDurationSeconds", int64_t{0});
    auto renewed = ParseRfc3339(spec.value("renewTime", ""));
    const bool expired = !renewed.ok() || *renewed + std::chrono::seconds(duration) < now;
    if (!expired) return Attempt::kHeldByOther;
  }
  if (holder != config_.identity) {
    spec["leaseTransitions"] = spec.value("leaseTransitions", int64_t{0}) + 1;
    spec["acquireTime"] = now_text;
  }
  spec["holderIdentity"] = config_.identity;
  spec["leaseDurationSeconds"] = lease_seconds;
  spec["renewTime"] = now_text;
  lease["spec"] = spec;
  // The update carries the resourceVersion read above: if another candidate wrote in between,
  // the API server answers 409 Conflict and this attempt fails.
  auto updated = client_.Update(kLeaseKind, config_.ns, lease);
  if (!updated.ok()) return Attempt::kFailed;
  std::lock_guard<std::mutex> lock(mu_);
  observed_holder_ = config_.identity;
  return Attempt::kAcquired;
}

void LeaderElector::Release() {
  auto current = client_.Get(kLeaseKind, config_.ns, config_.name);
  if (!current.ok()) return;
  json lease = *current;
  if (!lease.contains("spec") || lease["spec"].value("holderIdentity", "") != config_.identity) return;
  lease["spec"]["holderIdentity"] = "";
  lease["spec"]["leaseDurationSeconds"] = 1;
  lease["spec"]["renewTime"] = FormatRfc3339Micro(std::chrono::system_clock::now());
  client_.Update(kLeaseKind, config_.ns, lease);
}

void LeaderElector::Run(std::function<void()> on_started_leading, std::function<void()> on_stopped_leading,
                        std::function<bool()> stop) {
  const auto retry = Pick(config_.retry_period_ms, config_.retry_period);
  const auto renew_deadline = Pick(config_.renew_deadline_ms, config_.renew_deadline);
  while (true) {
    if (stop && stop()) return;
    if (TryAcquireOrRenew() == Attempt::kAcquired) break;
    if (!SleepUnless(retry, stop)) return;
  }
  leader_ = true;
  if (on_started_leading) on_started_leading();
  auto last_renew = std::chrono::steady_clock::now();
  bool stopped = false;
  while (true) {
    if (!SleepUnless(retry, stop)) {
      stopped = true;
      break;
    }
    const Attempt attempt = TryAcquireOrRenew();
    if (attempt == Attempt::kAcquired) {
      last_renew = std::chrono::steady_clock::now();
    } else if (attempt == Attempt::kHeldByOther) {
      break;  // someone else holds it: we lost it
    } else if (std::chrono::steady_clock::now() - last_renew > renew_deadline) {
      break;  // could not renew in time; others may take it once it expires
    }
  }
  leader_ = false;
  if (stopped && config_.release_on_cancel) Release();
  if (on_stopped_leading) on_stopped_leading();
}

}  // namespace mixserve::kube
