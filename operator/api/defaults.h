// The defaults the CRD cannot state because they depend on other fields. Static defaults (the
// CRD's `default:` values) are the initial values of the members in llmservice.h, so a spec read
// from JSON already has them.
#pragma once

#include <string>

#include "operator/api/llmservice.h"

namespace mixserve::api {

// Fills, where unset:
//   resources.gpusPerNode = runtime.tensorParallel / runtime.nodes (when nodes divides it);
//   model.servedNames     = {DefaultServedName(model.uri)} (when the uri is valid).
// Idempotent; leaves fields it cannot derive unset, for Validate to report.
void ApplyDefaults(LLMServiceSpec& spec);

// The name /v1/models shows when servedNames is empty: "<org>/<name>" for hf://, the folder's
// last path element for pvc:// and file://; empty for an invalid uri.
std::string DefaultServedName(const std::string& uri);

}  // namespace mixserve::api
