#include "runtime/backend/cuda/kernel_timer.h"

#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>

namespace mixserve::cuda {

namespace {

std::set<std::string> NamesFromEnv(const char* var) {
  std::set<std::string> names;
  const char* v = std::getenv(var);
  std::stringstream in(v != nullptr ? v : "");
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) names.insert(item);
  }
  return names;
}

}  // namespace

int LaunchCopies(const char* name) {
  static const std::set<std::string> skip = NamesFromEnv("MIXSERVE_SKIP");
  static const std::set<std::string> twice = NamesFromEnv("MIXSERVE_TWICE");
  if (skip.empty() && twice.empty()) return 1;
  return skip.count(name) > 0 ? 0 : twice.count(name) > 0 ? 2 : 1;
}

KernelTimer* KernelTimer::Get() {
  static KernelTimer* timer = [] {
    const char* v = std::getenv("MIXSERVE_KERNEL_TIMES");
    return v != nullptr && v[0] == '1' ? new KernelTimer() : nullptr;
  }();
  return timer;
}

cudaEvent_t KernelTimer::Event(size_t i) {
  while (events_.size() <= i) {
    cudaEvent_t e = nullptr;
    cudaEventCreate(&e);
    events_.push_back(e);
  }
  return events_[i];
}

void KernelTimer::BeginStep(cudaStream_t stream, int rows) {
  stream_ = stream;
  rows_ = rows;
  names_.clear();
  active_ = true;
  cudaEventRecord(Event(0), stream_);
}

void KernelTimer::Mark(const char* name) {
  if (!active_) return;
  names_.emplace_back(name);
  cudaEventRecord(Event(names_.size()), stream_);
}

void KernelTimer::EndStep() {
  if (!active_) return;
  active_ = false;
  if (cudaStreamSynchronize(stream_) != cudaSuccess) return;
  PerRows& pr = stats_[rows_];
  ++pr.steps;
  for (size_t i = 0; i < names_.size(); ++i) {
    float ms = 0;
    if (cudaEventElapsedTime(&ms, Event(i), Event(i + 1)) != cudaSuccess) continue;
    auto [it, fresh] = pr.by_name.try_emplace(names_[i]);
    if (fresh) pr.order.push_back(names_[i]);
    it->second.us += ms * 1000.0;
    it->second.calls += 1;
  }
}

void KernelTimer::Print() const {
  for (const auto& [rows, pr] : stats_) {
    if (pr.steps < 3) continue;
    double total = 0;
    for (const auto& name : pr.order) total += pr.by_name.at(name).us;
    std::fprintf(stderr, "kernel times: %d rows, %ld steps (eager, an event after each launch): %.1f us/step\n", rows,
                 pr.steps, total / pr.steps);
    std::fprintf(stderr, "  %-16s %10s %10s %10s %7s\n", "kernel", "calls/step", "us/step", "us/call", "share");
    for (const auto& name : pr.order) {
      const Entry& e = pr.by_name.at(name);
      std::fprintf(stderr, "  %-16s %10.1f %10.1f %10.2f %6.1f%%\n", name.c_str(), static_cast<double>(e.calls) / pr.steps,
                   e.us / pr.steps, e.calls > 0 ? e.us / e.calls : 0.0, total > 0 ? 100.0 * e.us / total : 0.0);
    }
  }
}

}  // namespace mixserve::cuda
