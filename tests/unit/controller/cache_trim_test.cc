// TrimForCache: the cached copy keeps what the controller reads and drops the bulk.
#include "operator/controller/cache_trim.h"

#include <gtest/gtest.h>

#include "operator/controller/observe.h"

namespace mixserve::controller {
namespace {

using nlohmann::json;

const json kMeta = json::parse(R"({"name":"p","namespace":"ns","uid":"u","resourceVersion":"9",
  "labels":{"mixserve.io/llmservice":"llm"},"ownerReferences":[{"kind":"ReplicaSet","name":"rs","uid":"r"}],
  "annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{...}","mixserve.io/rendered-hash":"h"},
  "managedFields":[{"manager":"kubelet"}]})");

TEST(TrimForCache, DropsManagedFieldsAndLastAppliedEverywhere) {
  json deployment = {{"metadata", kMeta}, {"spec", {{"replicas", 2}}}, {"status", {{"readyReplicas", 1}}}};
  TrimForCache("Deployment", deployment);
  EXPECT_FALSE(deployment["metadata"].contains("managedFields"));
  EXPECT_EQ(deployment["metadata"]["annotations"], json({{"mixserve.io/rendered-hash", "h"}}));
  EXPECT_EQ(deployment["spec"]["replicas"], 2);
  EXPECT_EQ(deployment["status"]["readyReplicas"], 1);
  EXPECT_EQ(deployment["metadata"]["resourceVersion"], "9");
}

TEST(TrimForCache, PodsKeepWhatObserveReads) {
  json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", kMeta},
              {"spec", {{"containers", json::array({{{"name", "m"}, {"image", "i"}}})}}},
              {"status", json::parse(R"({"phase":"Pending","podIP":"10.0.0.1","conditions":[{"type":"PodScheduled",
                  "status":"False","reason":"Unschedulable","message":"0/2 nodes are available"}]})")}};
  json before = pod;
  TrimForCache("Pod", pod);
  EXPECT_FALSE(pod.contains("spec"));
  EXPECT_FALSE(pod["metadata"].contains("annotations"));
  EXPECT_FALSE(pod["status"].contains("podIP"));
  EXPECT_EQ(pod["metadata"]["labels"], kMeta["labels"]);
  EXPECT_EQ(pod["metadata"]["ownerReferences"], kMeta["ownerReferences"]);
  EXPECT_EQ(pod["kind"], "Pod");

  // Observe reads the same from the trimmed pod as from the full one.
  api::LLMService svc;
  svc.metadata.name = "llm";
  svc.metadata.namespace_ = "ns";
  svc.metadata.uid = "x";
  svc.metadata.generation = 1;
  svc.spec.model.uri = "hf://org/m";
  auto full = Observe(svc, {.pods = {before}}, {}, "2026-01-01T00:00:00Z");
  auto trimmed = Observe(svc, {.pods = {pod}}, {}, "2026-01-01T00:00:00Z");
  EXPECT_EQ(full, trimmed);
  EXPECT_EQ(FindCondition(trimmed, kConditionDegraded)->reason, "Unschedulable");
}

TEST(TrimForCache, NodesKeepAllocatable) {
  json node = {{"metadata", {{"name", "n"}, {"labels", {{"a", "b"}}}, {"managedFields", json::array()}}},
               {"spec", {{"podCIDR", "x"}}},
               {"status", {{"allocatable", {{"nvidia.com/gpu", "8"}}}, {"images", json::array({"big"})}}}};
  TrimForCache("Node", node);
  EXPECT_EQ(node, json::parse(R"({"metadata":{"name":"n","labels":{"a":"b"}},"status":{"allocatable":{"nvidia.com/gpu":"8"}}})"));
}

}  // namespace
}  // namespace mixserve::controller
