#include "runtime/server/metrics.h"

#include <algorithm>
#include <cmath>

#include "runtime/base/prometheus.h"

namespace mixserve::server {
namespace {

using prometheus::Number;
const auto& Escape = prometheus::EscapeLabelValue;

void Family(std::string& out, const std::string& name, const char* type, const char* help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void Sample(std::string& out, const std::string& name, const std::string& labels, double value) {
  out += name + "{" + labels + "} " + Number(value) + "\n";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double value) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  counts_[i]++;
  sum_ += value;
  count_++;
}

void Histogram::Render(const std::string& name, const std::string& labels, std::string& out) const {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket{" + labels + ",le=\"" + Number(bounds_[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_bucket{" + labels + ",le=\"+Inf\"} " + std::to_string(count_) + "\n";
  out += name + "_sum{" + labels + "} " + Number(sum_) + "\n";
  out += name + "_count{" + labels + "} " + std::to_string(count_) + "\n";
}

ServerMetrics::ServerMetrics(std::string model_name)
    : model_name_(std::move(model_name)),
      labels_("model_name=\"" + Escape(model_name_) + "\""),
      ttft_({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0}),
      tpot_({0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0}),
      e2e_({0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0}) {}

void ServerMetrics::RecordRequest(double ttft_s, double e2e_s, int64_t completion_tokens, const std::string& finish_reason) {
  if (completion_tokens > 0) ttft_.Observe(ttft_s);
  if (completion_tokens > 1) tpot_.Observe((e2e_s - ttft_s) / static_cast<double>(completion_tokens - 1));
  e2e_.Observe(e2e_s);
  std::lock_guard<std::mutex> lock(mu_);
  finished_by_reason_[finish_reason]++;
}

void ServerMetrics::RecordHttp(int status) {
  std::lock_guard<std::mutex> lock(mu_);
  http_by_status_[status]++;
}

std::string ServerMetrics::Render(const EngineStats& engine, int64_t num_kv_blocks) const {
  std::string out;
  const std::string& l = labels_;
  Family(out, "vllm:num_requests_running", "gauge", "Number of requests in model execution batches.");
  Sample(out, "vllm:num_requests_running", l, static_cast<double>(engine.num_running.load()));
  Family(out, "vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.");
  Sample(out, "vllm:num_requests_waiting", l, static_cast<double>(engine.num_waiting.load()));
  Family(out, "vllm:gpu_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.");
  Sample(out, "vllm:gpu_cache_usage_perc", l, engine.kv_usage.load());
  Family(out, "vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.");
  Sample(out, "vllm:kv_cache_usage_perc", l, engine.kv_usage.load());
  Family(out, "vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.");
  Sample(out, "vllm:prompt_tokens_total", l, static_cast<double>(engine.prompt_tokens_total.load()));
  Family(out, "vllm:generation_tokens_total", "counter", "Number of generation tokens processed.");
  Sample(out, "vllm:generation_tokens_total", l, static_cast<double>(engine.generation_tokens_total.load()));
  Family(out, "vllm:prefix_cache_queries_total", "counter", "Prefix cache queries, in terms of number of queried tokens.");
  Sample(out, "vllm:prefix_cache_queries_total", l, static_cast<double>(engine.prefix_cache_queries.load()));
  Family(out, "vllm:prefix_cache_hits_total", "counter", "Prefix cache hits, in terms of number of cached tokens.");
  Sample(out, "vllm:prefix_cache_hits_total", l, static_cast<double>(engine.prefix_cache_hits.load()));
  Family(out, "vllm:num_preemptions_total", "counter", "Cumulative number of preemptions from the engine.");
  Sample(out, "vllm:num_preemptions_total", l, static_cast<double>(engine.preemptions_total.load()));

  Family(out, "vllm:time_to_first_token_seconds", "histogram", "Histogram of time to first token in seconds.");
  ttft_.Render("vllm:time_to_first_token_seconds", l, out);
  Family(out, "vllm:time_per_output_token_seconds", "histogram", "Histogram of time per output token in seconds.");
  tpot_.Render("vllm:time_per_output_token_seconds", l, out);
  Family(out, "vllm:e2e_request_latency_seconds", "histogram", "Histogram of end to end request latency in seconds.");
  e2e_.Render("vllm:e2e_request_latency_seconds", l, out);

  std::lock_guard<std::mutex> lock(mu_);
  Family(out, "vllm:request_success_total", "counter", "Count of successfully processed requests.");
  for (const char* reason : {"stop", "length", "abort"}) {
    auto it = finished_by_reason_.find(reason);
    Sample(out, "vllm:request_success_total", l + ",finished_reason=\"" + reason + "\"",
           static_cast<double>(it == finished_by_reason_.end() ? 0 : it->second));
  }
  Family(out, "mixserve:engine_steps_total", "counter", "Engine steps (forward passes) run.");
  Sample(out, "mixserve:engine_steps_total", l, static_cast<double>(engine.steps_total.load()));
  Family(out, "mixserve:kv_cache_blocks", "gauge", "KV-cache blocks the engine manages.");
  Sample(out, "mixserve:kv_cache_blocks", l, static_cast<double>(num_kv_blocks));
  Family(out, "mixserve:http_responses_total", "counter", "HTTP responses sent, by status code.");
  for (const auto& [status, count] : http_by_status_) {
    Sample(out, "mixserve:http_responses_total", l + ",status=\"" + std::to_string(status) + "\"", static_cast<double>(count));
  }
  return out;
}

}  // namespace mixserve::server
