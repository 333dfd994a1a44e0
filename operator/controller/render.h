// render: the objects an LLMService should own, as a pure function of the LLMService.
//
// Render applies the spec's derived defaults, refuses an invalid spec (Validate's message) and
// returns the children in apply order:
//   nodes == 1: Service, Deployment (one pod per replica), PodDisruptionBudget, [Ingress]
//   nodes  > 1: headless Service of the ranks, Service, one StatefulSet of `nodes` pods per replica
//               (rank 0 serves HTTP), PodDisruptionBudget, [Ingress]
// Every child carries the common labels and a controller owner reference to the LLMService. The
// output depends on nothing but the arguments, and nlohmann::json keeps object keys sorted, so the
// same input dumps to byte-identical JSON: server-side apply of an unchanged LLMService writes nothing.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "operator/api/llmservice.h"
#include "runtime/base/status.h"

namespace mixserve::controller {

inline constexpr int kServicePort = 80;

struct RenderOptions {
  std::string default_image;  // the operator's --runtime-image, used when spec.runtime.image is empty
};

// REQUIRES: metadata.name, metadata.namespace and metadata.uid are set (an object read from the API
// server). Errors: a missing one of those, no image, or the spec's Validate error.
Result<std::vector<nlohmann::json>> Render(const api::LLMService& service, const RenderOptions& options);

// Status values derived from the spec alone (the controller writes them to status):
// the label selector of the serving pods (rank 0 only when nodes > 1), for the scale subresource;
std::string ServingPodSelector(const api::LLMService& service);
// the Ingress path prefix without trailing slashes ("" for "/", "/team-a" for "/team-a/");
std::string IngressPathPrefix(const api::IngressSpec& ingress);
// and the OpenAI base URL: https://<host><path>/v1 through the Ingress when it has a host (http
// without TLS), else the in-cluster http://<service>.<namespace>.svc/v1.
std::string EndpointUrl(const api::LLMService& service);

}  // namespace mixserve::controller
