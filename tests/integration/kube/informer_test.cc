// Informer against a real kube-apiserver: cache and handlers follow changes; a resume from a
// compacted resourceVersion (410) relists and synthesises the changes it missed; the informer
// survives a kube-apiserver restart and sees changes made after it.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <vector>

#include "operator/kube/informer.h"
#include "tests/integration/kube/test_cluster.h"

namespace mixserve::kube {
namespace {

using nlohmann::json;

// Records handler calls as "TYPE name data.k".
class Recorder {
 public:
  Informer::Handler Handler() {
    return [this](const std::string& type, const json& object) {
      std::lock_guard<std::mutex> lock(mu_);
      // ConfigMaps carry their test value in data.k, Events in message.
      std::string k = object.contains("data") ? object["data"].value("k", "") : object.value("message", "");
      events_.push_back(type + " " + object["metadata"].value("name", "") + " " + k);
    };
  }
  bool Saw(const std::string& event) const {
    std::lock_guard<std::mutex> lock(mu_);
    return std::find(events_.begin(), events_.end(), event) != events_.end();
  }
  std::vector<std::string> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    events_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> events_;
};

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "; ";
  return out;
}

using InformerTest = ClusterClientSuite;

TEST_F(InformerTest, CacheAndHandlersFollowChanges) {
  const std::string ns = cluster_->NewNamespace("inf");
  ASSERT_TRUE(client_->Create(kConfigMapKind, ns, ConfigMap(ns, "a", {{"k", "1"}})).ok());
  ASSERT_TRUE(client_->Create(kConfigMapKind, ns, ConfigMap(ns, "b", {{"k", "1"}})).ok());
  Informer informer(client_.get(), kConfigMapKind, ns, "suite=kube");
  Recorder rec;
  std::atomic<int> with_managed_fields{0};
  informer.SetTransform([](json& object) { object["metadata"].erase("managedFields"); });
  informer.AddHandler(rec.Handler());
  informer.AddHandler([&](const std::string&, const json& object) {
    if (object["metadata"].contains("managedFields")) ++with_managed_fields;
  });
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(60))) << informer.last_error();
  EXPECT_EQ(informer.List(ns).size(), 2u);
  EXPECT_TRUE(rec.Saw("ADDED a 1")) << Join(rec.events());
  EXPECT_TRUE(rec.Saw("ADDED b 1")) << Join(rec.events());
  auto a = informer.Get(ns, "a");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ((*a)["kind"], "ConfigMap") << "listed objects carry their kind like watched ones";

  ASSERT_TRUE(client_->Create(kConfigMapKind, ns, ConfigMap(ns, "c", {{"k", "1"}})).ok());
  ASSERT_TRUE(client_->Apply(ConfigMap(ns, "a", {{"k", "2"}}), "kube-test").ok());
  ASSERT_TRUE(client_->Delete(kConfigMapKind, ns, "b").ok());
  // Not selected by the label selector: never seen.
  json other = ConfigMap(ns, "other", {});
  other["metadata"]["labels"] = {{"suite", "else"}};
  ASSERT_TRUE(client_->Create(kConfigMapKind, ns, other).ok());
  EXPECT_TRUE(Eventually([&] { return rec.Saw("DELETED b 1"); })) << Join(rec.events());
  EXPECT_TRUE(rec.Saw("ADDED c 1")) << Join(rec.events());
  EXPECT_TRUE(rec.Saw("MODIFIED a 2")) << Join(rec.events());
  EXPECT_FALSE(informer.Get(ns, "b").has_value());
  ASSERT_TRUE(informer.Get(ns, "a").has_value());
  EXPECT_EQ((*informer.Get(ns, "a"))["data"]["k"], "2");
  EXPECT_FALSE(informer.Get(ns, "other").has_value());
  EXPECT_EQ(informer.relists(), 1);
  EXPECT_EQ(with_managed_fields.load(), 0) << "the transform runs before handlers";
  EXPECT_FALSE((*informer.Get(ns, "a"))["metadata"].contains("managedFields")) << "and before caching";
  informer.Stop();
}

