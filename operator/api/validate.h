// Validation of an LLMService spec: every rule the CRD states (its x-kubernetes-validations, with
// the same messages word for word, and its enums), so the controller can mark a spec it must not
// render Degraded/InvalidSpec even when it did not come through the CRD's schema (an older CRD
// installed, a test, mixserve-render on a file), plus the checks the schema leaves out.
#pragma once

#include <string>
#include <vector>

#include "operator/api/llmservice.h"
#include "runtime/base/status.h"

namespace mixserve::api {

// One broken rule: `field` is the path the API server reports (e.g. "spec.runtime.nodes").
struct FieldError {
  std::string field;
  std::string message;

  // "<field>: <message>"
  std::string ToString() const;
  bool operator==(const FieldError&) const = default;
};

// Every broken rule, in the order of the spec's fields. Works on a spec as read from JSON, with
// or without ApplyDefaults.
std::vector<FieldError> FieldErrors(const LLMServiceSpec& spec);

// Ok, or InvalidArgument whose message is the FieldErrors joined by "; ".
Status Validate(const LLMServiceSpec& spec);

}  // namespace mixserve::api
