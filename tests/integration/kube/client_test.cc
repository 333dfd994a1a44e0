// Client against a real kube-apiserver (hack/cluster.sh): server-side apply is idempotent, status
// goes through the status subresource, errors are typed, watches stream and stop, 410 is Gone,
// Events are deduplicated.
#include <gtest/gtest.h>

#include <future>
#include <vector>

#include "operator/kube/client.h"
#include "operator/kube/events.h"
#include "tests/integration/kube/test_cluster.h"

namespace mixserve::kube {
namespace {

using nlohmann::json;

const char kManager[] = "mixserve-kube-test";

using ClientTest = ClusterClientSuite;

std::string RV(const json& object) { return object["metadata"].value("resourceVersion", ""); }

TEST_F(ClientTest, ApplyTwiceLeavesResourceVersionUnchanged) {
  const std::string ns = cluster_->NewNamespace("apply");
  json deployment = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", "web"}, {"namespace", ns}, {"labels", {{"app", "web"}}}}},
      {"spec",
       {{"replicas", 1},
        {"selector", {{"matchLabels", {{"app", "web"}}}}},
        {"template",
         {{"metadata", {{"labels", {{"app", "web"}}}}},
          {"spec", {{"containers", json::array({{{"name", "main"}, {"image", "mixserve:test"}}})}}}}}}}};
  const int64_t writes_before = client_->counters().writes();
  const json config = ConfigMap(ns, "settings", {{"k", "v"}});
  auto first = client_->Apply(config, kManager);
  ASSERT_TRUE(first.ok()) << first.status().message();
  auto second = client_->Apply(config, kManager);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(RV(*first), RV(*second)) << "an unchanged apply must not write a new version";
  EXPECT_EQ(client_->counters().writes() - writes_before, 2) << "each Apply is one PATCH";

  // A Deployment's status is written by kube-controller-manager meanwhile, so its resourceVersion
  // moves; its generation counts spec changes and must not move on an unchanged apply.
  auto dep1 = client_->Apply(deployment, kManager);
  ASSERT_TRUE(dep1.ok()) << dep1.status().message();
  auto dep2 = client_->Apply(deployment, kManager);
  ASSERT_TRUE(dep2.ok()) << dep2.status().message();
  EXPECT_EQ((*dep1)["metadata"]["generation"], (*dep2)["metadata"]["generation"]);

  // The field manager owns what it applied: a change goes through and bumps the generation.
  deployment["spec"]["replicas"] = 2;
  auto third = client_->Apply(deployment, kManager);
  ASSERT_TRUE(third.ok()) << third.status().message();
  EXPECT_EQ((*third)["metadata"]["generation"].get<int64_t>(), (*dep2)["metadata"]["generation"].get<int64_t>() + 1);
  EXPECT_EQ((*third)["spec"]["replicas"], 2);
  bool managed = false;
  for (const auto& entry : (*third)["metadata"]["managedFields"]) {
    if (entry.value("manager", "") == kManager && entry.value("operation", "") == "Apply") managed = true;
  }
  EXPECT_TRUE(managed) << "server-side apply records the field manager";

