#include "operator/controller/metrics.h"

#include "runtime/base/prometheus.h"

namespace mixserve::controller {
namespace {

using prometheus::Number;
const auto& Escape = prometheus::EscapeLabelValue;

}  // namespace

std::string MetricHeader(const std::string& name, const std::string& type, const std::string& help) {
  return "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

std::string MetricSample(const std::string& name, const std::vector<std::pair<std::string, std::string>>& labels,
                         double value) {
  std::string out = name;
  if (!labels.empty()) {
    out += "{";
    for (size_t i = 0; i < labels.size(); ++i) {
      out += (i ? "," : "") + labels[i].first + "=\"" + Escape(labels[i].second) + "\"";
    }
    out += "}";
  }
  return out + " " + Number(value) + "\n";
}

std::string HistogramSamples(const std::string& name, const std::vector<std::pair<std::string, std::string>>& labels,
                             const std::vector<std::pair<double, int64_t>>& cumulative_buckets, double sum, int64_t count) {
  std::string out;
  for (const auto& [bound, n] : cumulative_buckets) {
    auto with_le = labels;
    with_le.emplace_back("le", Number(bound));
    out += MetricSample(name + "_bucket", with_le, double(n));
  }
  auto inf = labels;
  inf.emplace_back("le", "+Inf");
  out += MetricSample(name + "_bucket", inf, double(count));
  out += MetricSample(name + "_sum", labels, sum);
  out += MetricSample(name + "_count", labels, double(count));
  return out;
}

const std::vector<double>& ReconcileMetrics::Bounds() {
  static const std::vector<double> bounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                             0.5,   1,      2.5,   5,    10,    30,   60};
  return bounds;
}

void ReconcileMetrics::Record(const std::string& result, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  PerResult& r = results_[result];
  if (r.buckets.empty()) r.buckets.assign(Bounds().size(), 0);
  ++r.count;
  r.sum += seconds;
  for (size_t i = 0; i < Bounds().size(); ++i) {
    if (seconds <= Bounds()[i]) {
      ++r.buckets[i];
      break;
    }
  }
}

int64_t ReconcileMetrics::Count(const std::string& result) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = results_.find(result);
  return it == results_.end() ? 0 : it->second.count;
}

std::string ReconcileMetrics::PrometheusText() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out = MetricHeader("mixserve_operator_reconcile_total", "counter", "Reconciles by result.");
  int64_t errors = 0;
  for (const auto& [result, r] : results_) {
    out += MetricSample("mixserve_operator_reconcile_total", {{"result", result}}, double(r.count));
    if (result == "error") errors = r.count;
  }
  out += MetricHeader("mixserve_operator_reconcile_errors_total", "counter", "Reconciles that failed and were requeued.");
  out += MetricSample("mixserve_operator_reconcile_errors_total", {}, double(errors));
  out += MetricHeader("mixserve_operator_reconcile_duration_seconds", "histogram", "Time one reconcile took, by result.");
  for (const auto& [result, r] : results_) {
    std::vector<std::pair<double, int64_t>> cumulative;
    int64_t running = 0;
    for (size_t i = 0; i < Bounds().size(); ++i) cumulative.emplace_back(Bounds()[i], running += r.buckets[i]);
    out += HistogramSamples("mixserve_operator_reconcile_duration_seconds", {{"result", result}}, cumulative, r.sum, r.count);
  }
  return out;
}

}  // namespace mixserve::controller
