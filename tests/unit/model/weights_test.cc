#include "runtime/model/weights.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/unit/model/safetensors_writer.h"

namespace mixserve::model {
namespace {

using nlohmann::json;
using testing::Bits16Bytes;
using testing::F32Bytes;
using testing::RawTensor;
using testing::SafetensorsBytes;
using testing::TempDir;
using testing::WriteFile;

RawTensor F32Tensor(const std::string& name, std::vector<int64_t> shape, float first) {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  std::vector<float> values;
  for (int64_t i = 0; i < count; ++i) values.push_back(first + static_cast<float>(i));
  return RawTensor{name, "F32", std::move(shape), F32Bytes(values)};
}

void WriteIndex(const TempDir& dir, const json& weight_map) {
  WriteFile(dir.file("model.safetensors.index.json"),
            json{{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}}.dump(2));
}

// Two shards: embed + layer 0 in the first, layer 1 + lm_head in the second.
void WriteShardedModel(const TempDir& dir) {
  WriteFile(dir.file("model-00001-of-00002.safetensors"),
            SafetensorsBytes({F32Tensor("model.embed_tokens.weight", {4, 2}, 0),
                              F32Tensor("model.layers.0.mlp.gate.weight", {8, 2}, 100)}));
  WriteFile(dir.file("model-00002-of-00002.safetensors"),
            SafetensorsBytes({F32Tensor("model.layers.1.mlp.gate.weight", {8, 2}, 200),
                              RawTensor{"lm_head.weight", "BF16", {4, 2},
                                        Bits16Bytes({0x3F80, 0x4000, 0x4040, 0x4080, 0x40A0, 0x40C0, 0x40E0, 0x4100})}}));
  WriteIndex(dir, {{"model.embed_tokens.weight", "model-00001-of-00002.safetensors"},
                   {"model.layers.0.mlp.gate.weight", "model-00001-of-00002.safetensors"},
                   {"model.layers.1.mlp.gate.weight", "model-00002-of-00002.safetensors"},
                   {"lm_head.weight", "model-00002-of-00002.safetensors"}});
}

std::string OpenError(const TempDir& dir) {
  auto weights = ModelWeights::Open(dir.path().string());
  EXPECT_FALSE(weights.ok());
  return weights.ok() ? std::string() : weights.status().message();
}

TEST(ModelWeights, SingleFile) {
  TempDir dir;
  WriteFile(dir.file("model.safetensors"), SafetensorsBytes({F32Tensor("model.layers.0.mlp.gate.weight", {8, 32}, 1),
                                                             F32Tensor("model.norm.weight", {32}, -1)}));
  auto weights = ModelWeights::Open(dir.path().string());
  ASSERT_TRUE(weights.ok()) << weights.status().message();
  EXPECT_EQ(weights->tensors().size(), 2u);
  EXPECT_EQ(weights->FileOf("model.norm.weight"), "model.safetensors");
  EXPECT_EQ(weights->FileOf("absent"), std::nullopt);

  auto gate = weights->Expect("model.layers.0.mlp.gate.weight", {8, 32}, DType::kF32);
  ASSERT_TRUE(gate.ok()) << gate.status().message();
  std::vector<float> values = ToF32(*gate);
  ASSERT_EQ(values.size(), 256u);
  EXPECT_EQ(values[0], 1.0f);
  EXPECT_EQ(values[255], 256.0f);
}

TEST(ModelWeights, ShapeDtypeAndNameMismatchesNameTheTensor) {
  TempDir dir;
  WriteFile(dir.file("model.safetensors"), SafetensorsBytes({F32Tensor("model.layers.0.mlp.gate.weight", {8, 32}, 0)}));
  auto weights = ModelWeights::Open(dir.path().string());
  ASSERT_TRUE(weights.ok()) << weights.status().message();
  EXPECT_EQ(weights->Expect("model.layers.0.mlp.gate.weight", {8, 64}).status().message(),
            "tensor model.layers.0.mlp.gate.weight: expected shape [8, 64], got [8, 32]");
  EXPECT_EQ(weights->Expect("model.layers.0.mlp.gate.weight", {8, 32}, DType::kBF16).status().message(),
            "tensor model.layers.0.mlp.gate.weight: expected dtype BF16, got F32");
  auto missing = weights->Get("model.layers.1.mlp.gate.weight");
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(missing.status().message(), "tensor model.layers.1.mlp.gate.weight not found in " + dir.path().string());
}

TEST(ModelWeights, ShardedCheckpoint) {
  TempDir dir;
  WriteShardedModel(dir);
  auto weights = ModelWeights::Open(dir.path().string());
  ASSERT_TRUE(weights.ok()) << weights.status().message();
  EXPECT_EQ(weights->tensors().size(), 4u);
  EXPECT_EQ(weights->FileOf("model.embed_tokens.weight"), "model-00001-of-00002.safetensors");
  EXPECT_EQ(weights->FileOf("lm_head.weight"), "model-00002-of-00002.safetensors");

  auto layer1 = weights->Expect("model.layers.1.mlp.gate.weight", {8, 2});
  ASSERT_TRUE(layer1.ok()) << layer1.status().message();
  EXPECT_EQ(ToF32(*layer1)[3], 203.0f);
  auto lm_head = weights->Expect("lm_head.weight", {4, 2}, DType::kBF16);
  ASSERT_TRUE(lm_head.ok()) << lm_head.status().message();
  EXPECT_EQ(ToF32(*lm_head), (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}));

