#include "operator/controller/render.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>

#include "operator/api/defaults.h"
#include "operator/api/validate.h"
#include "operator/controller/names.h"
#include "operator/controller/pod_template.h"

namespace mixserve::controller {
namespace {

using nlohmann::json;

// ingress-nginx settings that keep token streams flowing: no response buffering (SSE chunks reach
// the client as they are produced), no request buffering, an hour for long generations, and room
// for long prompts.
const json& StreamingAnnotations() {
  static const json annotations = {
      {"nginx.ingress.kubernetes.io/proxy-buffering", "off"},
      {"nginx.ingress.kubernetes.io/proxy-request-buffering", "off"},
      {"nginx.ingress.kubernetes.io/proxy-read-timeout", "3600"},
      {"nginx.ingress.kubernetes.io/proxy-send-timeout", "3600"},
      {"nginx.ingress.kubernetes.io/proxy-body-size", "64m"},
  };
  return annotations;
}

// Rendering context shared by every child: the defaulted service and its metadata template.
class Renderer {
 public:
  Renderer(api::LLMService service, std::string image) : svc_(std::move(service)), image_(std::move(image)) {}

  std::vector<json> Children() const {
    std::vector<json> out;
    const bool multi_node = svc_.spec.runtime.nodes > 1;
    if (multi_node) out.push_back(HeadlessService());
    out.push_back(Service());
    if (multi_node) {
      for (int64_t group = 0; group < svc_.spec.replicas; ++group) out.push_back(StatefulSet(group));
    } else {
      out.push_back(Deployment());
    }
    out.push_back(DisruptionBudget());
    if (svc_.spec.ingress.enabled) out.push_back(Ingress());
    return out;
  }

 private:
  const std::string& Name() const { return svc_.metadata.name; }
  std::string ServiceName() const { return ChildName(Name()); }
  std::string HeadlessName() const { return ChildName(Name(), "-ranks"); }
  std::string GroupName(int64_t group) const {
    return ChildName(Name(), "-" + std::to_string(group), kMaxStatefulSetNameLength);
  }

  json Object(const char* api_version, const char* kind, const std::string& name) const {
    json owner = {{"apiVersion", api::kApiVersion}, {"kind", api::kKind},
                  {"name", Name()},                 {"uid", svc_.metadata.uid},
                  {"controller", true},             {"blockOwnerDeletion", true}};
    return {{"apiVersion", api_version},
            {"kind", kind},
            {"metadata",
             {{"name", name},
              {"namespace", svc_.metadata.namespace_},
              {"labels", CommonLabels(Name())},
              {"ownerReferences", json::array({owner})}}}};
  }

  json Service() const {
    json service = Object("v1", "Service", ServiceName());
    json selector = SelectorLabels(Name());
    if (svc_.spec.runtime.nodes > 1) selector[kLabelPodIndex] = "0";
    service["spec"] = {
        {"type", "ClusterIP"},
        {"selector", selector},
        {"ports", json::array({{{"name", "http"}, {"port", kServicePort}, {"targetPort", "http"},
                                {"protocol", "TCP"}, {"appProtocol", "http"}}})},
    };
    return service;
  }

  // DNS names for the ranks of every replica; lists pods before they are ready, so workers can
  // reach rank 0 while it waits for them.
  json HeadlessService() const {
    json service = Object("v1", "Service", HeadlessName());
    service["spec"] = {
        {"clusterIP", "None"},
        {"publishNotReadyAddresses", true},
        {"selector", SelectorLabels(Name())},
        {"ports", json::array({{{"name", "rendezvous"}, {"port", kRendezvousPort},
                                {"targetPort", kRendezvousPort}, {"protocol", "TCP"}}})},
    };
    return service;
  }

  // A rollout may not fail for taking as long as a model load is allowed to take.
  int ProgressDeadlineSeconds() const {
    int64_t seconds = int64_t(StartupFailureThreshold(svc_.spec)) * kStartupProbePeriodSeconds + 600;
    return int(std::min<int64_t>(seconds, std::numeric_limits<int32_t>::max()));
  }

