#include "operator/controller/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace mixserve::controller {

void LogJson(const std::string& level, const std::string& msg, const nlohmann::json& fields) {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const int millis = int(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char ts[96];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  nlohmann::json line = {{"ts", ts}, {"level", level}, {"msg", msg}};
  if (fields.is_object()) {
    for (const auto& [key, value] : fields.items()) line[key] = value;
  }
  const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::fputs(text.c_str(), stderr);
}

}  // namespace mixserve::controller
