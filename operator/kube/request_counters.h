// RequestCounters: how many API requests a Client made, by verb and HTTP code, for /metrics.
//
// Thread-safe. The code is the HTTP status of the answer, 0 when no answer came (transport error).
// Writes are POST, PUT, PATCH and DELETE; tests use writes() to assert that a resync of a converged
// object writes nothing. A watch counts once, as verb "WATCH", when its answer's headers arrive.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace mixserve::kube {

class RequestCounters {
 public:
  void Record(const std::string& verb, int code);

  // (verb, code) -> count.
  std::map<std::pair<std::string, int>, int64_t> Snapshot() const;
  int64_t Count(const std::string& verb) const;  // all codes
  int64_t writes() const;
  int64_t total() const;

  // Prometheus sample lines `<name>{verb="GET",code="200"} N`, one per (verb, code) seen;
  // callers add the HELP/TYPE lines.
  std::string PrometheusLines(const std::string& name) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> counts_;
  int64_t writes_ = 0;
  int64_t total_ = 0;
};

}  // namespace mixserve::kube
