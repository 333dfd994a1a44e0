// Kubernetes resource quantities ("64Gi", "7500m", "8", "1e3"), checked the way the API server's
// resource.ParseQuantity (and CEL's isQuantity) reads them, for Validate's cpu/memory/size rules.
#pragma once

#include <string_view>

namespace mixserve::api {

// Whether `text` is a quantity: [+-]number with an optional suffix, one of the binary (Ki, Mi, Gi,
// Ti, Pi, Ei), decimal (n, u, m, k, M, G, T, P, E) or exponent (e3, E-2) forms.
bool IsQuantity(std::string_view text);

// Whether `text` is a quantity greater than zero.
bool IsPositiveQuantity(std::string_view text);

}  // namespace mixserve::api
