// Duration strings as the CRD accepts them (a subset of Go's time.ParseDuration, which CEL's
// duration() uses): one or more <number><unit>, unit one of ns, us, ms, s, m, h, as in "90s",
// "30m", "1h30m", "1.5h". No sign, no bare "0".
#pragma once

#include <string_view>

#include "runtime/base/status.h"

namespace mixserve::api {

// The length of `text` in seconds, or InvalidArgument naming the text.
Result<double> ParseDurationSeconds(std::string_view text);

}  // namespace mixserve::api
