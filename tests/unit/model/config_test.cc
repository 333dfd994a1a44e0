#include "runtime/model/config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/unit/model/safetensors_writer.h"

namespace mixserve::model {
namespace {

using nlohmann::json;

// Mixtral-8x7B-v0.1's config.json as published (fields the runtime ignores included).
json Mixtral8x7B() {
  return json::parse(R"({
    "architectures": ["MixtralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2,
    "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
    "max_position_embeddings": 32768, "model_type": "mixtral", "num_attention_heads": 32,
    "num_experts_per_tok": 2, "num_hidden_layers": 32, "num_key_value_heads": 8, "num_local_experts": 8,
    "output_router_logits": false, "rms_norm_eps": 1e-05, "rope_theta": 1000000.0, "router_aux_loss_coef": 0.02,
    "sliding_window": null, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
    "transformers_version": "4.36.0.dev0", "use_cache": true, "vocab_size": 32000})");
}

// Mistral-7B-v0.1's config.json as published.
json Mistral7B() {
  return json::parse(R"({
    "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
    "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 32768,
    "model_type": "mistral", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
    "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096, "tie_word_embeddings": false,
    "torch_dtype": "bfloat16", "transformers_version": "4.34.0.dev0", "use_cache": true, "vocab_size": 32000})");
}

Result<ModelConfig> Parse(const json& config) { return ParseModelConfig(config.dump()); }

std::string ErrorOf(const json& config) {
  auto parsed = Parse(config);
  EXPECT_FALSE(parsed.ok()) << config.dump();
  return parsed.ok() ? std::string() : parsed.status().message();
}

TEST(ModelConfig, ParsesMixtral) {
  auto config = Parse(Mixtral8x7B());
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->architecture, Architecture::kMixtral);
  EXPECT_EQ(config->architecture_name, "MixtralForCausalLM");
  EXPECT_TRUE(config->is_moe());
  EXPECT_EQ(config->hidden_size, 4096);
  EXPECT_EQ(config->num_layers, 32);
  EXPECT_EQ(config->num_attention_heads, 32);
  EXPECT_EQ(config->num_kv_heads, 8);
  EXPECT_EQ(config->head_dim, 128);
  EXPECT_EQ(config->intermediate_size, 14336);
  EXPECT_EQ(config->num_experts, 8);
  EXPECT_EQ(config->experts_per_token, 2);
  EXPECT_EQ(config->rope_theta, 1e6);
  EXPECT_EQ(config->rms_norm_eps, 1e-5);
  EXPECT_FALSE(config->sliding_window_tokens.has_value());
  EXPECT_EQ(config->vocab_size, 32000);
  EXPECT_EQ(config->max_position_embeddings, 32768);
  EXPECT_FALSE(config->tie_word_embeddings);
  EXPECT_EQ(config->dtype, DType::kBF16);
}

TEST(ModelConfig, ParsesDenseMistral) {
  auto config = Parse(Mistral7B());
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->architecture, Architecture::kMistral);
  EXPECT_FALSE(config->is_moe());
  EXPECT_EQ(config->num_experts, 1);
  EXPECT_EQ(config->experts_per_token, 1);
  EXPECT_EQ(config->sliding_window_tokens, 4096);
  EXPECT_EQ(config->rope_theta, 1e4);
}

TEST(ModelConfig, OptionalFields) {
  json config = Mistral7B();
  // Mistral-Nemo style: head_dim given and not hidden_size / heads.
  config["hidden_size"] = 5120;
  config["head_dim"] = 128;
  config.erase("tie_word_embeddings");
  config.erase("sliding_window");
  auto parsed = Parse(config);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->head_dim, 128);
  EXPECT_FALSE(parsed->tie_word_embeddings);
  EXPECT_FALSE(parsed->sliding_window_tokens.has_value());

  config["head_dim"] = nullptr;
  config["tie_word_embeddings"] = true;
  parsed = Parse(config);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->head_dim, 160);
  EXPECT_TRUE(parsed->tie_word_embeddings);

  // Newer transformers write "dtype" where older ones wrote "torch_dtype".
  config.erase("torch_dtype");
  config["dtype"] = "float16";
  parsed = Parse(config);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->dtype, DType::kF16);
}

TEST(ModelConfig, EveryMissingRequiredFieldIsNamed) {
  for (const char* field : {"architectures", "hidden_size", "num_hidden_layers", "num_attention_heads",
                            "num_key_value_heads", "intermediate_size", "vocab_size", "max_position_embeddings",
                            "rope_theta", "rms_norm_eps", "torch_dtype", "num_local_experts", "num_experts_per_tok"}) {
    json config = Mixtral8x7B();
    config.erase(field);
    EXPECT_EQ(ErrorOf(config), std::string("missing field ") + field);
  }
  // Dense Mistral has no experts to ask for.
  json dense = Mistral7B();
  dense.erase("num_key_value_heads");
  EXPECT_EQ(ErrorOf(dense), "missing field num_key_value_heads");
}

TEST(ModelConfig, RejectsUnknownArchitecture) {
  json config = Mixtral8x7B();
  config["architectures"] = {"LlamaForCausalLM"};
  EXPECT_EQ(ErrorOf(config),
            "field architectures: unknown architecture LlamaForCausalLM (supported: MixtralForCausalLM, MistralForCausalLM)");
  config["architectures"] = "MixtralForCausalLM";
  EXPECT_EQ(ErrorOf(config), "field architectures: expected a list of one architecture name");
}

