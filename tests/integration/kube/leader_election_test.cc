// LeaderElector against a real kube-apiserver with short test timings (lease 3 s, renew 2 s,
// retry 0.5 s): two candidates, exactly one leads; when the leader dies (stops renewing without
// releasing) the other takes over after the lease expires; a clean stop releases the Lease.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "operator/kube/leader_election.h"
#include "tests/integration/kube/test_cluster.h"

namespace mixserve::kube {
namespace {

using std::chrono::milliseconds;

// One candidate running LeaderElector::Run on its own thread.
class Candidate {
 public:
  Candidate(Client* client, const std::string& ns, const std::string& identity, bool release,
            std::atomic<int>* leaders, std::atomic<int>* max_leaders)
      : leaders_(leaders), max_leaders_(max_leaders) {
    LeaderElectionConfig config;
    config.ns = ns;
    config.name = "mixserve-operator";
    config.identity = identity;
    config.lease_duration_ms = milliseconds(3000);
    config.renew_deadline_ms = milliseconds(2000);
    config.retry_period_ms = milliseconds(500);
    config.release_on_cancel = release;
    elector_ = std::make_unique<LeaderElector>(client, config);
    thread_ = std::thread([this] {
      elector_->Run(
          [this] {
            const int now = ++*leaders_;
            int seen = max_leaders_->load();
            while (now > seen && !max_leaders_->compare_exchange_weak(seen, now)) {
            }
          },
          [this] { --*leaders_; }, [this] { return stop_.load(); });
      finished_ = true;
    });
  }
  ~Candidate() { Kill(); }

  // Ends Run: with release=false this is a crash as far as the Lease is concerned.
  void Kill() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  bool IsLeader() const { return elector_->IsLeader(); }
  bool finished() const { return finished_.load(); }

 private:
  std::atomic<int>* leaders_;
  std::atomic<int>* max_leaders_;
  std::unique_ptr<LeaderElector> elector_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  std::thread thread_;
};

using LeaderElectionTest = ClusterSuite;

nlohmann::json Lease(Client* client, const std::string& ns) {
  auto lease = client->Get(kLeaseKind, ns, "mixserve-operator");
  EXPECT_TRUE(lease.ok()) << lease.status().message();
  return lease.ok() ? (*lease)["spec"] : nlohmann::json::object();
}

TEST_F(LeaderElectionTest, OneLeaderAndFailoverWhenItDies) {
  const std::string ns = cluster_->NewNamespace("lease");
  auto client_a = cluster_->NewClient();
  auto client_b = cluster_->NewClient();
  std::atomic<int> leaders{0}, max_leaders{0};
  auto a = std::make_unique<Candidate>(client_a.get(), ns, "candidate-a", /*release=*/false, &leaders, &max_leaders);
  auto b = std::make_unique<Candidate>(client_b.get(), ns, "candidate-b", /*release=*/false, &leaders, &max_leaders);

  ASSERT_TRUE(Eventually([&] { return a->IsLeader() || b->IsLeader(); }, std::chrono::seconds(30)));
  // Several renew periods later there is still exactly one leader.
  std::this_thread::sleep_for(milliseconds(2500));
  EXPECT_NE(a->IsLeader(), b->IsLeader());
  Candidate* leader = a->IsLeader() ? a.get() : b.get();
  Candidate* follower = a->IsLeader() ? b.get() : a.get();
  const std::string leader_id = a->IsLeader() ? "candidate-a" : "candidate-b";
  const std::string follower_id = a->IsLeader() ? "candidate-b" : "candidate-a";
  auto spec = Lease(client_a.get(), ns);
  EXPECT_EQ(spec["holderIdentity"], leader_id);
  EXPECT_EQ(spec["leaseDurationSeconds"], 3);
  const int64_t transitions = spec.value("leaseTransitions", int64_t{0});

  leader->Kill();  // stops renewing, does not release
  EXPECT_TRUE(Eventually([&] { return follower->IsLeader(); }, std::chrono::seconds(20)))
      << "the follower takes over once the lease (3 s) expires";
  spec = Lease(client_a.get(), ns);
  EXPECT_EQ(spec["holderIdentity"], follower_id);
  EXPECT_EQ(spec.value("leaseTransitions", int64_t{0}), transitions + 1);
  EXPECT_EQ(max_leaders.load(), 1) << "two candidates never led at the same time";
  b.reset();
  a.reset();
}

TEST_F(LeaderElectionTest, CleanStopReleasesTheLease) {
  const std::string ns = cluster_->NewNamespace("release");
  auto client = cluster_->NewClient();
  std::atomic<int> leaders{0}, max_leaders{0};
  auto first = std::make_unique<Candidate>(client.get(), ns, "first", /*release=*/true, &leaders, &max_leaders);
  ASSERT_TRUE(Eventually([&] { return first->IsLeader(); }, std::chrono::seconds(30)));
  first->Kill();
  EXPECT_TRUE(first->finished());
  EXPECT_FALSE(first->IsLeader());
  EXPECT_EQ(leaders.load(), 0) << "on_stopped_leading ran";
  EXPECT_EQ(Lease(client.get(), ns)["holderIdentity"], "") << "released on a clean stop";

  auto second = std::make_unique<Candidate>(client.get(), ns, "second", /*release=*/true, &leaders, &max_leaders);
  EXPECT_TRUE(Eventually([&] { return second->IsLeader(); }, std::chrono::seconds(30)));
  EXPECT_EQ(Lease(client.get(), ns)["holderIdentity"], "second");
}

}  // namespace
}  // namespace mixserve::kube
