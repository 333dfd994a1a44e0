// WorkQueue: the keys ("namespace/name") of objects that need reconciling, for N worker threads.
//
// Semantics follow client-go's rate-limited workqueue:
//   - a key is queued at most once however often it is added (deduplication);
//   - a key handed out by Get() is "processing" until Done(): it is never given to a second worker
//     at the same time, and an Add() meanwhile is remembered and queued again at Done();
//   - AddAfter() queues a key after a delay; AddRateLimited() after the key's own backoff,
//     base_delay * 2^failures capped at max_delay (5 ms .. 1000 s by default); Forget() resets it;
//   - ShutDown() wakes all Get() callers, which then return false at once (keys still queued are
//     dropped), so workers stop promptly.
// Metrics: depth (Len), adds_total, and the queue latency (Add to Get) of every key handed out.
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace mixserve::kube {

class WorkQueue {
 public:
  using Clock = std::chrono::steady_clock;

  explicit WorkQueue(std::chrono::milliseconds base_delay = std::chrono::milliseconds(5),
                     std::chrono::milliseconds max_delay = std::chrono::seconds(1000));
  ~WorkQueue();  // ShutDown()s

  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void Add(const std::string& key);
  void AddAfter(const std::string& key, std::chrono::milliseconds delay);
  void AddRateLimited(const std::string& key);
  void Forget(const std::string& key);
  // How many times AddRateLimited was called for `key` since the last Forget.
  int NumRequeues(const std::string& key) const;
  // The delay the next AddRateLimited(key) would use.
  std::chrono::milliseconds NextBackoff(const std::string& key) const;

  // Blocks until a key is ready or the queue shuts down; false after ShutDown.
  bool Get(std::string* key);
  // REQUIRES: `key` came from Get() and Done(key) was not called for it yet.
  void Done(const std::string& key);
  void ShutDown();
  bool ShuttingDown() const;

  // Keys queued and ready (not processing, not waiting for their delay).
  size_t Len() const;

  struct Metrics {
    int64_t depth = 0;
    int64_t adds_total = 0;
    int64_t retries_total = 0;  // AddRateLimited calls
    int64_t latency_count = 0;  // keys handed out by Get
    double latency_sum_seconds = 0;
    // Cumulative counts of latencies <= each bucket bound, for a Prometheus histogram.
    std::vector<std::pair<double, int64_t>> latency_buckets;
  };
  Metrics metrics() const;

 private:
  void AddLocked(const std::string& key);
  std::chrono::milliseconds BackoffFor(int failures) const;
  void DelayLoop();

  const std::chrono::milliseconds base_delay_, max_delay_;
  mutable std::mutex mu_;
  std::condition_variable cv_;        // Get waiters
  std::condition_variable delay_cv_;  // the delay thread
  std::deque<std::string> queue_;
  std::set<std::string> dirty_;       // queued or to be queued at Done
  std::set<std::string> processing_;
  std::map<std::string, Clock::time_point> added_at_;
  std::multimap<Clock::time_point, std::string> waiting_;  // AddAfter, by ready time
  std::map<std::string, Clock::time_point> waiting_since_;  // key -> its entry's time in waiting_
  std::map<std::string, int> failures_;
  bool shutting_down_ = false;

  int64_t adds_total_ = 0;
  int64_t retries_total_ = 0;
  int64_t latency_count_ = 0;
  double latency_sum_seconds_ = 0;
  std::vector<int64_t> latency_bucket_counts_;

  std::thread delay_thread_;
};

}  // namespace mixserve::kube
