// Reconcile metrics and the Prometheus text format they are served in.
//
// ReconcileMetrics counts reconciles by result (success, error, requeue) and keeps their duration
// histogram per result; the controller adds the workqueue's and the API client's figures when it
// serves /metrics. Only the text exposition format (version 0.0.4) is produced: HELP and TYPE
// lines, then samples with labels sorted as given. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace mixserve::controller {

// `# HELP name help` and `# TYPE name type`.
std::string MetricHeader(const std::string& name, const std::string& type, const std::string& help);

// One sample line: `name{k="v",...} value`; `labels` may be empty.
std::string MetricSample(const std::string& name, const std::vector<std::pair<std::string, std::string>>& labels,
                         double value);

// The sample lines of one histogram: `name_bucket{...,le="b"}` per bound (cumulative counts), then
// le="+Inf", `name_sum` and `name_count`.
std::string HistogramSamples(const std::string& name, const std::vector<std::pair<std::string, std::string>>& labels,
                             const std::vector<std::pair<double, int64_t>>& cumulative_buckets, double sum, int64_t count);

class ReconcileMetrics {
 public:
  // Bucket bounds in seconds, from 1 ms to 60 s.
  static const std::vector<double>& Bounds();

  void Record(const std::string& result, double seconds);

  int64_t Count(const std::string& result) const;
  // HELP/TYPE and samples of mixserve_operator_reconcile_total, _reconcile_errors_total and
  // _reconcile_duration_seconds.
  std::string PrometheusText() const;

 private:
  struct PerResult {
    int64_t count = 0;
    double sum = 0;
    std::vector<int64_t> buckets;  // non-cumulative, one per bound
  };
  mutable std::mutex mu_;
  std::map<std::string, PerResult> results_;
};

}  // namespace mixserve::controller