  json Deployment() const {
    json labels = CommonLabels(Name());
    json deployment = Object("apps/v1", "Deployment", ServiceName());
    deployment["spec"] = {
        {"replicas", svc_.spec.replicas},
        {"selector", {{"matchLabels", SelectorLabels(Name())}}},
        // Bring a new pod up before taking an old one down: no gap in serving.
        {"strategy", {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxSurge", 1}, {"maxUnavailable", 0}}}}},
        {"progressDeadlineSeconds", ProgressDeadlineSeconds()},
        {"template", PodTemplate(svc_, image_, labels, std::nullopt)},
    };
    return deployment;
  }

  json StatefulSet(int64_t group) const {
    const std::string name = GroupName(group);
    json labels = CommonLabels(Name());
    labels[kLabelReplica] = std::to_string(group);
    json selector = SelectorLabels(Name());
    selector[kLabelReplica] = std::to_string(group);
    json statefulset = Object("apps/v1", "StatefulSet", name);
    statefulset["spec"] = {
        {"replicas", svc_.spec.runtime.nodes},
        {"serviceName", HeadlessName()},
        // All ranks start together: rank 0 cannot become ready before the others join.
        {"podManagementPolicy", "Parallel"},
        {"selector", {{"matchLabels", selector}}},
        {"template", PodTemplate(svc_, image_, labels, RankWiring{name, HeadlessName()})},
    };
    return statefulset;
  }

  // Voluntary disruptions (node drains) take one pod at a time; pods that never became ready may
  // always be evicted, so a stuck load cannot block a drain.
  json DisruptionBudget() const {
    json pdb = Object("policy/v1", "PodDisruptionBudget", ServiceName());
    pdb["spec"] = {
        {"maxUnavailable", 1},
        {"selector", {{"matchLabels", SelectorLabels(Name())}}},
        {"unhealthyPodEvictionPolicy", "AlwaysAllow"},
    };
    return pdb;
  }

  json Ingress() const {
    const api::IngressSpec& spec = svc_.spec.ingress;
    json ingress = Object("networking.k8s.io/v1", "Ingress", ServiceName());
    json annotations = StreamingAnnotations();
    const std::string prefix = IngressPathPrefix(spec);
    json path = {{"backend", {{"service", {{"name", ServiceName()}, {"port", {{"name", "http"}}}}}}}};
    if (prefix.empty()) {
      path["path"] = "/v1";
      path["pathType"] = "Prefix";
    } else {
      // The pods serve /v1/...: ingress-nginx strips the prefix.
      path["path"] = prefix + "/v1(/|$)(.*)";
      path["pathType"] = "ImplementationSpecific";
      annotations["nginx.ingress.kubernetes.io/use-regex"] = "true";
      annotations["nginx.ingress.kubernetes.io/rewrite-target"] = "/v1/$2";
    }
    for (const auto& [key, value] : spec.annotations) annotations[key] = value;
    ingress["metadata"]["annotations"] = annotations;

    json rule = {{"http", {{"paths", json::array({path})}}}};
    if (!spec.host.empty()) rule["host"] = spec.host;
    json ingress_spec = {{"rules", json::array({rule})}};
    if (!spec.class_name.empty()) ingress_spec["ingressClassName"] = spec.class_name;
    if (spec.tls && !spec.tls->secret_name.empty()) {
      ingress_spec["tls"] = json::array({{{"hosts", json::array({spec.host})}, {"secretName", spec.tls->secret_name}}});
    }
    ingress["spec"] = ingress_spec;
    return ingress;
  }

  api::LLMService svc_;
  std::string image_;
};

}  // namespace

Result<std::vector<json>> Render(const api::LLMService& service, const RenderOptions& options) {
  const api::ObjectMeta& meta = service.metadata;
  if (meta.name.empty() || meta.namespace_.empty() || meta.uid.empty()) {
    return Status::InvalidArgument("cannot render LLMService '" + meta.name +
                                   "': metadata.name, metadata.namespace and metadata.uid must be set");
  }
  api::LLMService defaulted = service;
  api::ApplyDefaults(defaulted.spec);
  if (Status valid = api::Validate(defaulted.spec); !valid.ok()) return valid;
  std::string image = defaulted.spec.runtime.image.empty() ? options.default_image : defaulted.spec.runtime.image;
  if (image.empty()) {
    return Status::InvalidArgument("no runtime image: set spec.runtime.image or the operator's --runtime-image");
  }
  return Renderer(std::move(defaulted), std::move(image)).Children();
}

std::string IngressPathPrefix(const api::IngressSpec& ingress) {
  std::string prefix = ingress.path;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  return prefix;
}

std::string ServingPodSelector(const api::LLMService& service) {
  json labels = SelectorLabels(service.metadata.name);
  if (service.spec.runtime.nodes > 1) labels[kLabelPodIndex] = "0";
  std::string out;
  for (const auto& [key, value] : labels.items()) out += (out.empty() ? "" : ",") + key + "=" + value.get<std::string>();
  return out;
}

std::string EndpointUrl(const api::LLMService& service) {
  const api::IngressSpec& ingress = service.spec.ingress;
  if (ingress.enabled && !ingress.host.empty()) {
    const bool tls = ingress.tls && !ingress.tls->secret_name.empty();
    return std::string(tls ? "https://" : "http://") + ingress.host + IngressPathPrefix(ingress) + "/v1";
  }
  return "http://" + ChildName(service.metadata.name) + "." + service.metadata.namespace_ + ".svc/v1";
}

}  // namespace mixserve::controller
