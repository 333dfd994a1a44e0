// The pod template of an LLMService's serving pods, shared by its Deployment (one pod per
// replica) and its StatefulSets (one per multi-node replica).
//
// One container runs `mixserve serve`. Volumes: the model cache at /models (HF_HUB_CACHE=/models/hub),
// a memory-backed /dev/shm, a pvc:// model's claim at /model-source (unless it is the cache's
// claim, then the model is under /models), and the HF token and API key Secrets as files under
// /var/run/secrets/mixserve/. Probes: startup and readiness on /health (503 until the weights are
// loaded), liveness on /live, which the engine cannot block.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "operator/api/llmservice.h"

namespace mixserve::controller {

inline constexpr int kHttpPort = 8000;         // the runtime's HTTP port (container port "http")
inline constexpr int kRendezvousPort = 29500;  // rank 0's TCP bootstrap port (multi-node)
inline constexpr int kTerminationGraceSeconds = 120;
inline constexpr int kDrainTimeoutSeconds = 100;  // < grace: in-flight requests finish before SIGKILL
inline constexpr int kStartupProbePeriodSeconds = 10;
inline constexpr int kRunAsUser = 1000;

inline constexpr char kModelCacheMount[] = "/models";
inline constexpr char kModelSourceMount[] = "/model-source";
inline constexpr char kHfTokenDir[] = "/var/run/secrets/mixserve/hf-token";
inline constexpr char kApiKeyDir[] = "/var/run/secrets/mixserve/api-key";

// How the pods of one multi-node replica find each other: rank = the pod's StatefulSet ordinal,
// rank 0 at <statefulset>-0.<headless_service>.<namespace>.svc:kRendezvousPort.
struct RankWiring {
  std::string statefulset;
  std::string headless_service;
};

// REQUIRES: `service.spec` has ApplyDefaults applied and passes Validate; `image` is not empty.
// `labels` become the pod's labels; `wiring` is set for multi-node replicas only.
nlohmann::json PodTemplate(const api::LLMService& service, const std::string& image, const nlohmann::json& labels,
                           const std::optional<RankWiring>& wiring);

// The startup probe's failureThreshold: startupTimeout in probe periods, rounded up.
int StartupFailureThreshold(const api::LLMServiceSpec& spec);

}  // namespace mixserve::controller