  auto got = client_->Get(kDeploymentKind, ns, "web");
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ((*got)["spec"]["replicas"], 2);
  EXPECT_EQ(client_->counters().Count("PATCH"), 5);
  EXPECT_GE((client_->counters().Snapshot()[{"PATCH", 201}]), 1) << "an apply that creates answers 201";
}

TEST_F(ClientTest, ApplyStatusWritesOnlyTheStatusSubresource) {
  int rc = 0;
  std::string out = testing::RunCommand(std::string(std::getenv("HOME")) + "/.cache/mixserve/bin/kubectl --kubeconfig " +
                                            cluster_->dir() + "/kubeconfig apply -f " + testing::RepoRoot() +
                                            "/crds/mixserve.io_llmservices.yaml 2>&1",
                                        &rc);
  ASSERT_EQ(rc, 0) << out;
  const std::string ns = cluster_->NewNamespace("status");
  json svc = {{"apiVersion", "mixserve.io/v1alpha1"},
              {"kind", "LLMService"},
              {"metadata", {{"name", "m"}, {"namespace", ns}}},
              {"spec", {{"model", {{"uri", "hf://mistralai/Mistral-7B-Instruct-v0.3"}}}}}};
  // The CRD may take a moment to be served after it is created.
  Result<json> applied = Status::Unavailable("not yet");
  ASSERT_TRUE(Eventually([&] { return (applied = client_->Apply(svc, kManager)).ok(); }))
      << applied.status().message();
  json status = {{"apiVersion", "mixserve.io/v1alpha1"},
                 {"kind", "LLMService"},
                 {"metadata", {{"name", "m"}, {"namespace", ns}}},
                 {"status", {{"observedGeneration", 1}, {"url", "http://m." + ns + ".svc:8000/v1"}}}};
  auto first = client_->ApplyStatus(status, kManager);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ((*first)["status"]["url"], "http://m." + ns + ".svc:8000/v1");
  auto second = client_->ApplyStatus(status, kManager);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(RV(*first), RV(*second)) << "an unchanged status apply must not write";

  // Status applied to the main resource is ignored: the status subresource is the only way in.
  json sneaky = svc;
  sneaky["status"] = {{"url", "http://wrong"}};
  auto main = client_->Apply(sneaky, kManager);
  ASSERT_TRUE(main.ok()) << main.status().message();
  EXPECT_EQ((*main)["status"]["url"], "http://m." + ns + ".svc:8000/v1");
}

TEST_F(ClientTest, ErrorsAreTyped) {
  const std::string ns = cluster_->NewNamespace("errors");
  auto missing = client_->Get(kConfigMapKind, ns, "absent");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(IsNotFound(missing.status())) << missing.status().message();
  EXPECT_NE(missing.status().message().find("\"absent\" not found"), std::string::npos) << missing.status().message();

  auto created = client_->Create(kConfigMapKind, ns, ConfigMap(ns, "cm", {{"k", "v1"}}));
  ASSERT_TRUE(created.ok()) << created.status().message();
  auto again = client_->Create(kConfigMapKind, ns, ConfigMap(ns, "cm", {{"k", "v1"}}));
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(IsAlreadyExists(again.status())) << again.status().message();

  json stale = *created;
  json fresh = *created;
  fresh["data"]["k"] = "v2";
  auto updated = client_->Update(kConfigMapKind, ns, fresh);
  ASSERT_TRUE(updated.ok()) << updated.status().message();
  stale["data"]["k"] = "v3";
  auto conflict = client_->Update(kConfigMapKind, ns, stale);
  ASSERT_FALSE(conflict.ok());
  EXPECT_TRUE(IsConflict(conflict.status())) << conflict.status().message();
  EXPECT_NE(conflict.status().message().find("the object has been modified"), std::string::npos);

  auto invalid = client_->Create(kConfigMapKind, ns, ConfigMap(ns, "Not_A_Name", {}));
  ASSERT_FALSE(invalid.ok());
  EXPECT_TRUE(IsInvalid(invalid.status())) << invalid.status().message();

  EXPECT_TRUE(client_->Delete(kConfigMapKind, ns, "cm").ok());
  EXPECT_TRUE(IsNotFound(client_->Delete(kConfigMapKind, ns, "cm")));
  auto counts = client_->counters().Snapshot();
  EXPECT_GE((counts[{"GET", 404}]), 1);
  EXPECT_GE((counts[{"PUT", 409}]), 1);
  EXPECT_GE((counts[{"POST", 409}]), 1);
}

TEST_F(ClientTest, WatchStreamsAddModifyDeleteAndStops) {
  const std::string ns = cluster_->NewNamespace("watch");
  auto list = client_->List(kConfigMapKind, ns, "suite=kube");
  ASSERT_TRUE(list.ok()) << list.status().message();
  const std::string from = (*list)["metadata"]["resourceVersion"];

  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> events;
  std::atomic<bool> stop{false};
  auto watch = std::async(std::launch::async, [&] {
    return client_->Watch(kConfigMapKind, ns, from, "suite=kube", 300,
                          [&](const std::string& type, const json& object) {
                            if (type == "BOOKMARK") return;
                            std::lock_guard<std::mutex> lock(mu);
                            events.push_back(type + " " + object["metadata"].value("name", "") + " " +
                                             object["data"].value("k", ""));
                            cv.notify_all();
                          },
                          [&] { return stop.load(); });
  });
  ASSERT_TRUE(client_->Create(kConfigMapKind, ns, ConfigMap(ns, "w", {{"k", "1"}})).ok());
  ASSERT_TRUE(client_->Apply(ConfigMap(ns, "w", {{"k", "2"}}), kManager).ok());
  ASSERT_TRUE(client_->Delete(kConfigMapKind, ns, "w").ok());
  {
    std::unique_lock<std::mutex> lock(mu);
    EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return events.size() >= 3; }));
  }
  stop = true;
  // A stopped watch returns although the server would keep it open for 300 s.
  ASSERT_EQ(watch.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  Status ended = watch.get();
  EXPECT_TRUE(ended.ok()) << ended.message();
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0], "ADDED w 1");
  EXPECT_EQ(events[1], "MODIFIED w 2");
  EXPECT_EQ(events[2], "DELETED w 2");
  EXPECT_GE(client_->counters().Count("WATCH"), 1);
}

