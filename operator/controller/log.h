// LogJson: the operator's structured log, one JSON object per line on stderr.
//
// {"ts":"2026-01-02T03:04:05.123Z","level":"info","msg":"...", ...fields}. Lines from different
// threads never interleave. Log collectors (Loki, Cloud Logging) parse them without configuration.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace mixserve::controller {

// `level`: debug, info, warn or error. `fields` (an object) is merged into the line.
void LogJson(const std::string& level, const std::string& msg, const nlohmann::json& fields = nlohmann::json::object());

}  // namespace mixserve::controller