  // Both tensors of a shard come from one mapping: their addresses differ by their file offsets.
  auto embed = weights->Get("model.embed_tokens.weight");
  auto layer0 = weights->Get("model.layers.0.mlp.gate.weight");
  ASSERT_TRUE(embed.ok() && layer0.ok());
  EXPECT_EQ(layer0->data, embed->data + embed->bytes);

  // The views stay valid after the ModelWeights object moves.
  ModelWeights moved = std::move(weights).value();
  EXPECT_EQ(ToF32(*moved.Get("model.layers.0.mlp.gate.weight"))[15], 115.0f);
}

TEST(ModelWeights, SingleFileWinsOverIndex) {
  TempDir dir;
  WriteShardedModel(dir);
  WriteFile(dir.file("model.safetensors"), SafetensorsBytes({F32Tensor("only", {1}, 7)}));
  auto weights = ModelWeights::Open(dir.path().string());
  ASSERT_TRUE(weights.ok()) << weights.status().message();
  EXPECT_EQ(weights->tensors().size(), 1u);
  EXPECT_TRUE(weights->Get("only").ok());
}

TEST(ModelWeights, EmptyFolder) {
  TempDir dir;
  auto weights = ModelWeights::Open(dir.path().string());
  ASSERT_FALSE(weights.ok());
  EXPECT_EQ(weights.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(weights.status().message(), dir.path().string() + ": no model.safetensors or model.safetensors.index.json");
}

TEST(ModelWeights, TensorInIndexButNotInItsShard) {
  TempDir dir;
  WriteShardedModel(dir);
  WriteIndex(dir, {{"model.embed_tokens.weight", "model-00001-of-00002.safetensors"},
                   {"lm_head.weight", "model-00001-of-00002.safetensors"}});
  EXPECT_EQ(OpenError(dir), dir.file("model.safetensors.index.json") +
                                ": tensor lm_head.weight is mapped to model-00001-of-00002.safetensors, which does not hold it");
}

TEST(ModelWeights, TensorInTwoShards) {
  TempDir dir;
  WriteShardedModel(dir);
  WriteFile(dir.file("extra.safetensors"), SafetensorsBytes({F32Tensor("lm_head.weight", {1}, 0)}));
  WriteIndex(dir, {{"model.embed_tokens.weight", "model-00001-of-00002.safetensors"},
                   {"lm_head.weight", "model-00002-of-00002.safetensors"},
                   {"other", "extra.safetensors"}});
  EXPECT_EQ(OpenError(dir),
            "tensor lm_head.weight: appears in both extra.safetensors and model-00002-of-00002.safetensors");
}

TEST(ModelWeights, MissingOrBrokenShard) {
  TempDir dir;
  WriteShardedModel(dir);
  WriteIndex(dir, {{"model.embed_tokens.weight", "model-00001-of-00002.safetensors"},
                   {"lm_head.weight", "model-00003-of-00002.safetensors"}});
  auto weights = ModelWeights::Open(dir.path().string());
  ASSERT_FALSE(weights.ok());
  EXPECT_EQ(weights.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(weights.status().message(), dir.file("model-00003-of-00002.safetensors") + ": No such file or directory");

  WriteShardedModel(dir);
  WriteFile(dir.file("model-00002-of-00002.safetensors"), std::string(5, 'x'));
  EXPECT_EQ(OpenError(dir),
            dir.file("model-00002-of-00002.safetensors") + ": file is 5 bytes, too short for the 8-byte header length");
}

TEST(ModelWeights, MalformedIndex) {
  TempDir dir;
  WriteShardedModel(dir);
  const std::string index = dir.file("model.safetensors.index.json");
  auto error_for = [&](const std::string& text) {
    WriteFile(index, text);
    return OpenError(dir);
  };
  EXPECT_EQ(error_for(R"({"metadata": {}})"), index + ": missing field weight_map");
  EXPECT_EQ(error_for(R"({"weight_map": []})"), index + ": weight_map must be an object, got array");
  EXPECT_EQ(error_for(R"({"weight_map": {}})"), index + ": weight_map is empty");
  EXPECT_EQ(error_for(R"({"weight_map": {"a": 3}})"), index + ": weight_map[a] must be a file name, got integer");
  EXPECT_EQ(error_for(R"({"weight_map": {"a": "../model.safetensors"}})"),
            index + ": weight_map[a] = ../model.safetensors is not a file name inside the model folder");
  EXPECT_EQ(error_for(R"({"weight_map": {"a": ".."}})"), index + ": weight_map[a] = .. is not a file name inside the model folder");
  EXPECT_EQ(error_for(R"({"weight_map": {"a": "x.safetensors", "a": "y.safetensors"}})"), index + ": duplicate key \"a\"");
  EXPECT_NE(error_for("{\"weight_map\": {").find(index + ": not valid JSON"), std::string::npos);
}

TEST(ParseWeightMap, MapsTensorsToShards) {
  auto map = ParseWeightMap(R"({"metadata": {"total_size": 10}, "weight_map": {"a": "s1", "b": "s2", "c": "s1"}})");
  ASSERT_TRUE(map.ok()) << map.status().message();
  EXPECT_EQ(*map, (std::map<std::string, std::string>{{"a", "s1"}, {"b", "s2"}, {"c", "s1"}}));
}

}  // namespace
}  // namespace mixserve::model
