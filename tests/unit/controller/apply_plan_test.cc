// Apply planning: a converged child needs no apply; edits, deletions and spec changes do.
#include "operator/controller/apply_plan.h"

#include <gtest/gtest.h>

#include "operator/controller/metrics.h"

namespace mixserve::controller {
namespace {

using nlohmann::json;

json Desired() {
  return json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment",
    "metadata":{"name":"llm","namespace":"ns","labels":{"a":"b"},
                "ownerReferences":[{"uid":"u1","controller":true,"kind":"LLMService","name":"llm"}]},
    "spec":{"replicas":1,"template":{"spec":{"containers":[{"name":"m","image":"i:1",
      "resources":{"limits":{"nvidia.com/gpu":2}},
      "volumeMounts":[{"name":"v","mountPath":"/m","readOnly":false}]}]}}}})");
}

// What the API server stores for Desired(): no apiVersion/kind in list items, defaults added,
// zero values dropped, quantities as strings, status and other managers' labels present.
json Live(const json& stamped) {
  json live = json::parse(R"({"metadata":{"name":"llm","namespace":"ns","resourceVersion":"7","labels":{"a":"b","x":"y"},
      "ownerReferences":[{"uid":"u1","controller":true,"kind":"LLMService","name":"llm","apiVersion":"mixserve.io/v1alpha1"}]},
    "spec":{"replicas":1,"revisionHistoryLimit":10,"template":{"spec":{"containers":[{"name":"m","image":"i:1",
      "imagePullPolicy":"IfNotPresent","resources":{"limits":{"nvidia.com/gpu":"2"}},
      "volumeMounts":[{"name":"v","mountPath":"/m"}]}]}}},
    "status":{"replicas":1}})");
  live["metadata"]["annotations"] = stamped["metadata"]["annotations"];
  return live;
}

TEST(ApplyPlan, ConvergedChildNeedsNothing) {
  json stamped = StampRenderedHash(Desired());
  EXPECT_FALSE(NeedsApply(stamped, Live(stamped)));
}

TEST(ApplyPlan, MissingEditedOrChangedChildNeedsApply) {
  json stamped = StampRenderedHash(Desired());
  EXPECT_TRUE(NeedsApply(stamped, nullptr));

  json edited = Live(stamped);
  edited["spec"]["template"]["spec"]["containers"][0]["image"] = "i:2";
  EXPECT_TRUE(NeedsApply(stamped, edited));

  json scaled = Live(stamped);
  scaled["spec"]["replicas"] = 3;
  EXPECT_TRUE(NeedsApply(stamped, scaled));

  json unlabelled = Live(stamped);
  unlabelled["metadata"]["labels"].erase("a");
  EXPECT_TRUE(NeedsApply(stamped, unlabelled));

  json read_only = Live(stamped);
  read_only["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["readOnly"] = true;
  EXPECT_TRUE(NeedsApply(stamped, read_only));

  // A new spec renders a new hash even when every old field is still in place (a field was dropped).
  json newer = Desired();
  newer["metadata"]["labels"].erase("a");
  json newer_stamped = StampRenderedHash(newer);
  EXPECT_TRUE(NeedsApply(newer_stamped, Live(stamped)));
}

TEST(ApplyPlan, HashIsStableAndIgnoresItsOwnAnnotation) {
  EXPECT_EQ(ContentHash(Desired()), ContentHash(Desired()));
  EXPECT_EQ(ContentHash(Desired()).size(), 16u);
  json stamped = StampRenderedHash(Desired());
  EXPECT_EQ(stamped["metadata"]["annotations"][kRenderedHashAnnotation], ContentHash(Desired()));
  json other = Desired();
  other["spec"]["replicas"] = 2;
  EXPECT_NE(ContentHash(other), ContentHash(Desired()));
}

TEST(ApplyPlan, ControlledByAndOrphans) {
  json mine = Desired();
  EXPECT_TRUE(ControlledBy(mine, "u1"));
  EXPECT_FALSE(ControlledBy(mine, "u2"));
  json ingress = {{"kind", "Ingress"}, {"metadata", {{"name", "llm"}}}};
  json service = {{"kind", "Service"}, {"metadata", {{"name", "llm"}}}};
  auto orphans = Orphans({mine, ingress, service}, {Desired(), service});
  ASSERT_EQ(orphans.size(), 1u);
  EXPECT_EQ(ChildId(orphans[0]), "Ingress/llm");
}

TEST(ReconcileMetrics, PrometheusText) {
  ReconcileMetrics metrics;
  metrics.Record("success", 0.003);
  metrics.Record("success", 0.2);
  metrics.Record("error", 2);
  EXPECT_EQ(metrics.Count("success"), 2);
  const std::string text = metrics.PrometheusText();
  EXPECT_NE(text.find("mixserve_operator_reconcile_total{result=\"success\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mixserve_operator_reconcile_errors_total 1\n"), std::string::npos);
  EXPECT_NE(text.find("mixserve_operator_reconcile_duration_seconds_bucket{result=\"success\",le=\"0.005\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("mixserve_operator_reconcile_duration_seconds_bucket{result=\"success\",le=\"0.25\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("mixserve_operator_reconcile_duration_seconds_bucket{result=\"error\",le=\"+Inf\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("# TYPE mixserve_operator_reconcile_duration_seconds histogram\n"), std::string::npos);
}

}  // namespace
}  // namespace mixserve::controller