TEST(ModelConfig, RejectsBadValues) {
  auto with = [](const char* field, json value) {
    json config = Mixtral8x7B();
    config[field] = std::move(value);
    return ErrorOf(config);
  };
  EXPECT_EQ(with("hidden_size", "4096"), "field hidden_size: expected a positive integer up to 2147483648, got \"4096\"");
  EXPECT_EQ(with("hidden_size", 0), "field hidden_size: expected a positive integer up to 2147483648, got 0");
  EXPECT_EQ(with("num_hidden_layers", -2), "field num_hidden_layers: expected a positive integer up to 2147483648, got -2");
  EXPECT_EQ(with("intermediate_size", 14336.5),
            "field intermediate_size: expected a positive integer up to 2147483648, got 14336.5");
  EXPECT_EQ(with("vocab_size", 1ull << 40),
            "field vocab_size: expected a positive integer up to 2147483648, got 1099511627776");
  EXPECT_EQ(with("rms_norm_eps", 0), "field rms_norm_eps: expected a positive number, got 0");
  EXPECT_EQ(with("rope_theta", nullptr), "field rope_theta: expected a positive number, got null");
  EXPECT_EQ(with("sliding_window", -1), "field sliding_window: expected a positive integer up to 2147483648, got -1");
  EXPECT_EQ(with("tie_word_embeddings", 1), "field tie_word_embeddings: expected true or false, got 1");
  EXPECT_EQ(with("torch_dtype", "int8"),
            "field torch_dtype: unsupported torch dtype int8 (supported: bfloat16, float16, float32)");
  EXPECT_EQ(with("num_key_value_heads", 5), "field num_key_value_heads: 5 does not divide num_attention_heads 32");
  EXPECT_EQ(with("num_attention_heads", 3),
            "field num_attention_heads: 3 does not divide hidden_size 4096 and head_dim is not given");
  EXPECT_EQ(with("num_experts_per_tok", 9), "field num_experts_per_tok: 9 is more than num_local_experts 8");
  EXPECT_EQ(ErrorOf(json::array()), "expected a JSON object, got array");
  EXPECT_NE(ParseModelConfig("{\"hidden_size\": ").status().message().find("not valid JSON"), std::string::npos);
}

TEST(ModelConfig, RejectsConfigsWhoseParameterCountOverflows) {
  json config = Mixtral8x7B();
  config["hidden_size"] = 1 << 30;
  config["intermediate_size"] = 1 << 30;
  config["vocab_size"] = 1 << 30;
  EXPECT_EQ(ErrorOf(config), "parameter count overflows int64");
}

TEST(ModelConfig, LoadsFromFileWithPathInErrors) {
  testing::TempDir dir;
  testing::WriteFile(dir.file("config.json"), Mixtral8x7B().dump(2));
  auto config = LoadModelConfig(dir.file("config.json"));
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->num_experts, 8);

  json broken = Mixtral8x7B();
  broken.erase("num_local_experts");
  testing::WriteFile(dir.file("broken.json"), broken.dump());
  EXPECT_EQ(LoadModelConfig(dir.file("broken.json")).status().message(),
            dir.file("broken.json") + ": missing field num_local_experts");
  auto missing = LoadModelConfig(dir.file("absent.json"));
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
}

// Published sizes: Mixtral-8x7B has 46,702,792,704 parameters and Mistral-7B 7,241,732,096.
TEST(ParameterCounts, MatchPublishedModelSizes) {
  auto mixtral = CountParameters(*Parse(Mixtral8x7B()));
  ASSERT_TRUE(mixtral.ok());
  EXPECT_EQ(mixtral->total, 46'702'792'704);
  EXPECT_EQ(mixtral->total_bytes(2), 93'405'585'408);
  EXPECT_EQ(mixtral->router_per_layer, 8 * 4096);

  auto mistral = CountParameters(*Parse(Mistral7B()));
  ASSERT_TRUE(mistral.ok());
  EXPECT_EQ(mistral->total, 7'241'732'096);
  EXPECT_EQ(mistral->router_per_layer, 0);
}

TEST(ParameterCounts, TouchedPerTokenCountsTopKExpertsAndTheWholeLmHead) {
  auto counts = CountParameters(*Parse(Mixtral8x7B()));
  ASSERT_TRUE(counts.ok());
  // Per layer: q and o are 4096x4096, k and v 4096x1024; two norms; the router; two of eight
  // experts at three 4096x14336 matrices each. Plus one embedding row, the final norm and lm_head.
  const int64_t per_layer = 2 * 4096LL * 4096 + 2 * 4096LL * 1024 + 2 * 4096 + 8 * 4096 + 2 * 3 * 4096LL * 14336;
  const int64_t touched = 32 * per_layer + 4096 + 4096 + 32000LL * 4096;
  EXPECT_EQ(counts->touched_per_token, touched);
  // DESIGN.md's roofline figure: about 25.5 GB of bf16 weights per decoded token.
  EXPECT_NEAR(static_cast<double>(counts->touched_bytes_per_token(2)), 25.5e9, 0.01e9);

  // A dense model touches every parameter except the unread embedding rows.
  auto dense = CountParameters(*Parse(Mistral7B()));
  ASSERT_TRUE(dense.ok());
  EXPECT_EQ(dense->touched_per_token, dense->total - dense->embedding + 4096);

  // Tying drops lm_head from the total, but scoring still reads vocab_size x hidden_size.
  json tied = Mistral7B();
  tied["tie_word_embeddings"] = true;
  auto tied_counts = CountParameters(*Parse(tied));
  ASSERT_TRUE(tied_counts.ok());
  EXPECT_EQ(tied_counts->lm_head, 0);
  EXPECT_EQ(tied_counts->total, dense->total - 32000LL * 4096);
  EXPECT_EQ(tied_counts->touched_per_token, dense->touched_per_token);
}

}  // namespace
}  // namespace mixserve::model
