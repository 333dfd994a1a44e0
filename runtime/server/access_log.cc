#include "runtime/server/access_log.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "runtime/server/api_error.h"

namespace mixserve::server {

std::string FormatAccessRecord(const AccessRecord& r) {
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  int millis = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[96];
  std::snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  nlohmann::json j = {{"ts", ts},
                      {"id", r.id},
                      {"method", r.method},
                      {"path", r.path},
                      {"model", r.model},
                      {"status", r.status},
                      {"prompt_tokens", r.prompt_tokens},
                      {"completion_tokens", r.completion_tokens},
                      {"ttft_ms", r.ttft_ms < 0 ? nlohmann::json(nullptr) : nlohmann::json(r.ttft_ms)},
                      {"total_ms", r.total_ms},
                      {"stream", r.stream}};
  if (!r.finish_reason.empty()) j["finish_reason"] = r.finish_reason;
  if (!r.error.empty()) j["error"] = r.error;
  return DumpJson(j);
}

void WriteAccessRecord(const AccessRecord& r) {
  std::string line = FormatAccessRecord(r) + "\n";
  // One write(2): lines from concurrent requests never interleave.
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace mixserve::server
