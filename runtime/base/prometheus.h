// Prometheus text exposition helpers shared by the runtime's and the operator's /metrics.
//
// Only the two pieces whose rules are easy to get subtly wrong: how a sample value is written and how
// a label value is escaped. Each /metrics page builds its own families on top of these.
#pragma once

#include <string>

namespace mixserve::prometheus {

// A sample value: whole numbers without a fraction, +Inf/-Inf/NaN spelled as Prometheus reads them,
// other values with enough digits to read back the same double.
std::string Number(double value);

// A label value with backslash, double quote and newline escaped (to go between double quotes).
std::string EscapeLabelValue(const std::string& value);

}  // namespace mixserve::prometheus
