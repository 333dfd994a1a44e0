// WorkQueue: deduplication, one worker per key, delayed and rate-limited adds, shutdown, metrics.
// No test asserts how long something took; waits are "eventually, within a generous bound".
#include "operator/kube/workqueue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <set>
#include <thread>
#include <vector>

namespace mixserve::kube {
namespace {

using std::chrono::milliseconds;

constexpr auto kEventually = std::chrono::seconds(20);

// Get() on another thread, so a test can bound how long it waits for a key.
std::future<std::pair<bool, std::string>> GetAsync(WorkQueue* q) {
  return std::async(std::launch::async, [q] {
    std::string key;
    bool ok = q->Get(&key);
    return std::make_pair(ok, key);
  });
}

TEST(WorkQueue, DeduplicatesQueuedKeys) {
  WorkQueue q;
  q.Add("ns/a");
  q.Add("ns/b");
  q.Add("ns/a");
  EXPECT_EQ(q.Len(), 2u);
  std::string key;
  ASSERT_TRUE(q.Get(&key));
  EXPECT_EQ(key, "ns/a");
  ASSERT_TRUE(q.Get(&key));
  EXPECT_EQ(key, "ns/b");
  EXPECT_EQ(q.Len(), 0u);
  EXPECT_EQ(q.metrics().adds_total, 3);
}

TEST(WorkQueue, KeyBeingProcessedIsHeldBackUntilDone) {
  WorkQueue q;
  q.Add("k");
  std::string key;
  ASSERT_TRUE(q.Get(&key));
  q.Add("k");
  q.Add("k");
  EXPECT_EQ(q.Len(), 0u) << "a key in flight must not be handed to a second worker";
  q.Done("k");
  EXPECT_EQ(q.Len(), 1u) << "the add during processing is kept for after Done";
  ASSERT_TRUE(q.Get(&key));
  EXPECT_EQ(key, "k");
  q.Done("k");
  EXPECT_EQ(q.Len(), 0u);
}

TEST(WorkQueue, ConcurrentWorkersNeverShareAKey) {
  WorkQueue q;
  std::mutex mu;
  std::set<std::string> in_flight;
  std::atomic<bool> overlap{false};
  std::atomic<int> processed{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      std::string key;
      while (q.Get(&key)) {
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!in_flight.insert(key).second) overlap = true;
        }
        std::this_thread::yield();
        {
          std::lock_guard<std::mutex> lock(mu);
          in_flight.erase(key);
        }
        ++processed;
        q.Done(key);
      }
    });
  }
  for (int i = 0; i < 2000; ++i) q.Add("key-" + std::to_string(i % 7));
  // Eventually the queue drains: nothing queued and nothing in flight.
  const auto deadline = std::chrono::steady_clock::now() + kEventually;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (q.Len() == 0 && in_flight.empty() && processed > 0) break;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  q.ShutDown();
  for (auto& t : workers) t.join();
  EXPECT_FALSE(overlap.load());
  EXPECT_GE(processed.load(), 7);
  EXPECT_LE(processed.load(), 2000) << "deduplication merges adds of queued keys";
  EXPECT_EQ(q.metrics().latency_count, processed.load());
}

TEST(WorkQueue, AddAfterDeliversLater) {
  WorkQueue q;
  q.AddAfter("later", std::chrono::hours(1));
  q.AddAfter("soon", milliseconds(20));
  auto got = GetAsync(&q);
  ASSERT_EQ(got.wait_for(kEventually), std::future_status::ready);
  auto [ok, key] = got.get();
  EXPECT_TRUE(ok);
  EXPECT_EQ(key, "soon");
  EXPECT_EQ(q.Len(), 0u) << "the key delayed by an hour is not ready";
}

