// Observe: an LLMService's status, computed from what the controller saw in the cluster.
//
// A pure function of the LLMService, its observed children (as the API server returns them), the
// status written last time and the current time, so the controller can compare the result with
// the stored status and write only when something changed. Conditions follow the Kubernetes API
// conventions: Ready, Progressing and Degraded always present, in that order; each carries the
// generation it was computed from, and its lastTransitionTime moves only when its status flips.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "operator/api/llmservice.h"

namespace mixserve::controller {

inline constexpr char kConditionReady[] = "Ready";
inline constexpr char kConditionProgressing[] = "Progressing";
inline constexpr char kConditionDegraded[] = "Degraded";

// Why the controller did not (or could not fully) render: the spec is invalid, a Secret it names is
// missing, no node has enough GPUs. `reason` is CamelCase; `message` says what to fix.
struct Blocker {
  std::string reason;
  std::string message;

  bool operator==(const Blocker&) const = default;
};

// The children and pods of one LLMService, as listed from the informer caches.
struct ObservedChildren {
  std::optional<nlohmann::json> deployment = std::nullopt;  // nodes == 1
  std::vector<nlohmann::json> statefulsets = {};            // nodes > 1, one per replica group
  std::optional<nlohmann::json> service = std::nullopt;     // the HTTP Service
  std::optional<nlohmann::json> ingress = std::nullopt;
  std::vector<nlohmann::json> pods = {};                    // every pod with the LLMService's selector labels
};

// What the controller found wrong before looking at the children.
struct Findings {
  // The spec cannot be rendered (InvalidSpec, MissingSecret): Degraded=True with this reason.
  std::optional<Blocker> blocker = std::nullopt;
  // Rendered anyway, but will not work as is (InsufficientGPUs): Degraded=True with this reason
  // until a pod shows the consequence (Unschedulable), whose message then gets this one appended.
  std::optional<Blocker> advisory = std::nullopt;
};

// REQUIRES: `now` is an RFC 3339 time ("2026-01-02T03:04:05Z"). `service.status` is the previous
// status (the one stored in the API server).
api::LLMServiceStatus Observe(const api::LLMService& service, const ObservedChildren& children,
                              const Findings& findings, const std::string& now);

// The condition of `type` in `status`, or nullptr.
const api::Condition* FindCondition(const api::LLMServiceStatus& status, const std::string& type);

// The current time as RFC 3339 with second precision, as Kubernetes writes metav1.Time.
std::string NowRfc3339();

}  // namespace mixserve::controller
