#include "operator/controller/observe.h"

#include <algorithm>
#include <ctime>
#include <initializer_list>

#include "operator/api/defaults.h"
#include "operator/controller/render.h"

namespace mixserve::controller {
namespace {

using nlohmann::json;

// The value at `path` inside `object`, or null when any step is missing.
const json& At(const json& object, std::initializer_list<const char*> path) {
  static const json kNull;
  const json* node = &object;
  for (const char* key : path) {
    if (!node->is_object()) return kNull;
    auto it = node->find(key);
    if (it == node->end()) return kNull;
    node = &*it;
  }
  return *node;
}

std::string Text(const json& value) { return value.is_string() ? value.get<std::string>() : ""; }
int64_t Int(const json& value) { return value.is_number_integer() ? value.get<int64_t>() : 0; }

std::string Name(const json& object) { return Text(At(object, {"metadata", "name"})); }

// The pod condition of `type`, or null.
const json& PodCondition(const json& pod, const std::string& type) {
  static const json kNull;
  const json& conditions = At(pod, {"status", "conditions"});
  if (!conditions.is_array()) return kNull;
  for (const json& c : conditions) {
    if (c.value("type", "") == type) return c;
  }
  return kNull;
}

bool PodReady(const json& pod) { return Text(At(PodCondition(pod, "Ready"), {"status"})) == "True"; }

// A problem seen on one pod, in order of precedence (the first kind found on any pod wins).
struct PodProblem {
  const char* reason;
  std::string message;
};

std::optional<PodProblem> ContainerProblem(const json& pod) {
  static const char* const kPullReasons[] = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName",
                                             "ErrImageNeverPull", "RegistryUnavailable"};
  for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
    const json& statuses = At(pod, {"status", list});
    if (!statuses.is_array()) continue;
    for (const json& cs : statuses) {
      const std::string waiting = Text(At(cs, {"state", "waiting", "reason"}));
      if (waiting.empty()) continue;
      const std::string detail = Text(At(cs, {"state", "waiting", "message"}));
      const std::string where = "pod " + Name(pod) + ", container " + Text(At(cs, {"name"}));
      if (std::find(std::begin(kPullReasons), std::end(kPullReasons), waiting) != std::end(kPullReasons)) {
        return PodProblem{"ImagePullFailed", where + ": cannot pull image " + Text(At(cs, {"image"})) + " (" +
                                                 waiting + (detail.empty() ? "" : ": " + detail) +
                                                 "); check spec.runtime.image and imagePullSecrets"};
      }
      if (waiting == "CrashLoopBackOff") {
        const json& last = At(cs, {"lastState", "terminated"});
        std::string exit = last.is_object() ? "; last exit code " + std::to_string(Int(At(last, {"exitCode"}))) +
                                                  (Text(At(last, {"reason"})).empty() ? "" : " (" + Text(At(last, {"reason"})) + ")")
                                            : "";
        return PodProblem{"CrashLooping", where + " keeps crashing (restarted " +
                                              std::to_string(Int(At(cs, {"restartCount"}))) + " times" + exit +
                                              "); see kubectl logs " + Name(pod) + " --previous"};
      }
      if (waiting == "CreateContainerConfigError") {
        return PodProblem{"ContainerConfigError", where + ": " + (detail.empty() ? waiting : detail)};
      }
    }
  }
  return std::nullopt;
}

std::optional<PodProblem> SchedulingProblem(const json& pod) {
  const json& scheduled = PodCondition(pod, "PodScheduled");
  if (Text(At(scheduled, {"status"})) != "False" || Text(At(scheduled, {"reason"})) != "Unschedulable") return std::nullopt;
  return PodProblem{"Unschedulable", "pod " + Name(pod) + " cannot be scheduled: " + Text(At(scheduled, {"message"}))};
}

// Pods that exist and are not being deleted, sorted by name so messages are stable.
std::vector<const json*> LivePods(const ObservedChildren& children) {
  std::vector<const json*> pods;
  for (const json& pod : children.pods) {
    if (At(pod, {"metadata", "deletionTimestamp"}).is_null()) pods.push_back(&pod);
  }
  std::sort(pods.begin(), pods.end(), [](const json* a, const json* b) { return Name(*a) < Name(*b); });
  return pods;
}