TEST(WorkQueue, AddAfterKeepsTheEarliestTime) {
  WorkQueue q;
  q.AddAfter("k", std::chrono::hours(1));
  q.AddAfter("k", milliseconds(10));  // earlier: replaces the hour
  q.AddAfter("j", milliseconds(10));
  q.AddAfter("j", std::chrono::hours(1));  // later: ignored
  std::set<std::string> keys;
  for (int i = 0; i < 2; ++i) {
    auto got = GetAsync(&q);
    ASSERT_EQ(got.wait_for(kEventually), std::future_status::ready);
    keys.insert(got.get().second);
  }
  EXPECT_EQ(keys, (std::set<std::string>{"j", "k"}));
}

TEST(WorkQueue, RateLimitedBackoffDoublesAndForgetResets) {
  WorkQueue q(milliseconds(5), milliseconds(1000));
  EXPECT_EQ(q.NextBackoff("k"), milliseconds(5));
  std::vector<milliseconds> delays;
  for (int i = 0; i < 10; ++i) {
    delays.push_back(q.NextBackoff("k"));
    q.AddRateLimited("k");
  }
  EXPECT_EQ(delays[0], milliseconds(5));
  EXPECT_EQ(delays[1], milliseconds(10));
  EXPECT_EQ(delays[2], milliseconds(20));
  EXPECT_EQ(delays[7], milliseconds(640));
  EXPECT_EQ(delays[8], milliseconds(1000)) << "capped at max_delay";
  EXPECT_EQ(q.NumRequeues("k"), 10);
  EXPECT_EQ(q.NextBackoff("other"), milliseconds(5)) << "backoff is per key";
  q.Forget("k");
  EXPECT_EQ(q.NumRequeues("k"), 0);
  EXPECT_EQ(q.NextBackoff("k"), milliseconds(5));
  EXPECT_EQ(q.metrics().retries_total, 10);
  // The rate-limited key is delivered once (deduplicated), eventually.
  auto got = GetAsync(&q);
  ASSERT_EQ(got.wait_for(kEventually), std::future_status::ready);
  EXPECT_EQ(got.get().second, "k");
}

TEST(WorkQueue, HugeFailureCountsDoNotOverflow) {
  WorkQueue q(milliseconds(5), std::chrono::seconds(1000));
  for (int i = 0; i < 200; ++i) q.AddRateLimited("k");
  EXPECT_EQ(q.NextBackoff("k"), std::chrono::seconds(1000));
}

TEST(WorkQueue, ShutDownWakesWaitingWorkers) {
  WorkQueue q;
  auto got = GetAsync(&q);
  q.ShutDown();
  ASSERT_EQ(got.wait_for(kEventually), std::future_status::ready);
  EXPECT_FALSE(got.get().first);
  q.Add("ignored");
  std::string key;
  EXPECT_FALSE(q.Get(&key));
  EXPECT_TRUE(q.ShuttingDown());
}

TEST(WorkQueue, MetricsCountAddsDepthAndLatency) {
  WorkQueue q;
  q.Add("a");
  q.Add("b");
  q.Add("a");
  auto m = q.metrics();
  EXPECT_EQ(m.depth, 2);
  EXPECT_EQ(m.adds_total, 3);
  EXPECT_EQ(m.latency_count, 0);
  std::string key;
  ASSERT_TRUE(q.Get(&key));
  m = q.metrics();
  EXPECT_EQ(m.depth, 1);
  EXPECT_EQ(m.latency_count, 1);
  EXPECT_GE(m.latency_sum_seconds, 0.0);
  ASSERT_FALSE(m.latency_buckets.empty());
  EXPECT_EQ(m.latency_buckets.back().second, 1) << "the last bucket (60 s) holds the observation";
  for (size_t i = 1; i < m.latency_buckets.size(); ++i) {
    EXPECT_LT(m.latency_buckets[i - 1].first, m.latency_buckets[i].first);
    EXPECT_LE(m.latency_buckets[i - 1].second, m.latency_buckets[i].second) << "buckets are cumulative";
  }
}

}  // namespace
}  // namespace mixserve::kube