TEST_F(InformerTest, GoneRelistsAndSynthesisesMissedChanges) {
  const std::string ns = cluster_->NewNamespace("gone");
  ASSERT_TRUE(client_->Create(kEventKind, ns, Event(ns, "keep", "1")).ok());
  ASSERT_TRUE(client_->Create(kEventKind, ns, Event(ns, "change", "1")).ok());
  ASSERT_TRUE(client_->Create(kEventKind, ns, Event(ns, "vanish", "1")).ok());
  Informer informer(client_.get(), kEventKind, ns);
  Recorder rec;
  informer.AddHandler(rec.Handler());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(60))) << informer.last_error();
  EXPECT_EQ(informer.relists(), 1);
  informer.Stop();
  rec.Clear();

  // Changes the informer cannot see while it is stopped...
  ASSERT_TRUE(client_->MergePatch(kEventKind, ns, "change", {{"message", "2"}}).ok());
  ASSERT_TRUE(client_->Delete(kEventKind, ns, "vanish").ok());
  ASSERT_TRUE(client_->Create(kEventKind, ns, Event(ns, "new", "1")).ok());
  // ...and a resume from a version compacted away: the server answers 410, the informer relists.
  Status compacted = cluster_->CompactEtcd();
  ASSERT_TRUE(compacted.ok()) << compacted.message();
  informer.ResumeFrom("1");
  informer.Start();
  EXPECT_TRUE(Eventually([&] { return informer.relists() >= 2; })) << informer.last_error();
  EXPECT_TRUE(Eventually([&] { return rec.Saw("ADDED new 1"); })) << Join(rec.events());
  EXPECT_TRUE(rec.Saw("DELETED vanish 1")) << Join(rec.events());
  EXPECT_TRUE(rec.Saw("MODIFIED change 2")) << Join(rec.events());
  EXPECT_FALSE(rec.Saw("MODIFIED keep 1")) << "unchanged objects produce no event: " << Join(rec.events());
  EXPECT_EQ(informer.List().size(), 3u);
  EXPECT_FALSE(informer.Get(ns, "vanish").has_value());
  informer.Stop();
}

TEST_F(InformerTest, SurvivesApiserverRestart) {
  const std::string ns = cluster_->NewNamespace("restart");
  ASSERT_TRUE(client_->Create(kConfigMapKind, ns, ConfigMap(ns, "before", {{"k", "1"}})).ok());
  Informer informer(client_.get(), kConfigMapKind, ns);
  Recorder rec;
  informer.AddHandler(rec.Handler());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(60))) << informer.last_error();
  const int64_t watches_before = informer.watches();

  Status restarted = cluster_->RestartApiserver();
  ASSERT_TRUE(restarted.ok()) << restarted.message();

  // The informer reconnects on its own and sees changes made after the restart.
  Result<json> created = Status::Unavailable("not yet");
  ASSERT_TRUE(Eventually([&] {
    return (created = client_->Create(kConfigMapKind, ns, ConfigMap(ns, "after", {{"k", "1"}}))).ok() ||
           IsAlreadyExists(created.status());
  })) << created.status().message();
  ASSERT_TRUE(client_->Apply(ConfigMap(ns, "before", {{"k", "2"}}), "kube-test").ok());
  EXPECT_TRUE(Eventually([&] { return informer.Get(ns, "after").has_value(); })) << informer.last_error();
  EXPECT_TRUE(Eventually([&] {
    auto before = informer.Get(ns, "before");
    return before && (*before)["data"]["k"] == "2";
  })) << Join(rec.events());
  EXPECT_TRUE(rec.Saw("ADDED after 1")) << Join(rec.events());
  EXPECT_GT(informer.watches(), watches_before) << "the watch was re-established";
  informer.Stop();
}

}  // namespace
}  // namespace mixserve::kube
