#include "operator/kube/workqueue.h"

#include <algorithm>
#include <cmath>

namespace mixserve::kube {
namespace {

// Upper bounds (seconds) of the queue latency histogram buckets.
constexpr double kLatencyBounds[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60};

}  // namespace

WorkQueue::WorkQueue(std::chrono::milliseconds base_delay, std::chrono::milliseconds max_delay)
    : base_delay_(base_delay), max_delay_(max_delay), latency_bucket_counts_(std::size(kLatencyBounds), 0) {
  delay_thread_ = std::thread([this] { DelayLoop(); });
}

WorkQueue::~WorkQueue() { ShutDown(); }

void WorkQueue::AddLocked(const std::string& key) {
  if (shutting_down_) return;
  ++adds_total_;
  if (!dirty_.insert(key).second) return;  // already queued (or pending after Done)
  added_at_[key] = Clock::now();
  if (processing_.count(key)) return;  // Done() queues it again
  queue_.push_back(key);
  cv_.notify_one();
}

void WorkQueue::Add(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  AddLocked(key);
}

void WorkQueue::AddAfter(const std::string& key, std::chrono::milliseconds delay) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shutting_down_) return;
  if (delay.count() <= 0) {
    AddLocked(key);
    return;
  }
  const auto ready = Clock::now() + delay;
  // A key waits once, for the earliest time it was asked for.
  auto known = waiting_since_.find(key);
  if (known != waiting_since_.end()) {
    if (known->second <= ready) return;
    auto [first, last] = waiting_.equal_range(known->second);
    for (auto it = first; it != last; ++it) {
      if (it->second == key) {
        waiting_.erase(it);
        break;
      }
    }
  }
  waiting_.emplace(ready, key);
  waiting_since_[key] = ready;
  delay_cv_.notify_one();
}

std::chrono::milliseconds WorkQueue::BackoffFor(int failures) const {
  // base * 2^failures, computed in double so a large exponent cannot overflow.
  const double ms = static_cast<double>(base_delay_.count()) * std::pow(2.0, std::min(failures, 62));
  return ms >= static_cast<double>(max_delay_.count()) ? max_delay_
                                                       : std::chrono::milliseconds(static_cast<int64_t>(ms));
}

void WorkQueue::AddRateLimited(const std::string& key) {
  std::chrono::milliseconds delay;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++retries_total_;
    delay = BackoffFor(failures_[key]++);
  }
  AddAfter(key, delay);
}

std::chrono::milliseconds WorkQueue::NextBackoff(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = failures_.find(key);
  return BackoffFor(it == failures_.end() ? 0 : it->second);
}

void WorkQueue::Forget(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  failures_.erase(key);
}

int WorkQueue::NumRequeues(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

bool WorkQueue::Get(std::string* key) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return shutting_down_ || !queue_.empty(); });
  if (shutting_down_) return false;
  *key = queue_.front();
  queue_.pop_front();
  processing_.insert(*key);
  dirty_.erase(*key);
  auto added = added_at_.find(*key);
  if (added != added_at_.end()) {
    const double seconds = std::chrono::duration<double>(Clock::now() - added->second).count();
    added_at_.erase(added);
    ++latency_count_;
    latency_sum_seconds_ += seconds;
    for (size_t i = 0; i < std::size(kLatencyBounds); ++i) {
      if (seconds <= kLatencyBounds[i]) ++latency_bucket_counts_[i];
    }
  }
  return true;
}

void WorkQueue::Done(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  processing_.erase(key);
  if (dirty_.count(key) && !shutting_down_) {
    queue_.push_back(key);
    cv_.notify_one();
  }
}

void WorkQueue::ShutDown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutting_down_ = true;
  }
  cv_.notify_all();
  delay_cv_.notify_all();
  if (delay_thread_.joinable() && delay_thread_.get_id() != std::this_thread::get_id()) delay_thread_.join();
}

bool WorkQueue::ShuttingDown() const {
  std::lock_guard<std::mutex> lock(mu_);
  return shutting_down_;
}

size_t WorkQueue::Len() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

WorkQueue::Metrics WorkQueue::metrics() const {
  std::lock_guard<std::mutex> lock(mu_);
  Metrics m;
  m.depth = static_cast<int64_t>(queue_.size());
  m.adds_total = adds_total_;
  m.retries_total = retries_total_;
  m.latency_count = latency_count_;
  m.latency_sum_seconds = latency_sum_seconds_;
  for (size_t i = 0; i < std::size(kLatencyBounds); ++i) {
    m.latency_buckets.emplace_back(kLatencyBounds[i], latency_bucket_counts_[i]);
  }
  return m;
}

void WorkQueue::DelayLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!shutting_down_) {
    if (waiting_.empty()) {
      delay_cv_.wait(lock);
      continue;
    }
    const auto next = waiting_.begin()->first;
    if (Clock::now() < next) {
      delay_cv_.wait_until(lock, next);
      continue;
    }
    const std::string key = waiting_.begin()->second;
    waiting_.erase(waiting_.begin());
    waiting_since_.erase(key);
    AddLocked(key);
  }
}

}  // namespace mixserve::kube