std::optional<PodProblem> FirstPodProblem(const std::vector<const json*>& pods) {
  for (auto check : {ContainerProblem, SchedulingProblem}) {
    for (const json* pod : pods) {
      if (auto problem = check(*pod)) return problem;
    }
  }
  return std::nullopt;
}

// A Deployment whose rollout is stuck says so in its own conditions.
std::optional<PodProblem> DeploymentProblem(const std::optional<json>& deployment) {
  if (!deployment) return std::nullopt;
  const json& conditions = At(*deployment, {"status", "conditions"});
  if (!conditions.is_array()) return std::nullopt;
  for (const json& c : conditions) {
    const std::string type = c.value("type", ""), status = c.value("status", ""), reason = c.value("reason", "");
    if (type == "ReplicaFailure" && status == "True") {
      return PodProblem{"ReplicaFailure", "Deployment " + Name(*deployment) + ": " + c.value("message", reason)};
    }
    if (type == "Progressing" && status == "False" && reason == "ProgressDeadlineExceeded") {
      return PodProblem{"ProgressDeadlineExceeded", "Deployment " + Name(*deployment) + ": " + c.value("message", reason)};
    }
  }
  return std::nullopt;
}

// Whether a workload controller has caught up with its spec and replaced every old pod.
bool RolledOut(const json& workload) {
  const int64_t generation = Int(At(workload, {"metadata", "generation"}));
  const json& status = At(workload, {"status"});
  if (Int(At(status, {"observedGeneration"})) < generation) return false;
  const int64_t want = At(workload, {"spec", "replicas"}).is_number_integer() ? Int(At(workload, {"spec", "replicas"})) : 1;
  const int64_t updated = Int(At(status, {"updatedReplicas"}));
  if (updated < want || Int(At(status, {"replicas"})) > updated) return false;
  const std::string update_revision = Text(At(status, {"updateRevision"}));  // StatefulSets only
  return update_revision.empty() || update_revision == Text(At(status, {"currentRevision"}));
}

api::Condition MakeCondition(const char* type, bool status, std::string reason, std::string message) {
  api::Condition c;
  c.type = type;
  c.status = status ? "True" : "False";
  c.reason = std::move(reason);
  c.message = std::move(message);
  return c;
}

}  // namespace

