// Observe: status conditions, counts and URL from observed children, table-driven, no server.
#include "operator/controller/observe.h"

#include <gtest/gtest.h>

#include "operator/api/llmservice_json.h"

namespace mixserve::controller {
namespace {

using nlohmann::json;

api::LLMService Service(const json& spec_patch = json::object()) {
  json object = {{"apiVersion", "mixserve.io/v1alpha1"},
                 {"kind", "LLMService"},
                 {"metadata", {{"name", "llm"}, {"namespace", "ns"}, {"uid", "u1"}, {"generation", 3}}},
                 {"spec", {{"model", {{"uri", "hf://org/model"}}}, {"runtime", {{"tensorParallel", 2}}}, {"replicas", 2}}}};
  if (spec_patch.is_object()) object["spec"].merge_patch(spec_patch);
  auto service = api::LLMServiceFromJson(object);
  EXPECT_TRUE(service.ok()) << service.status().message();
  return service.ok() ? *service : api::LLMService{};
}

json Deployment(int replicas, int ready, int updated, int generation = 1, int observed = 1) {
  return {{"metadata", {{"name", "llm"}, {"generation", generation}}},
          {"spec", {{"replicas", 2}}},
          {"status", {{"observedGeneration", observed}, {"replicas", replicas}, {"readyReplicas", ready},
                      {"updatedReplicas", updated}}}};
}

json Pod(const std::string& name, const std::string& phase, bool ready) {
  return {{"metadata", {{"name", name}}},
          {"status", {{"phase", phase},
                      {"conditions", json::array({{{"type", "PodScheduled"}, {"status", "True"}},
                                                  {{"type", "Ready"}, {"status", ready ? "True" : "False"}}})}}}};
}

json Unschedulable(const std::string& name) {
  return {{"metadata", {{"name", name}}},
          {"status", {{"phase", "Pending"},
                      {"conditions", json::array({{{"type", "PodScheduled"}, {"status", "False"}, {"reason", "Unschedulable"},
                                                   {"message", "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."}}})}}}};
}

json Waiting(const std::string& name, const std::string& reason) {
  json pod = Pod(name, reason == "CrashLoopBackOff" ? "Running" : "Pending", false);
  pod["status"]["containerStatuses"] = json::array(
      {{{"name", "mixserve"}, {"image", "bad:1"}, {"restartCount", 7},
        {"state", {{"waiting", {{"reason", reason}, {"message", "details"}}}}},
        {"lastState", {{"terminated", {{"exitCode", 1}, {"reason", "Error"}}}}}}});
  return pod;
}

json HttpService() { return {{"metadata", {{"name", "llm"}}}}; }

struct Case {
  std::string name;
  json spec_patch;
  ObservedChildren children;
  Findings findings;
  std::string ready, progressing, degraded;  // "True/Reason"
  std::string message_has;                   // in the Degraded message (or Ready's when not degraded)
  std::string ready_text;
  std::string url;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::string StatusReason(const api::LLMServiceStatus& status, const std::string& type) {
  const api::Condition* c = FindCondition(status, type);
  return c ? c->status + "/" + c->reason : "missing";
}

class ObserveTable : public testing::TestWithParam<Case> {};

TEST_P(ObserveTable, Conditions) {
  const Case& c = GetParam();
  api::LLMServiceStatus status = Observe(Service(c.spec_patch), c.children, c.findings, "2026-01-01T00:00:00Z");
  EXPECT_EQ(StatusReason(status, kConditionReady), c.ready);
  EXPECT_EQ(StatusReason(status, kConditionProgressing), c.progressing);
  EXPECT_EQ(StatusReason(status, kConditionDegraded), c.degraded);
  const api::Condition* degraded = FindCondition(status, kConditionDegraded);
  const api::Condition* ready = FindCondition(status, kConditionReady);
  ASSERT_TRUE(degraded && ready);
  const std::string& message = degraded->status == "True" ? degraded->message : ready->message;
  EXPECT_NE(message.find(c.message_has), std::string::npos) << message;
  EXPECT_EQ(status.ready_text, c.ready_text);
  EXPECT_EQ(status.url, c.url);
  for (const api::Condition& cond : status.conditions) {
    EXPECT_FALSE(cond.message.empty()) << cond.type;
    EXPECT_EQ(cond.observed_generation, 3);
  }
}

const std::string kSvcUrl = "http://llm.ns.svc/v1";

INSTANTIATE_TEST_SUITE_P(
    Observe, ObserveTable,
    testing::Values(
        Case{"nothing_yet", {}, {}, {}, "False/WaitingForPods", "True/RollingOut", "False/AsExpected", "0 of 2", "0/2", ""},
        Case{"serving", {}, {.deployment = Deployment(2, 2, 2), .service = HttpService(),
                             .pods = {Pod("a", "Running", true), Pod("b", "Running", true)}},
             {}, "True/Serving", "False/Complete", "False/AsExpected", kSvcUrl, "2/2", kSvcUrl},
        Case{"rolling_out_new_generation", {}, {.deployment = Deployment(2, 2, 2, 2, 1), .service = HttpService()},
             {}, "True/Serving", "True/RollingOut", "False/AsExpected", "2 of 2", "2/2", kSvcUrl},
        Case{"old_pods_still_there", {}, {.deployment = Deployment(3, 2, 1), .service = HttpService()},
             {}, "True/Serving", "True/RollingOut", "False/AsExpected", "2 of 2", "2/2", kSvcUrl},
        Case{"loading_model", {}, {.deployment = Deployment(2, 1, 2), .service = HttpService(),
                                   .pods = {Pod("a", "Running", true), Pod("b", "Running", false)}},
             {}, "False/WaitingForPods", "True/LoadingModel", "False/AsExpected", "1 of 2", "1/2", kSvcUrl},
        Case{"unschedulable", {}, {.deployment = Deployment(2, 0, 2), .pods = {Unschedulable("b"), Unschedulable("a")}},
             {}, "False/WaitingForPods", "False/Unschedulable", "True/Unschedulable",
             "pod a cannot be scheduled: 0/2 nodes are available: 2 Insufficient nvidia.com/gpu.", "0/2", ""},
        Case{"crash_looping_wins_over_pending", {}, {.deployment = Deployment(2, 0, 2),
                                                     .pods = {Unschedulable("a"), Waiting("b", "CrashLoopBackOff")}},
             {}, "False/WaitingForPods", "False/CrashLooping", "True/CrashLooping", "restarted 7 times; last exit code 1 (Error)",
             "0/2", ""},
        Case{"image_pull", {}, {.deployment = Deployment(2, 0, 2), .pods = {Waiting("a", "ImagePullBackOff")}},
             {}, "False/WaitingForPods", "False/ImagePullFailed", "True/ImagePullFailed", "cannot pull image bad:1", "0/2", ""},
        Case{"config_error", {}, {.deployment = Deployment(2, 0, 2), .pods = {Waiting("a", "CreateContainerConfigError")}},
             {}, "False/WaitingForPods", "False/ContainerConfigError", "True/ContainerConfigError", "details", "0/2", ""},
        Case{"deleted_pods_do_not_count", {},
             {.deployment = Deployment(2, 2, 2), .service = HttpService(),
              .pods = {json::parse(R"({"metadata":{"name":"x","deletionTimestamp":"2026-01-01T00:00:00Z"},
                                       "status":{"containerStatuses":[{"name":"m","state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}})")}},
             {}, "True/Serving", "False/Complete", "False/AsExpected", "2 of 2", "2/2", kSvcUrl},
        Case{"deadline_exceeded", {},
             {.deployment = json::parse(R"({"metadata":{"name":"llm","generation":1},"spec":{"replicas":2},
                 "status":{"observedGeneration":1,"replicas":2,"updatedReplicas":2,"conditions":[
                 {"type":"Progressing","status":"False","reason":"ProgressDeadlineExceeded","message":"took too long"}]}})")},
             {}, "False/WaitingForPods", "False/ProgressDeadlineExceeded", "True/ProgressDeadlineExceeded", "took too long", "0/2", ""},
        Case{"invalid_spec", {}, {}, {.blocker = Blocker{"InvalidSpec", "spec.runtime.nodes: bad"}},
             "False/InvalidSpec", "False/InvalidSpec", "True/InvalidSpec", "spec.runtime.nodes: bad", "0/2", ""},
        Case{"missing_secret_keeps_old_children_serving", {},
             {.deployment = Deployment(2, 2, 2), .service = HttpService()},
             {.blocker = Blocker{"MissingSecret", "create it"}},
             "True/Serving", "False/Complete", "True/MissingSecret", "create it", "2/2", kSvcUrl},
        Case{"insufficient_gpus_before_scheduling", {}, {.deployment = Deployment(2, 0, 2)},
             {.advisory = Blocker{"InsufficientGPUs", "no node has more than 8"}},
             "False/WaitingForPods", "False/InsufficientGPUs", "True/InsufficientGPUs", "no node has more than 8", "0/2", ""},
        Case{"insufficient_gpus_with_scheduler_message", {}, {.deployment = Deployment(2, 0, 2), .pods = {Unschedulable("a")}},
             {.advisory = Blocker{"InsufficientGPUs", "no node has more than 8"}},
             "False/WaitingForPods", "False/Unschedulable", "True/Unschedulable",
             "2 Insufficient nvidia.com/gpu.; no node has more than 8", "0/2", ""},
        Case{"ingress_url", json::parse(R"({"ingress":{"enabled":true,"host":"llm.example.com","path":"/team/",
                                            "tls":{"secretName":"t"}}})"),
             {.deployment = Deployment(2, 2, 2), .service = HttpService(), .ingress = json::object()},
             {}, "True/Serving", "False/Complete", "False/AsExpected", "serving at https://llm.example.com/team/v1", "2/2",
             "https://llm.example.com/team/v1"},
        Case{"ingress_without_host_uses_its_address", json::parse(R"({"ingress":{"enabled":true}})"),
             {.deployment = Deployment(2, 2, 2), .service = HttpService(),
              .ingress = json::parse(R"({"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.7"}]}}})")},
             {}, "True/Serving", "False/Complete", "False/AsExpected", "2 of 2", "2/2", "http://203.0.113.7/v1"},
        Case{"scaled_to_zero", json::parse(R"({"replicas":0})"), {.deployment = json::parse(R"({"metadata":{"name":"llm","generation":1},"spec":{"replicas":0},
                                             "status":{"observedGeneration":1}})"),
              .service = HttpService()},
             {}, "False/ScaledToZero", "False/Complete", "False/AsExpected", "spec.replicas is 0", "0/0", kSvcUrl},
        Case{"multi_node_groups", json::parse(R"({"runtime":{"tensorParallel":4,"nodes":2}})"),
             {.statefulsets = {json::parse(R"({"metadata":{"name":"llm-0","generation":1},"spec":{"replicas":2},
                                "status":{"observedGeneration":1,"replicas":2,"readyReplicas":2,"updatedReplicas":2,
                                          "currentRevision":"r1","updateRevision":"r1"}})"),
                               json::parse(R"({"metadata":{"name":"llm-1","generation":1},"spec":{"replicas":2},
                                "status":{"observedGeneration":1,"replicas":2,"readyReplicas":1,"updatedReplicas":2,
                                          "currentRevision":"r0","updateRevision":"r1"}})")},
              .service = HttpService()},
             {}, "False/WaitingForPods", "True/RollingOut", "False/AsExpected", "1 of 2", "1/2", kSvcUrl}),
    [](const testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(Observe, TransitionTimeMovesOnlyWhenStatusFlips) {
  api::LLMService svc = Service();
  ObservedChildren waiting{.deployment = Deployment(2, 0, 2), .service = HttpService()};
  svc.status = Observe(svc, waiting, {}, "2026-01-01T00:00:00Z");
  api::LLMServiceStatus again = Observe(svc, waiting, {}, "2026-01-01T00:05:00Z");
  EXPECT_EQ(again, svc.status) << "same observation, later: nothing to write";

  // Ready flips; Degraded stays False (its time stays); Progressing changes reason but stays True.
  ObservedChildren ready{.deployment = Deployment(2, 2, 2), .service = HttpService()};
  api::LLMServiceStatus served = Observe(svc, ready, {}, "2026-01-01T00:10:00Z");
  EXPECT_EQ(FindCondition(served, kConditionReady)->last_transition_time, "2026-01-01T00:10:00Z");
  EXPECT_EQ(FindCondition(served, kConditionDegraded)->last_transition_time, "2026-01-01T00:00:00Z");
  EXPECT_EQ(FindCondition(served, kConditionProgressing)->last_transition_time, "2026-01-01T00:10:00Z");

  svc.status = served;
  api::LLMServiceStatus loading = Observe(svc, {.deployment = Deployment(2, 2, 2), .service = HttpService(),
                                                .pods = {Pod("a", "Running", false)}},
                                          {}, "2026-01-01T00:20:00Z");
  EXPECT_EQ(FindCondition(loading, kConditionReady)->last_transition_time, "2026-01-01T00:10:00Z");
}

TEST(Observe, StatusFieldsFromSpec) {
  api::LLMServiceStatus status = Observe(Service(), {}, {}, "2026-01-01T00:00:00Z");
  EXPECT_EQ(status.observed_generation, 3);
  EXPECT_EQ(status.selector, "app.kubernetes.io/name=mixserve,mixserve.io/llmservice=llm");
  EXPECT_EQ(status.served_names, std::vector<std::string>{"org/model"});
  ASSERT_EQ(status.conditions.size(), 3u);
  EXPECT_EQ(status.conditions[0].type, "Ready");
  EXPECT_EQ(status.conditions[1].type, "Progressing");
  EXPECT_EQ(status.conditions[2].type, "Degraded");
}

TEST(Observe, NowIsRfc3339) {
  std::string now = NowRfc3339();
  ASSERT_EQ(now.size(), 20u) << now;
  EXPECT_EQ(now[4], '-');
  EXPECT_EQ(now[10], 'T');
  EXPECT_EQ(now.back(), 'Z');
}

}  // namespace
}  // namespace mixserve::controller
