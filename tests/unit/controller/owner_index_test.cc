// OwnerIndex: children found by their controller owner's uid, pods by their LLMService label,
// following adds, relabels, owner changes and deletes.
#include "operator/controller/owner_index.h"

#include <gtest/gtest.h>

namespace mixserve::controller {
namespace {

using nlohmann::json;
using Children = std::vector<std::pair<std::string, std::string>>;

json Child(const std::string& name, const std::string& owner_uid, bool controller = true) {
  return {{"metadata", {{"name", name}, {"namespace", "ns"},
                        {"ownerReferences", json::array({{{"kind", "LLMService"}, {"name", "llm"}, {"uid", owner_uid},
                                                          {"controller", controller}}})}}}};
}

json Pod(const std::string& name, const std::string& label) {
  return {{"metadata", {{"name", name}, {"namespace", "ns"}, {"labels", {{"mixserve.io/llmservice", label}}}}}};
}

TEST(OwnerIndex, ChildrenByControllerUid) {
  OwnerIndex index;
  index.Update("ADDED", "Deployment", Child("llm", "u1"));
  index.Update("ADDED", "Service", Child("llm", "u1"));
  index.Update("ADDED", "Service", Child("other", "u2"));
  index.Update("ADDED", "Ingress", Child("not-controller", "u1", false));
  EXPECT_EQ(index.Children("u1"), (Children{{"Deployment", "llm"}, {"Service", "llm"}}));
  EXPECT_EQ(index.Children("u2"), (Children{{"Service", "other"}}));
  EXPECT_TRUE(index.Children("u3").empty());

  index.Update("MODIFIED", "Service", Child("other", "u1"));  // owner changed
  EXPECT_EQ(index.Children("u1"), (Children{{"Deployment", "llm"}, {"Service", "llm"}, {"Service", "other"}}));
  EXPECT_TRUE(index.Children("u2").empty());

  index.Update("DELETED", "Deployment", Child("llm", "u1"));
  EXPECT_EQ(index.Children("u1"), (Children{{"Service", "llm"}, {"Service", "other"}}));
}

TEST(OwnerIndex, PodsByLabel) {
  OwnerIndex index;
  index.Update("ADDED", "Pod", Pod("b", "llm"));
  index.Update("ADDED", "Pod", Pod("a", "llm"));
  index.Update("ADDED", "Pod", Pod("c", "other"));
  EXPECT_EQ(index.Pods("ns", "llm"), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(index.Pods("elsewhere", "llm").empty());
  index.Update("MODIFIED", "Pod", Pod("b", "other"));
  EXPECT_EQ(index.Pods("ns", "llm"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(index.Pods("ns", "other"), (std::vector<std::string>{"b", "c"}));
  index.Update("DELETED", "Pod", Pod("a", "llm"));
  EXPECT_TRUE(index.Pods("ns", "llm").empty());
}

}  // namespace
}  // namespace mixserve::controller