const api::Condition* FindCondition(const api::LLMServiceStatus& status, const std::string& type) {
  for (const api::Condition& c : status.conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

api::LLMServiceStatus Observe(const api::LLMService& service, const ObservedChildren& children,
                              const Findings& findings, const std::string& now) {
  const std::optional<Blocker>& blocker = findings.blocker;
  api::LLMService svc = service;
  api::ApplyDefaults(svc.spec);
  const int64_t desired = svc.spec.replicas;
  const bool multi_node = svc.spec.runtime.nodes > 1;

  api::LLMServiceStatus out;
  out.observed_generation = svc.metadata.generation;
  out.selector = ServingPodSelector(svc);
  out.served_names = svc.spec.model.served_names;

  // Replicas: pods of the Deployment, or StatefulSets (groups) with every rank ready.
  bool workload_exists = false, rolled_out = true;
  if (multi_node) {
    workload_exists = !children.statefulsets.empty();
    for (const json& sts : children.statefulsets) {
      ++out.replicas;
      if (Int(At(sts, {"status", "readyReplicas"})) >= svc.spec.runtime.nodes) ++out.ready_replicas;
      rolled_out = rolled_out && RolledOut(sts);
    }
    rolled_out = rolled_out && int64_t(children.statefulsets.size()) == desired;
  } else if (children.deployment) {
    workload_exists = true;
    out.replicas = Int(At(*children.deployment, {"status", "replicas"}));
    out.ready_replicas = Int(At(*children.deployment, {"status", "readyReplicas"}));
    rolled_out = RolledOut(*children.deployment);
  }
  out.ready_text = std::to_string(out.ready_replicas) + "/" + std::to_string(desired);

  // URL: once the object that serves it exists.
  const api::IngressSpec& ingress = svc.spec.ingress;
  if (ingress.enabled && !ingress.host.empty()) {
    if (children.ingress) out.url = EndpointUrl(svc);
  } else if (ingress.enabled && children.ingress) {
    const json& lb = At(*children.ingress, {"status", "loadBalancer", "ingress"});
    std::string address = lb.is_array() && !lb.empty() ? Text(At(lb[0], {"ip"})) : "";
    if (address.empty() && lb.is_array() && !lb.empty()) address = Text(At(lb[0], {"hostname"}));
    if (!address.empty()) out.url = "http://" + address + IngressPathPrefix(ingress) + "/v1";
  }
  if (out.url.empty() && children.service) {
    api::LLMService without_ingress = svc;
    without_ingress.spec.ingress.enabled = false;
    out.url = EndpointUrl(without_ingress);
  }

  const std::vector<const json*> pods = LivePods(children);
  std::optional<PodProblem> problem = FirstPodProblem(pods);
  if (!problem) problem = DeploymentProblem(children.deployment);

  api::Condition degraded = MakeCondition(kConditionDegraded, false, "AsExpected", "no problems observed");
  if (blocker) {
    degraded = MakeCondition(kConditionDegraded, true, blocker->reason, blocker->message);
  } else if (problem) {
    std::string message = problem->message;
    if (findings.advisory && std::string(problem->reason) == "Unschedulable") message += "; " + findings.advisory->message;
    degraded = MakeCondition(kConditionDegraded, true, problem->reason, message);
  } else if (findings.advisory) {
    degraded = MakeCondition(kConditionDegraded, true, findings.advisory->reason, findings.advisory->message);
  }

  const std::string counts = std::to_string(out.ready_replicas) + " of " + std::to_string(desired) + " replicas ready";
  api::Condition ready;
  if (desired == 0) {
    ready = MakeCondition(kConditionReady, false, "ScaledToZero", "spec.replicas is 0");
  } else if (out.ready_replicas >= desired) {
    ready = MakeCondition(kConditionReady, true, "Serving",
                          counts + (out.url.empty() ? "" : "; serving at " + out.url));
  } else if (blocker && !workload_exists) {
    ready = MakeCondition(kConditionReady, false, blocker->reason, blocker->message);
  } else {
    ready = MakeCondition(kConditionReady, false, "WaitingForPods", counts);
  }

  api::Condition progressing = MakeCondition(kConditionProgressing, false, "Complete", counts);
  const int64_t loading = std::count_if(pods.begin(), pods.end(), [](const json* pod) {
    return Text(At(*pod, {"status", "phase"})) == "Running" && !PodReady(*pod);
  });
  if (blocker && !workload_exists) {
    progressing = MakeCondition(kConditionProgressing, false, blocker->reason, "nothing is rolled out: " + blocker->message);
  } else if (!workload_exists) {
    progressing = MakeCondition(kConditionProgressing, true, "RollingOut", "creating the workload");
  } else if (degraded.status == "True" && out.ready_replicas < desired) {
    progressing = MakeCondition(kConditionProgressing, false, degraded.reason, "stalled: " + degraded.message);
  } else if (!rolled_out) {
    progressing = MakeCondition(kConditionProgressing, true, "RollingOut",
                                std::string(multi_node ? "StatefulSets" : "Deployment") + " rolling out; " + counts);
  } else if (loading > 0) {
    progressing = MakeCondition(kConditionProgressing, true, "LoadingModel",
                                std::to_string(loading) + " pod(s) running and loading the model; " + counts);
  } else if (out.ready_replicas < desired) {
    progressing = MakeCondition(kConditionProgressing, true, "RollingOut", "waiting for pods to start; " + counts);
  }

  for (api::Condition c : {ready, progressing, degraded}) {
    c.observed_generation = svc.metadata.generation;
    const api::Condition* before = FindCondition(service.status, c.type);
    const bool same = before && before->status == c.status && !before->last_transition_time.empty();
    c.last_transition_time = same ? before->last_transition_time : now;
    out.conditions.push_back(std::move(c));
  }
  return out;
}

std::string NowRfc3339() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace mixserve::controller
