#include "operator/kube/request_counters.h"

namespace mixserve::kube {

void RequestCounters::Record(const std::string& verb, int code) {
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_[{verb, code}];
  ++total_;
  if (verb == "POST" || verb == "PUT" || verb == "PATCH" || verb == "DELETE") ++writes_;
}

std::map<std::pair<std::string, int>, int64_t> RequestCounters::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

int64_t RequestCounters::Count(const std::string& verb) const {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t n = 0;
  for (const auto& [key, count] : counts_) {
    if (key.first == verb) n += count;
  }
  return n;
}

int64_t RequestCounters::writes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return writes_;
}

int64_t RequestCounters::total() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_;
}

std::string RequestCounters::PrometheusLines(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& [key, count] : counts_) {
    out += name + "{verb=\"" + key.first + "\",code=\"" + std::to_string(key.second) + "\"} " + std::to_string(count) +
           "\n";
  }
  return out;
}

}  // namespace mixserve::kube