TEST_F(ClientTest, WatchEndsOkWhenTheServerEndsIt) {
  const std::string ns = cluster_->NewNamespace("timeout");
  auto list = client_->List(kConfigMapKind, ns);
  ASSERT_TRUE(list.ok()) << list.status().message();
  auto watch = std::async(std::launch::async, [&] {
    return client_->Watch(kConfigMapKind, ns, (*list)["metadata"]["resourceVersion"], "", 1,
                          [](const std::string&, const json&) {}, [] { return false; });
  });
  ASSERT_EQ(watch.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  Status ended = watch.get();
  EXPECT_TRUE(ended.ok()) << ended.message();
}

TEST_F(ClientTest, WatchFromCompactedVersionIsGone) {
  const std::string ns = cluster_->NewNamespace("gone");
  ASSERT_TRUE(client_->Create(kEventKind, ns, Event(ns, "e", "1")).ok());
  Status compacted = cluster_->CompactEtcd();
  ASSERT_TRUE(compacted.ok()) << compacted.message();
  int events = 0;
  Status s = client_->Watch(kEventKind, ns, "1", "", 10, [&](const std::string&, const json&) { ++events; },
                            [] { return false; });
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(IsGone(s)) << s.message();
  EXPECT_EQ(events, 0);
}

TEST_F(ClientTest, EventsAreRecordedAndDeduplicated) {
  const std::string ns = cluster_->NewNamespace("events");
  auto cm = client_->Create(kConfigMapKind, ns, ConfigMap(ns, "subject", {}));
  ASSERT_TRUE(cm.ok()) << cm.status().message();
  json subject = *cm;
  subject["apiVersion"] = "v1";
  subject["kind"] = "ConfigMap";
  EventRecorder recorder(client_.get(), "mixserve-operator");
  ASSERT_TRUE(recorder.Record(subject, "Warning", "Unschedulable", "0/2 nodes have enough nvidia.com/gpu").ok());
  ASSERT_TRUE(recorder.Record(subject, "Warning", "Unschedulable", "0/2 nodes have enough nvidia.com/gpu").ok());
  ASSERT_TRUE(recorder.Record(subject, "Normal", "Serving", "all replicas ready").ok());
  auto list = client_->List(kEventKind, ns);
  ASSERT_TRUE(list.ok()) << list.status().message();
  ASSERT_EQ((*list)["items"].size(), 2u) << list->dump();
  for (const auto& e : (*list)["items"]) {
    EXPECT_EQ(e["involvedObject"]["name"], "subject");
    EXPECT_EQ(e["involvedObject"]["uid"], subject["metadata"]["uid"]);
    EXPECT_EQ(e["source"]["component"], "mixserve-operator");
    if (e["reason"] == "Unschedulable") {
      EXPECT_EQ(e["count"], 2) << "a repeat bumps count instead of adding an Event";
      EXPECT_EQ(e["type"], "Warning");
      EXPECT_EQ(e["message"], "0/2 nodes have enough nvidia.com/gpu");
    } else {
      EXPECT_EQ(e["reason"], "Serving");
      EXPECT_EQ(e["count"], 1);
    }
  }
}

}  // namespace
}  // namespace mixserve::kube
