// Parsing of `mixserve serve` flag values that are more than a number: byte sizes ("512MiB"),
// durations ("100s"), served model names ("a,b" and repeated flags), and the default name a model
// URI gets. Pure functions, unit-tested.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/base/status.h"

namespace mixserve::server {

// "1048576", "512MiB", "512MB", "2GiB", "1.5G", "64k": bytes. Binary (Ki/Mi/Gi/Ti, and bare K/M/G/T)
// and decimal (kB/MB/GB/TB) suffixes; case-insensitive.
Result<int64_t> ParseByteSize(const std::string& text);

// "100s", "2m", "1h", "500ms", "30" (seconds).
Result<std::chrono::milliseconds> ParseDuration(const std::string& text);

// Every value split at commas, trimmed, empty pieces dropped, duplicates removed (first kept).
std::vector<std::string> SplitServedNames(const std::vector<std::string>& values);

// The name a model is served under when --served-model-name is not given: "org/name" for
// hf://org/name[@rev], else the last path component of the folder.
std::string DefaultServedName(const std::string& model_uri);

}  // namespace mixserve::server
