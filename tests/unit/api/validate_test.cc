// Validate(): the CRD's rules, word for word, checked against the shared table of invalid specs
// (invalid_specs.yaml, which tests/integration/test_crd.py runs against the API server).
#include "operator/api/validate.h"

#include <functional>
#include <set>

#include <gtest/gtest.h>

#include "operator/api/defaults.h"
#include "operator/api/llmservice_json.h"
#include "tests/unit/api/testdata.h"

namespace mixserve::api {
namespace {

using nlohmann::json;

json Table() { return testdata::LoadYaml("tests/unit/api/invalid_specs.yaml"); }

LLMService Parse(const json& object) {
  auto service = LLMServiceFromJson(object);
  EXPECT_TRUE(service.ok()) << service.status().message();
  return service.ok() ? *service : LLMService{};
}

TEST(ValidateTest, TableBaseIsValid) {
  LLMService base = Parse(Table()["base"]);
  EXPECT_TRUE(Validate(base.spec).ok()) << Validate(base.spec).message();
}

TEST(ValidateTest, SamplesAreValid) {
  for (const auto& path : testdata::SamplePaths()) {
    LLMService sample = Parse(testdata::LoadYaml(path));
    ApplyDefaults(sample.spec);
    EXPECT_TRUE(Validate(sample.spec).ok()) << path << ": " << Validate(sample.spec).message();
  }
}

TEST(ValidateTest, EveryTableCaseBreaksExactlyItsRule) {
  json table = Table();
  ASSERT_GE(table["cases"].size(), 10u);
  std::set<std::string> names;
  for (const json& c : table["cases"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    EXPECT_TRUE(names.insert(name).second) << "duplicate case name";
    json object = table["base"];
    object.merge_patch(c["patch"]);
    LLMService service = Parse(object);
    const std::vector<FieldError> want = {{c["field"], c["message"]}};
    EXPECT_EQ(FieldErrors(service.spec), want);
    // Derived defaults neither hide nor add errors.
    ApplyDefaults(service.spec);
    EXPECT_EQ(FieldErrors(service.spec), want);
    Status status = Validate(service.spec);
    EXPECT_EQ(status.code(), Status::Code::kInvalidArgument);
    EXPECT_EQ(status.message(), want[0].ToString());
  }
}

// The messages of the table are the CRD's own: each appears in the CRD file as a rule's message.
TEST(ValidateTest, TableMessagesAreCrdMessages) {
  json crd = testdata::LoadYaml("crds/mixserve.io_llmservices.yaml");
  std::set<std::string> crd_messages;
  std::function<void(const json&)> collect = [&](const json& node) {
    if (node.is_object()) {
      if (node.contains("x-kubernetes-validations")) {
        for (const json& rule : node["x-kubernetes-validations"]) crd_messages.insert(rule["message"]);
      }
      for (const auto& [key, child] : node.items()) collect(child);
    } else if (node.is_array()) {
      for (const json& child : node) collect(child);
    }
  };
  collect(crd);
  ASSERT_GE(crd_messages.size(), 20u);
  std::set<std::string> covered;
  const json table = Table();
  for (const json& c : table["cases"]) {
    EXPECT_TRUE(crd_messages.count(c["message"])) << c["message"];
    covered.insert(c["message"].get<std::string>());
  }
  // Every CRD rule has a case, so the API server is checked against each.
  for (const std::string& message : crd_messages) EXPECT_TRUE(covered.count(message)) << message;
}

TEST(ValidateTest, ErrorsAreJoinedInFieldOrder) {
  LLMService service = Parse(Table()["base"]);
  service.spec.replicas = -2;
  service.spec.model.uri = "ftp://x";
  EXPECT_EQ(Validate(service.spec).message(),
            "spec.model.uri: model.uri must start with hf://, pvc:// or file://; "
            "spec.replicas: replicas must be 0 or more");
}

// Rules of the schema that are not CEL (enums, list-type set) are checked too.
TEST(ValidateTest, EnumsAndDuplicates) {
  LLMService service = Parse(Table()["base"]);
  service.spec.runtime.dtype = "int4";
  service.spec.runtime.image_pull_policy = "Sometimes";
  service.spec.model.served_names = {"a", "a"};
  service.spec.placement.tolerations.push_back({.key = "x", .op = "Is", .value = {}, .effect = "NoRun",
                                                .toleration_seconds = {}});
  std::vector<FieldError> errors = FieldErrors(service.spec);
  std::vector<std::string> fields;
  for (const FieldError& e : errors) fields.push_back(e.field);
  EXPECT_EQ(fields, (std::vector<std::string>{"spec.model.servedNames", "spec.runtime.imagePullPolicy",
                                              "spec.runtime.dtype", "spec.placement.tolerations[1].operator",
                                              "spec.placement.tolerations[1].effect"}));
  EXPECT_EQ(errors[0].message, "model.servedNames must not repeat a name");
  EXPECT_EQ(errors[2].message, "runtime.dtype must be one of bfloat16, float16, float32");
}

TEST(ValidateTest, BoundaryValuesPass) {
  LLMService service = Parse(Table()["base"]);
  LLMServiceSpec& spec = service.spec;
  spec.replicas = 0;
  spec.probes.startup_timeout = "60s";
  spec.runtime.tensor_parallel = 64;
  spec.runtime.nodes = 8;
  spec.resources.gpus_per_node = 8;
  spec.runtime.expert_parallel = true;
  spec.model.uri = "hf://mistralai/Mixtral-8x22B-Instruct-v0.1@refs/pr/12";
  spec.ingress.path = "/team-a/";
  spec.ingress.host = "";
  spec.ingress.tls.reset();
  spec.resources.cpu = "500m";
  spec.resources.memory = "1e9";
  EXPECT_TRUE(Validate(spec).ok()) << Validate(spec).message();
  spec.probes.startup_timeout = "59.9s";
  EXPECT_FALSE(Validate(spec).ok());
  spec.probes.startup_timeout = "1h0.5m";
  EXPECT_TRUE(Validate(spec).ok());
}

}  // namespace
}  // namespace mixserve::api
