// Metrics: the server's counters and latency histograms, rendered in the Prometheus text format
// under vLLM's metric names (so vLLM dashboards work unchanged) plus mixserve: names for the rest.
// Every series carries a model_name label. Thread-safe: requests record from any thread while
// /metrics renders.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/engine/engine.h"

namespace mixserve::server {

// A cumulative histogram with fixed upper bounds (seconds).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  // Appends the _bucket, _sum and _count lines of `name` with `labels` ("k=\"v\"").
  void Render(const std::string& name, const std::string& labels, std::string& out) const;

 private:
  mutable std::mutex mu_;
  std::vector<double> bounds_;
  std::vector<int64_t> counts_;  // per bucket, not cumulative; one more for +Inf
  double sum_ = 0.0;
  int64_t count_ = 0;
};

class ServerMetrics {
 public:
  explicit ServerMetrics(std::string model_name);

  // A finished generation (one choice): latencies in seconds, reason "stop"/"length"/"abort".
  void RecordRequest(double ttft_s, double e2e_s, int64_t completion_tokens, const std::string& finish_reason);
  // An HTTP response, by status code.
  void RecordHttp(int status);

  // The whole exposition: engine gauges and counters, then the server's.
  std::string Render(const EngineStats& engine, int64_t num_kv_blocks) const;

 private:
  std::string model_name_;
  std::string labels_;
  Histogram ttft_;
  Histogram tpot_;
  Histogram e2e_;
  mutable std::mutex mu_;
  std::map<std::string, int64_t> finished_by_reason_;
  std::map<int, int64_t> http_by_status_;
};

}  // namespace mixserve::server
