// API errors: how a non-2xx answer of the Kubernetes API server becomes a Status.
//
// The API server answers failures with a Status object ({"kind":"Status","code":409,"reason":
// "Conflict","message":"..."}). ApiError turns such an answer into a one-line Status whose message
// is "<VERB> <path>: <Reason> (<code>): <message>". Callers branch on the kind of failure with the
// Is* predicates below (never by parsing messages themselves): a 404 is NotFound, a 409 on update is
// Conflict (stale resourceVersion), a 409 on create is AlreadyExists, a 410 is Gone (watch too old).
// Transport failures (connection refused, TLS) are Unavailable.
#pragma once

#include <string>

#include "operator/kube/rest_client.h"
#include "runtime/base/status.h"

namespace mixserve::kube {

// The Status for a failed API call; `response` is the server's answer (status >= 300).
Status ApiError(const std::string& verb, const std::string& path, const Response& response);

// A Gone status for a watch ERROR event carrying a 410 Status object.
Status GoneError(const std::string& message);

bool IsNotFound(const Status& s);       // 404
bool IsConflict(const Status& s);       // 409 Conflict: the object changed since it was read
bool IsAlreadyExists(const Status& s);  // 409 AlreadyExists: create of an existing name
bool IsGone(const Status& s);           // 410: resourceVersion too old, relist
bool IsInvalid(const Status& s);        // 422: the object failed validation (CEL, schema)
bool IsForbidden(const Status& s);      // 401 / 403

// The HTTP code an API error status came from (0 when it did not come from an HTTP answer).
int HttpCodeOf(const Status& s);

}  // namespace mixserve::kube
