// ApplyDefaults: the defaults that depend on other fields (gpusPerNode, servedNames).
#include "operator/api/defaults.h"

#include <gtest/gtest.h>

namespace mixserve::api {
namespace {

LLMServiceSpec Spec(const std::string& uri, int64_t tensor_parallel, int64_t nodes) {
  LLMServiceSpec spec;
  spec.model.uri = uri;
  spec.runtime.tensor_parallel = tensor_parallel;
  spec.runtime.nodes = nodes;
  return spec;
}

TEST(DefaultsTest, GpusPerNodeIsTensorParallelOverNodes) {
  LLMServiceSpec spec = Spec("hf://a/b", 16, 2);
  ApplyDefaults(spec);
  EXPECT_EQ(spec.resources.gpus_per_node, 8);

  spec = Spec("hf://a/b", 2, 1);
  ApplyDefaults(spec);
  EXPECT_EQ(spec.resources.gpus_per_node, 2);
}

TEST(DefaultsTest, GpusPerNodeIsKeptWhenSetAndLeftUnsetWhenNotDerivable) {
  LLMServiceSpec spec = Spec("hf://a/b", 8, 1);
  spec.resources.gpus_per_node = 4;  // wrong, but the user's: Validate reports it
  ApplyDefaults(spec);
  EXPECT_EQ(spec.resources.gpus_per_node, 4);

  spec = Spec("hf://a/b", 2, 4);
  ApplyDefaults(spec);
  EXPECT_FALSE(spec.resources.gpus_per_node.has_value());

  spec = Spec("hf://a/b", 2, 0);
  ApplyDefaults(spec);
  EXPECT_FALSE(spec.resources.gpus_per_node.has_value());
}

TEST(DefaultsTest, ServedNameDerivesFromUri) {
  EXPECT_EQ(DefaultServedName("hf://mistralai/Mixtral-8x7B-Instruct-v0.1"), "mistralai/Mixtral-8x7B-Instruct-v0.1");
  EXPECT_EQ(DefaultServedName("hf://mistralai/Mistral-7B-v0.1@main"), "mistralai/Mistral-7B-v0.1");
  EXPECT_EQ(DefaultServedName("pvc://models/mistralai/Mixtral-8x22B/"), "Mixtral-8x22B");
  EXPECT_EQ(DefaultServedName("pvc://models/mixtral"), "mixtral");
  EXPECT_EQ(DefaultServedName("file:///opt/models/mistral-7b"), "mistral-7b");
  EXPECT_EQ(DefaultServedName("s3://bucket/model"), "");
}

TEST(DefaultsTest, ServedNamesFilledOnlyWhenEmpty) {
  LLMServiceSpec spec = Spec("file:///models/m7b", 1, 1);
  ApplyDefaults(spec);
  EXPECT_EQ(spec.model.served_names, std::vector<std::string>{"m7b"});

  spec.model.served_names = {"chat"};
  ApplyDefaults(spec);
  EXPECT_EQ(spec.model.served_names, std::vector<std::string>{"chat"});

  spec = Spec("nonsense", 1, 1);
  ApplyDefaults(spec);
  EXPECT_TRUE(spec.model.served_names.empty());
}

TEST(DefaultsTest, Idempotent) {
  LLMServiceSpec once = Spec("hf://a/b", 4, 2);
  ApplyDefaults(once);
  LLMServiceSpec twice = once;
  ApplyDefaults(twice);
  EXPECT_EQ(once, twice);
}

}  // namespace
}  // namespace mixserve::api
