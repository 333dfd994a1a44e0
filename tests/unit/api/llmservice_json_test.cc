// LLMService <-> JSON: the shape the API server stores, round trips, and errors that name the field.
#include "operator/api/llmservice_json.h"

#include <gtest/gtest.h>

#include "operator/api/yaml_json.h"
#include "tests/unit/api/testdata.h"

namespace mixserve::api {
namespace {

using nlohmann::json;

// An LLMService as the API server returns it: every defaulted field present, plus fields the
// operator does not model (managedFields), which reading ignores.
json ServerObject() {
  return json::parse(R"({
    "apiVersion": "mixserve.io/v1alpha1", "kind": "LLMService",
    "metadata": {"name": "mixtral", "namespace": "llm", "uid": "0b0c-11", "resourceVersion": "812",
                 "generation": 3, "creationTimestamp": "2026-01-02T03:04:05Z",
                 "labels": {"team": "a"}, "annotations": {"note": "x"},
                 "managedFields": [{"manager": "kubectl"}]},
    "spec": {
      "model": {"uri": "hf://mistralai/Mixtral-8x7B-Instruct-v0.1", "servedNames": ["mixtral", "m8x7"],
                "tokenSecretRef": {"name": "hf", "key": "token"},
                "cache": {"emptyDir": {"sizeLimit": "200Gi"}}},
      "runtime": {"image": "reg/mixserve:1", "imagePullPolicy": "IfNotPresent",
                  "imagePullSecrets": [{"name": "regcred"}], "tensorParallel": 4, "expertParallel": true,
                  "nodes": 2, "dtype": "float16", "maxModelLen": 8192, "args": ["--max-num-seqs=8"],
                  "env": [{"name": "A", "value": "1"},
                          {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
      "resources": {"gpusPerNode": 2, "gpuResource": "amd.com/gpu", "cpu": "7500m", "memory": "64Gi",
                    "shmSize": "8Gi"},
      "placement": {"nodeSelector": {"pool": "gpu"},
                    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}},
                    "tolerations": [{"key": "gpu", "operator": "Equal", "value": "yes", "effect": "NoSchedule",
                                     "tolerationSeconds": 30}],
                    "priorityClassName": "llm"},
      "replicas": 3,
      "probes": {"startupTimeout": "45m"},
      "ingress": {"enabled": true, "className": "nginx", "host": "llm.example.com", "path": "/a",
                  "tls": {"secretName": "tls"}, "annotations": {"k": "v"}},
      "auth": {"apiKeySecretRef": {"name": "keys", "key": "api-key"}}
    },
    "status": {
      "conditions": [{"type": "Ready", "status": "True", "observedGeneration": 3,
                      "lastTransitionTime": "2026-01-02T03:10:00Z", "reason": "Serving", "message": "ok"}],
      "observedGeneration": 3, "replicas": 3, "readyReplicas": 2, "readyText": "2/3",
      "selector": "app.kubernetes.io/name=mixserve", "url": "https://llm.example.com/a/v1",
      "servedNames": ["mixtral", "m8x7"]
    }
  })");
}

TEST(LLMServiceJsonTest, ReadsEveryField) {
  auto service = LLMServiceFromJson(ServerObject());
  ASSERT_TRUE(service.ok()) << service.status().message();
  const LLMServiceSpec& s = service->spec;
  EXPECT_EQ(service->metadata.namespace_, "llm");
  EXPECT_EQ(service->metadata.generation, 3);
  EXPECT_EQ(s.model.served_names, (std::vector<std::string>{"mixtral", "m8x7"}));
  EXPECT_EQ(s.model.token_secret_ref->name, "hf");
  EXPECT_FALSE(s.model.cache.pvc.has_value());
  EXPECT_EQ(s.model.cache.empty_dir->size_limit, "200Gi");
  EXPECT_EQ(s.runtime.image_pull_secrets, std::vector<std::string>{"regcred"});
  EXPECT_EQ(s.runtime.tensor_parallel, 4);
  EXPECT_TRUE(s.runtime.expert_parallel);
  EXPECT_EQ(s.runtime.max_model_len, 8192);
  EXPECT_EQ(s.runtime.env[1].value_from["secretKeyRef"]["key"], "k");
  EXPECT_FALSE(s.runtime.env[1].value.has_value());
  EXPECT_EQ(s.resources.gpus_per_node, 2);
  EXPECT_EQ(s.resources.cpu, "7500m");
  EXPECT_EQ(s.placement.tolerations[0].op, "Equal");
  EXPECT_EQ(s.placement.tolerations[0].toleration_seconds, 30);
  EXPECT_TRUE(s.placement.affinity.contains("nodeAffinity"));
  EXPECT_EQ(s.replicas, 3);
  EXPECT_EQ(s.ingress.tls->secret_name, "tls");
  EXPECT_EQ(s.auth.api_key_secret_ref->key, "api-key");
  EXPECT_EQ(service->status.conditions[0].reason, "Serving");
  EXPECT_EQ(service->status.ready_text, "2/3");
}

TEST(LLMServiceJsonTest, RoundTripOfAServerObjectIsExact) {
  json object = ServerObject();
  auto service = LLMServiceFromJson(object);
  ASSERT_TRUE(service.ok());
  object["metadata"].erase("managedFields");
  EXPECT_EQ(ToJson(*service), object);
  auto again = LLMServiceFromJson(ToJson(*service));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *service);
}

TEST(LLMServiceJsonTest, AbsentFieldsReadAsTheCrdDefaults) {
  auto service = LLMServiceFromJson({{"spec", {{"model", {{"uri", "hf://a/b"}}}}}});
  ASSERT_TRUE(service.ok());
  const LLMServiceSpec& s = service->spec;
  EXPECT_EQ(s.runtime.tensor_parallel, 1);
  EXPECT_EQ(s.runtime.nodes, 1);
  EXPECT_EQ(s.runtime.dtype, "bfloat16");
  EXPECT_FALSE(s.runtime.expert_parallel);
  EXPECT_EQ(s.resources.gpu_resource, "nvidia.com/gpu");
  EXPECT_FALSE(s.resources.gpus_per_node.has_value());
  EXPECT_EQ(s.replicas, 1);
  EXPECT_EQ(s.probes.startup_timeout, "30m");
  EXPECT_FALSE(s.ingress.enabled);
  EXPECT_EQ(s.ingress.path, "/");
  ASSERT_TRUE(s.model.cache.empty_dir.has_value());
  EXPECT_FALSE(s.model.cache.pvc.has_value());
  // An LLMService without status writes none.
  EXPECT_FALSE(ToJson(*service).contains("status"));
}

// Every `default:` of the CRD's schema is what the C++ side reads for an absent field.
TEST(LLMServiceJsonTest, CppDefaultsEqualCrdDefaults) {
  json crd = testdata::LoadYaml("crds/mixserve.io_llmservices.yaml");
  const json& root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
  // Both secret refs present, so that their keys' defaults apply.
  auto service = LLMServiceFromJson({{"spec",
                                      {{"model", {{"uri", "hf://a/b"}, {"tokenSecretRef", {{"name", "t"}}}}},
                                       {"auth", {{"apiKeySecretRef", {{"name", "k"}}}}}}}});
  ASSERT_TRUE(service.ok());
  const json written = ToJson(*service);
  int checked = 0;
  std::function<void(const json&, const json::json_pointer&)> walk = [&](const json& schema,
                                                                         const json::json_pointer& at) {
    if (schema.contains("default") && schema["default"] != json::object()) {
      ASSERT_TRUE(written.contains(at)) << at.to_string();
      EXPECT_EQ(written[at], schema["default"]) << at.to_string();
      ++checked;
    }
    if (schema.contains("properties")) {
      for (const auto& [name, child] : schema["properties"].items()) walk(child, at / name);
    }
  };
  walk(root, json::json_pointer());
  EXPECT_EQ(checked, 12);
}

TEST(LLMServiceJsonTest, IntegerQuantitiesReadAsText) {
  auto service = LLMServiceFromJson(
      {{"spec", {{"model", {{"uri", "hf://a/b"}}}, {"resources", {{"cpu", 8}, {"memory", "64Gi"}}}}}});
  ASSERT_TRUE(service.ok());
  EXPECT_EQ(service->spec.resources.cpu, "8");
  EXPECT_EQ(ToJson(*service)["spec"]["resources"]["cpu"], "8");
}

TEST(LLMServiceJsonTest, WrongTypesNameTheirField) {
  struct Case {
    json spec;
    std::string error;
  };
  const Case cases[] = {
      {{{"model", {{"uri", 5}}}}, "spec.model.uri: must be a string"},
      {{{"model", {{"uri", "hf://a/b"}}}, {"runtime", {{"nodes", "2"}}}}, "spec.runtime.nodes: must be an integer"},
      {{{"model", {{"uri", "hf://a/b"}}}, {"runtime", {{"nodes", 1.5}}}}, "spec.runtime.nodes: must be an integer"},
      {{{"model", {{"uri", "hf://a/b"}}}, {"runtime", 7}}, "spec.runtime: must be an object"},
      {{{"model", {{"uri", "hf://a/b"}}}, {"runtime", {{"args", {"a", 1}}}}}, "spec.runtime.args: must be a list of strings"},
      {{{"model", {{"uri", "hf://a/b"}}}, {"runtime", {{"env", {"A=1"}}}}}, "spec.runtime.env[0]: must be an object"},
      {{{"model", {{"uri", "hf://a/b"}}}, {"runtime", {{"env", {{{"name", 3}}}}}}}, "spec.runtime.env[0].name: must be a string"},
      {{{"model", {{"uri", "hf://a/b"}}}, {"resources", {{"memory", 1.5}}}},
       "spec.resources.memory: must be an integer or a string"},
      {{{"model", {{"uri", "hf://a/b"}}}, {"placement", {{"nodeSelector", {{"a", 1}}}}}},
       "spec.placement.nodeSelector: must map names to strings"},
      {{{"model", {{"uri", "hf://a/b"}}}, {"ingress", {{"enabled", "yes"}}}}, "spec.ingress.enabled: must be a boolean"},
      {{{"model", {{"uri", "hf://a/b"}}}, {"replicas", 18446744073709551615ull}}, "spec.replicas: is out of range"},
  };
  for (const Case& c : cases) {
    auto service = LLMServiceFromJson({{"spec", c.spec}});
    ASSERT_FALSE(service.ok()) << c.spec.dump();
    EXPECT_EQ(service.status().message(), c.error);
  }
}

TEST(LLMServiceJsonTest, RejectsOtherKindsAndMissingSpec) {
  EXPECT_EQ(LLMServiceFromJson(json::array()).status().message(), "an LLMService must be a JSON object");
  EXPECT_EQ(LLMServiceFromJson({{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"spec", json::object()}})
                .status()
                .message(),
            "expected a mixserve.io/v1alpha1 LLMService, got apps/v1 Deployment");
  EXPECT_EQ(LLMServiceFromJson({{"metadata", {{"name", "x"}}}}).status().message(), "spec: is required");
}

TEST(LLMServiceJsonTest, NullMeansAbsent) {
  auto service = LLMServiceFromJson({{"spec", {{"model", {{"uri", "hf://a/b"}, {"cache", nullptr}}},
                                               {"replicas", nullptr}}}});
  ASSERT_TRUE(service.ok());
  EXPECT_EQ(service->spec.replicas, 1);
  EXPECT_TRUE(service->spec.model.cache.empty_dir.has_value());
}

TEST(YamlJsonTest, TypesPlainScalarsAndKeepsQuotedOnesAsStrings) {
  auto json = YamlToJson(
      "a: 8\nb: \"8\"\nc: true\nd: 'true'\ne: ~\nf: 1.5\ng: -3\nh: 64Gi\ni: [x, 2]\nj: {k: null}\n"
      "l: !!str 9\nm: 0x1F\n");
  ASSERT_TRUE(json.ok()) << json.status().message();
  EXPECT_EQ(*json, json::parse(R"({"a": 8, "b": "8", "c": true, "d": "true", "e": null, "f": 1.5, "g": -3,
                                    "h": "64Gi", "i": ["x", 2], "j": {"k": null}, "l": "9", "m": "0x1F"})"));
}

TEST(YamlJsonTest, SyntaxErrorsGiveTheirPosition) {
  auto json = YamlToJson("spec:\n  model: [unclosed\n");
  ASSERT_FALSE(json.ok());
  EXPECT_NE(json.status().message().find("YAML at line"), std::string::npos) << json.status().message();
}

}  // namespace
}  // namespace mixserve::api
