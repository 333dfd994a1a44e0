// LeaderElector: at most one operator replica reconciles, chosen through a coordination.k8s.io/v1
// Lease.
//
// A candidate takes the Lease when it does not exist, is held by nobody, or has expired
// (renewTime + leaseDurationSeconds < now); the leader renews it every retry_period and gives up
// leadership when it could not renew for renew_deadline. Every write is an update carrying the
// resourceVersion that was read, so when two candidates race the API server accepts one and
// answers the other 409 Conflict (it then retries after retry_period): two candidates never both
// win. leaderTransitions counts changes of holder. Lease requests go through a client of their own
// whose requests time out after half the renew deadline, so a hung API server cannot keep a
// leader believing it leads after its Lease expired; they are counted in counters(), not in the
// caller's client (so they do not show up as writes of the reconciler). On a clean stop the leader releases the Lease
// (empty holder, so a successor need not wait for expiry) when release_on_cancel is set.
//
//   kube::LeaderElector elector(&client, {.ns = "mixserve-system", .name = "mixserve-operator",
//                                          .identity = hostname});
//   elector.Run([&] { StartControllers(); }, [&] { std::exit(1); }, [&] { return stopping; });
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "operator/kube/client.h"

namespace mixserve::kube {

struct LeaderElectionConfig {
  std::string ns;
  std::string name;
  std::string identity;
  std::chrono::seconds lease_duration{15};
  std::chrono::seconds renew_deadline{10};
  std::chrono::seconds retry_period{2};
  // Sub-second overrides for tests (used instead of the seconds above when non-zero).
  std::chrono::milliseconds lease_duration_ms{0};
  std::chrono::milliseconds renew_deadline_ms{0};
  std::chrono::milliseconds retry_period_ms{0};
  bool release_on_cancel = true;
};

class LeaderElector {
 public:
  // Uses `client`'s cluster access (the client itself is not kept).
  LeaderElector(Client* client, LeaderElectionConfig config);

  // Blocks until `stop` returns true or leadership is lost after having been held. Calls
  // on_started_leading (on this thread, once; it must return promptly, e.g. start worker threads)
  // when the Lease is acquired and on_stopped_leading when leadership ends (lost or stopped).
  void Run(std::function<void()> on_started_leading, std::function<void()> on_stopped_leading,
           std::function<bool()> stop);

  bool IsLeader() const { return leader_.load(); }
  RequestCounters& counters() { return client_.counters(); }
  // The holder the elector last saw in the Lease (may be another candidate).
  std::string observed_holder() const;

 private:
  enum class Attempt { kAcquired, kHeldByOther, kFailed };
  Attempt TryAcquireOrRenew();
  void Release();

  LeaderElectionConfig config_;
  Client client_;
  std::atomic<bool> leader_{false};
  mutable std::mutex mu_;
  std::string observed_holder_;
};

}  // namespace mixserve::kube
