// The CPU reference forward pass against goldens from Hugging Face transformers (float32 on the
// same bf16 weights), for every tiny model in tests/data: logits within 1e-3 and identical greedy
// continuations. Also checks that the paged KV cache gives the same logits whatever the chunking.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "runtime/backend/cpu/cpu_loader.h"
#include "tests/support/goldens.h"
#include "tests/support/local_cluster.h"

namespace mixserve::cpu {
namespace {

constexpr float kMaxAbsLogitDiff = 1e-3f;

class CpuGoldenTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = testing::RepoRoot() + "/tests/data/" + GetParam();
    CpuModelOptions options;
    options.kv_block_tokens = 4;  // small blocks so every prompt spans several
    options.num_kv_blocks = 64;
    auto model = LoadCpuModel(dir_, options);
    ASSERT_TRUE(model.ok()) << model.status().message();
    model_ = std::move(model).value();
    goldens_.Load(dir_);
  }

  std::vector<float> Golden(const std::string& name) { return goldens_.Tensor(name); }

  static std::vector<int32_t> Blocks(int n) {
    std::vector<int32_t> b(n);
    std::iota(b.begin(), b.end(), 0);
    return b;
  }

  // Runs `tokens` from `start` as one step and returns the output.
  ForwardOutput Step(const std::vector<int32_t>& tokens, int start, bool all_logits) {
    ForwardBatch batch;
    batch.seqs.push_back({tokens, start, Blocks(64), all_logits});
    ForwardOutput out;
    Status s = model_->Forward(batch, &out);
    EXPECT_TRUE(s.ok()) << s.message();
    return out;
  }

  std::string dir_;
  std::unique_ptr<CpuModel> model_;
  testing::Goldens goldens_;
};

TEST_P(CpuGoldenTest, LogitsMatchTransformers) {
  const auto& sample = goldens_["vocab_sample"];
  const int V = model_->vocab_size();
  float worst = 0.0f;
  for (size_t i = 0; i < goldens_["prompts"].size(); ++i) {
    std::vector<int32_t> ids = goldens_["prompts"][i]["input_ids"];
    ForwardOutput out = Step(ids, 0, /*all_logits=*/true);
    ASSERT_EQ(out.logits.size(), ids.size() * V);
    std::vector<float> last = Golden("prompt" + std::to_string(i) + ".last_logits");
    std::vector<float> sampled = Golden("prompt" + std::to_string(i) + ".sampled_logits");
    ASSERT_EQ(last.size(), static_cast<size_t>(V));
    ASSERT_EQ(sampled.size(), ids.size() * sample.size());
    const float* ours_last = out.row(static_cast<int>(ids.size()) - 1);
    for (int v = 0; v < V; ++v) worst = std::max(worst, std::abs(ours_last[v] - last[v]));
    for (size_t t = 0; t < ids.size(); ++t) {
      for (size_t j = 0; j < sample.size(); ++j) {
        int v = sample[j];
        worst = std::max(worst, std::abs(out.row(static_cast<int>(t))[v] - sampled[t * sample.size() + j]));
      }
    }
  }
  std::printf("%s: max |logit - transformers| = %.3g\n", GetParam().c_str(), worst);
  RecordProperty("max_abs_logit_diff", std::to_string(worst));
  EXPECT_LE(worst, kMaxAbsLogitDiff);
}

TEST_P(CpuGoldenTest, GreedyContinuationsMatchTransformers) {
  for (const auto& prompt : goldens_["prompts"]) {
    std::vector<int32_t> ids = prompt["input_ids"];
    std::vector<int32_t> want = prompt["greedy_ids"];
    ForwardOutput out = Step(ids, 0, false);
    std::vector<int32_t> got;
    int pos = static_cast<int>(ids.size());
    for (size_t k = 0; k < want.size(); ++k) {
      const float* row = out.row(0);
      int32_t next = static_cast<int32_t>(std::max_element(row, row + model_->vocab_size()) - row);
      got.push_back(next);
      out = Step({next}, pos++, false);
    }
    EXPECT_EQ(got, want) << "prompt: " << prompt["text"];
  }
}

TEST_P(CpuGoldenTest, ChunkedPrefillMatchesOneShot) {
  std::vector<int32_t> ids = goldens_["prompts"].back()["input_ids"];
  ForwardOutput whole = Step(ids, 0, false);
  std::vector<float> want(whole.row(0), whole.row(0) + model_->vocab_size());
  ForwardOutput chunked;
  for (size_t begin = 0; begin < ids.size(); begin += 5) {
    size_t end = std::min(ids.size(), begin + 5);
    chunked = Step(std::vector<int32_t>(ids.begin() + begin, ids.begin() + end), static_cast<int>(begin), false);
  }
  float worst = 0.0f;
  for (int v = 0; v < model_->vocab_size(); ++v) worst = std::max(worst, std::abs(chunked.row(0)[v] - want[v]));
  EXPECT_LE(worst, 1e-4f);
}

TEST_P(CpuGoldenTest, BadBatchesAreErrors) {
  ForwardBatch batch;
  batch.seqs.push_back({{1, 2, 3}, 0, {0}, false});  // 3 tokens need one 4-token block: fine
  ForwardOutput out;
  EXPECT_TRUE(model_->Forward(batch, &out).ok());
  batch.seqs[0].start_pos = 2;  // 5 positions do not fit in one block
  EXPECT_EQ(model_->Forward(batch, &out).message(), "forward: block table covers 4 positions, need 5");
  batch.seqs[0] = {{model_->vocab_size()}, 0, {0}, false};
  EXPECT_NE(model_->Forward(batch, &out).message().find("token id"), std::string::npos);
  batch.seqs[0] = {{1}, 0, {9999}, false};
  EXPECT_NE(model_->Forward(batch, &out).message().find("KV block id 9999"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(TinyModels, CpuGoldenTest, ::testing::Values("tiny-mixtral", "tiny-mixtral-swa", "tiny-mistral"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(CpuLoader, MissingFolderNamesTheFile) {
  auto model = LoadCpuModel("/nonexistent/model", {});
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("/nonexistent/model/config.json"), std::string::npos)
      << model.status().message();
}

}  // namespace
}  // namespace mixserve::cpu
