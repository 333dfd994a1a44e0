// AccessLog: one JSON line per finished HTTP request on stderr, for log pipelines:
//   {"ts":"...","id":"cmpl-..","method":"POST","path":"/v1/completions","model":"..","status":200,
//    "prompt_tokens":5,"completion_tokens":16,"ttft_ms":12.3,"total_ms":80.1,"stream":true}
// Never carries request bodies or headers (so never an API key).
#pragma once

#include <cstdint>
#include <string>

namespace mixserve::server {

struct AccessRecord {
  std::string id;
  std::string method;
  std::string path;
  std::string model;
  int status = 0;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  double ttft_ms = -1.0;  // < 0: no token was produced
  double total_ms = 0.0;
  bool stream = false;
  std::string finish_reason;
  std::string error;      // the error message sent, if any
};

// The record as one JSON line (no newline).
std::string FormatAccessRecord(const AccessRecord& r);
// Writes the line and a newline to stderr in one call, so concurrent lines do not interleave.
void WriteAccessRecord(const AccessRecord& r);

}  // namespace mixserve::server
