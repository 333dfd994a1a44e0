// CudaModel::ForwardGreedy, which `mixserve serve` uses for all-greedy steps (EngineConfig::greedy_forward),
// must pick for every sequence the argmax of the row Forward returns for the same batch: prefill
// chunks, decode steps (graphed), and both mixed, on the tiny models.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "runtime/backend/cuda/cuda_model.h"
#include "runtime/backend/cuda/smoke.h"
#include "tests/gpu/cuda/cuda_test_util.h"
#include "tests/support/local_cluster.h"

namespace mixserve::cuda {
namespace {

class GreedyRowsTest : public ::testing::TestWithParam<std::string> {};

// Each token ForwardGreedy chose scores the row's maximum in Forward's logits (ties: any maximum).
void ExpectArgmax(const ForwardOutput& out, const std::vector<int32_t>& tokens, size_t seqs, const std::string& what) {
  ASSERT_EQ(tokens.size(), seqs) << what;
  for (size_t i = 0; i < seqs; ++i) {
    const float* row = out.row(out.row_begin[i]);
    const float best = *std::max_element(row, row + out.vocab_size);
    ASSERT_GE(tokens[i], 0) << what;
    ASSERT_LT(tokens[i], out.vocab_size) << what;
    EXPECT_GE(row[tokens[i]], best - 1e-5f * std::max(1.0f, std::abs(best))) << what << " seq " << i;
  }
}

TEST_P(GreedyRowsTest, ForwardGreedyIsTheArgmaxOfForward) {
  if (DeviceCount() == 0) GTEST_SKIP() << "skipped: no GPU";
  const std::string dir = testing::RepoRoot() + "/tests/data/" + GetParam();
  auto config = ResolveModelConfig(dir, 0);
  ASSERT_TRUE(config.ok()) << config.status().message();
  CudaModelOptions o;  // the defaults serve uses, on a small cache
  o.num_kv_blocks = 64;
  o.max_model_len = 256;
  o.max_batch_tokens = 128;
  o.max_seqs = 8;
  o.max_logit_rows = 128;
  auto model = CudaModel::Create(*config, dir, o);
  ASSERT_TRUE(model.ok()) << model.status().message();
  CudaModel& m = **model;

  // Three sequences: two prompts prefilled in one step, the third joins while they decode.
  std::vector<std::vector<int32_t>> tokens = {{1, 415, 2936, 9060, 285, 1142, 461, 10575, 754, 272, 17898},
                                              {1, 22557, 28725, 910},
                                              {1, 330, 3588, 4295, 302, 272, 5565}};
  std::vector<int32_t> computed(3, 0);
  auto step = [&](const std::vector<int>& which, const std::string& what) {
    ForwardBatch batch;
    for (int s : which) {
      SeqForward f;
      f.tokens.assign(tokens[s].begin() + computed[s], tokens[s].end());
      f.start_pos = computed[s];
      const int blocks = (static_cast<int>(tokens[s].size()) + 15) / 16;
      for (int b = 0; b < blocks; ++b) f.block_table.push_back(s * 16 + b);
      batch.seqs.push_back(std::move(f));
    }
    // Forward, then ForwardGreedy over the same batch: the second rewrites the same K/V.
    ForwardOutput out;
    ASSERT_TRUE(m.Forward(batch, &out).ok()) << what;
    std::vector<int32_t> next;
    ASSERT_TRUE(m.ForwardGreedy(batch, &next).ok()) << what;
    ExpectArgmax(out, next, which.size(), what);
    for (size_t i = 0; i < which.size(); ++i) {
      computed[which[i]] = static_cast<int32_t>(tokens[which[i]].size());
      tokens[which[i]].push_back(next[i]);
    }
  };
  step({0, 1}, "prefill of two prompts");
  for (int i = 0; i < 3; ++i) step({0, 1}, "decode " + std::to_string(i));
  step({0, 1, 2}, "decode mixed with a prefill");
  for (int i = 0; i < 6; ++i) step({0, 1, 2}, "decode of three " + std::to_string(i));
}

INSTANTIATE_TEST_SUITE_P(TinyModels, GreedyRowsTest, ::testing::Values("tiny-mixtral", "tiny-mistral", "tiny-mixtral-swa"),
                         test_util::ModelParamName);

}  // namespace
}  // namespace mixserve::cuda
