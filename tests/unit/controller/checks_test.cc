// Checks the schema cannot make: Secrets that must exist, GPUs per node against the nodes' capacity.
#include "operator/controller/checks.h"

#include <gtest/gtest.h>

#include "operator/api/llmservice_json.h"

namespace mixserve::controller {
namespace {

using nlohmann::json;

api::LLMService Service(const json& spec) {
  auto service = api::LLMServiceFromJson(
      {{"metadata", {{"name", "llm"}, {"namespace", "team"}, {"uid", "u"}}}, {"spec", spec}});
  EXPECT_TRUE(service.ok()) << service.status().message();
  return service.ok() ? *service : api::LLMService{};
}

const json kWithSecrets = json::parse(R"({"model":{"uri":"hf://org/m","tokenSecretRef":{"name":"hf"}},
                                          "auth":{"apiKeySecretRef":{"name":"keys","key":"k"}}})");

TEST(CheckSecrets, ReferencedWithDefaultKeys) {
  auto refs = ReferencedSecrets(Service(kWithSecrets));
  ASSERT_EQ(refs.size(), 2u);
  EXPECT_EQ(refs[0].name, "hf");
  EXPECT_EQ(refs[0].key, "token");
  EXPECT_EQ(refs[1].field, "spec.auth.apiKeySecretRef");
  EXPECT_EQ(refs[1].key, "k");
}

TEST(CheckSecrets, MissingSecretSaysHowToCreateIt) {
  auto blocker = CheckSecrets(Service(kWithSecrets), [](const std::string& name) -> std::optional<json> {
    if (name == "hf") return json{{"data", {{"token", "eA=="}}}};
    return std::nullopt;
  });
  ASSERT_TRUE(blocker);
  EXPECT_EQ(blocker->reason, "MissingSecret");
  EXPECT_EQ(blocker->message,
            "Secret keys (spec.auth.apiKeySecretRef) does not exist in namespace team: create it with "
            "`kubectl create secret generic keys -n team --from-literal=k=<value>`");
}

TEST(CheckSecrets, MissingKey) {
  auto blocker = CheckSecrets(Service(kWithSecrets), [](const std::string&) -> std::optional<json> {
    return json{{"data", {{"other", "eA=="}}}};
  });
  ASSERT_TRUE(blocker);
  EXPECT_NE(blocker->message.find("Secret hf (spec.model.tokenSecretRef) in namespace team has no key token"),
            std::string::npos) << blocker->message;
}

TEST(CheckSecrets, AllPresentOrNoneReferenced) {
  auto all = [](const std::string&) -> std::optional<json> { return json{{"data", {{"token", ""}, {"k", ""}}}}; };
  EXPECT_FALSE(CheckSecrets(Service(kWithSecrets), all));
  int lookups = 0;
  EXPECT_FALSE(CheckSecrets(Service({{"model", {{"uri", "hf://org/m"}}}}), [&](const std::string&) -> std::optional<json> {
    ++lookups;
    return std::nullopt;
  }));
  EXPECT_EQ(lookups, 0);
}

json Node(const std::string& gpus) { return {{"status", {{"allocatable", {{"cpu", "64"}, {"nvidia.com/gpu", gpus}}}}}}; }

TEST(CheckGpuCapacity, MoreThanAnyNodeHas) {
  api::LLMService svc = Service(json::parse(R"({"model":{"uri":"hf://org/m"},"runtime":{"tensorParallel":16},
                                                "resources":{"gpusPerNode":16}})"));
  auto blocker = CheckGpuCapacity(svc, {Node("8"), Node("4")});
  ASSERT_TRUE(blocker);
  EXPECT_EQ(blocker->reason, "InsufficientGPUs");
  EXPECT_NE(blocker->message.find("gpusPerNode is 16 but no node has more than 8 nvidia.com/gpu"), std::string::npos);
  EXPECT_FALSE(CheckGpuCapacity(svc, {Node("8"), Node("16")}));
  EXPECT_FALSE(CheckGpuCapacity(svc, {})) << "no nodes listed: nothing known";
  EXPECT_TRUE(CheckGpuCapacity(svc, {json{{"status", {{"allocatable", {{"cpu", "64"}}}}}}})) << "no GPUs at all";
}

TEST(CheckGpuCapacity, DefaultsFromTensorParallel) {
  api::LLMService svc = Service(json::parse(R"({"model":{"uri":"hf://org/m"},"runtime":{"tensorParallel":8,"nodes":2}})"));
  EXPECT_FALSE(CheckGpuCapacity(svc, {Node("4")}));
  EXPECT_TRUE(CheckGpuCapacity(svc, {Node("2")}));
}

TEST(CheckSpec, InvalidSpecCarriesValidateMessage) {
  auto blocker = CheckSpec(Service(json::parse(R"({"model":{"uri":"s3://x/y"}})")));
  ASSERT_TRUE(blocker);
  EXPECT_EQ(blocker->reason, "InvalidSpec");
  EXPECT_NE(blocker->message.find("model.uri must start with hf://, pvc:// or file://"), std::string::npos) << blocker->message;
  EXPECT_FALSE(CheckSpec(Service({{"model", {{"uri", "hf://org/m"}}}})));
}

}  // namespace
}  // namespace mixserve::controller
