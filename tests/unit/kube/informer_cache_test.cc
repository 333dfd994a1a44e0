// Informer::Encode / Decode: the packed form the informer caches must give back the same object.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "operator/kube/informer.h"

namespace mixserve::kube {
namespace {

using nlohmann::json;

// A Deployment as the API server returns it: nested objects and arrays, quantities as strings,
// integers, booleans, nulls and an empty object.
const json kDeployment = json::parse(R"({
  "apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {"name": "llm", "namespace": "team-a", "uid": "0a1b", "resourceVersion": "4711", "generation": 3,
    "labels": {"mixserve.io/llmservice": "llm"}, "annotations": {"mixserve.io/rendered-hash": "9f00"},
    "ownerReferences": [{"apiVersion": "mixserve.io/v1alpha1", "kind": "LLMService", "name": "llm", "uid": "u1",
                         "controller": true, "blockOwnerDeletion": true}],
    "creationTimestamp": "2026-01-01T00:00:00Z", "deletionTimestamp": null},
  "spec": {"replicas": 2, "progressDeadlineSeconds": 600, "paused": false,
    "template": {"metadata": {"labels": {"app": "llm"}}, "spec": {"securityContext": {},
      "containers": [{"name": "server", "image": "mixserve:1", "args": ["--port", "8000", "--served-name", "m\u00fcnchen"],
        "resources": {"limits": {"nvidia.com/gpu": "2", "memory": "64Gi"}, "requests": {"cpu": "500m"}},
        "env": [{"name": "RANK", "value": ""}]}]}}},
  "status": {"observedGeneration": 3, "readyReplicas": 1, "conditions": [
    {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"}]}
})");

TEST(InformerCache, DecodeGivesBackTheEncodedObject) {
  EXPECT_EQ(Informer::Decode(Informer::Encode(kDeployment)), kDeployment);
}

TEST(InformerCache, NumbersKeepTheirValues) {
  const json numbers = {{"negative", -5}, {"big", 9007199254740993LL}, {"unsigned", 18446744073709551615ULL},
                        {"half", 0.5}, {"third", 1.0 / 3.0}, {"zero", 0}};
  const json back = Informer::Decode(Informer::Encode(numbers));
  EXPECT_EQ(back, numbers);
  EXPECT_EQ(back["negative"].get<int64_t>(), -5);
  EXPECT_EQ(back["big"].get<int64_t>(), 9007199254740993LL);
  EXPECT_DOUBLE_EQ(back["third"].get<double>(), 1.0 / 3.0);
  EXPECT_TRUE(back["zero"].is_number_integer());
}

TEST(InformerCache, PackedFormIsSmallerThanTheText) {
  // The point of packing: the cache should hold less than even the compact JSON text.
  EXPECT_LT(Informer::Encode(kDeployment).size(), kDeployment.dump().size());
}

TEST(InformerCache, DecodingCorruptBytesThrows) {
  std::vector<std::uint8_t> packed = Informer::Encode(kDeployment);
  packed.resize(packed.size() / 2);
  EXPECT_THROW(Informer::Decode(packed), json::parse_error);
}

}  // namespace
}  // namespace mixserve::kube
