#include "runtime/engine/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

namespace mixserve {
namespace {

std::vector<float> Logits() { return {1.0f, 3.0f, 2.0f, -1.0f, 2.5f}; }  // argmax 1, then 4, 2, 0, 3

SampleResult Once(const SamplingParams& p, const std::vector<float>& logits, std::vector<int32_t> prompt = {}) {
  Sampler s(p, prompt);
  return s.Sample(logits.data(), static_cast<int>(logits.size()));
}

TEST(Sampler, GreedyIsArgmaxWithRawLogprob) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.top_logprobs = 3;
  auto r = Once(p, Logits());
  EXPECT_EQ(r.token, 1);
  double z = 0;
  for (float v : Logits()) z += std::exp(v);
  EXPECT_NEAR(r.logprob, 3.0 - std::log(z), 1e-5);
  ASSERT_EQ(r.top_logprobs.size(), 3u);
  EXPECT_EQ(r.top_logprobs[0].token, 1);
  EXPECT_EQ(r.top_logprobs[1].token, 4);
  EXPECT_EQ(r.top_logprobs[2].token, 2);
  EXPECT_GT(r.top_logprobs[1].logprob, r.top_logprobs[2].logprob);
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDiffers) {
  SamplingParams p;
  p.temperature = 1.5f;
  std::vector<float> flat(64, 0.0f);
  auto run = [&](uint64_t seed) {
    p.seed = seed;
    Sampler s(p, {});
    std::vector<int32_t> out;
    for (int i = 0; i < 50; ++i) out.push_back(s.Sample(flat.data(), 64).token);
    return out;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

TEST(Sampler, FrequenciesFollowSoftmaxOfScaledLogits) {
  SamplingParams p;
  p.temperature = 0.7f;
  p.seed = 7;
  std::vector<float> logits = Logits();
  Sampler s(p, {});
  std::vector<int> counts(logits.size());
  const int n = 40000;
  for (int i = 0; i < n; ++i) ++counts[s.Sample(logits.data(), 5).token];
  double z = 0;
  for (float v : logits) z += std::exp(v / 0.7);
  for (size_t v = 0; v < logits.size(); ++v) {
    double want = std::exp(logits[v] / 0.7) / z;
    EXPECT_NEAR(counts[v] / double(n), want, 0.01) << "token " << v;
  }
}

TEST(Sampler, TopKTopPMinPRestrictTheCandidates) {
  std::vector<float> logits = Logits();
  auto support = [&](SamplingParams p) {
    p.seed = 1;
    Sampler s(p, {});
    std::map<int, int> seen;
    for (int i = 0; i < 3000; ++i) ++seen[s.Sample(logits.data(), 5).token];
    std::vector<int> tokens;
    for (auto& [t, c] : seen) tokens.push_back(t);
    return tokens;
  };
  SamplingParams k2;
  k2.top_k = 2;
  EXPECT_EQ(support(k2), (std::vector<int>{1, 4}));
  SamplingParams p1;
  p1.top_p = 0.01f;  // the best token alone already covers it
  EXPECT_EQ(support(p1), (std::vector<int>{1}));
  SamplingParams p2;
  p2.top_p = 0.8f;  // probs .470 .285 .173 .064 .009: the first two reach .755 < .8, three needed
  EXPECT_EQ(support(p2), (std::vector<int>{1, 2, 4}));
  SamplingParams m;
  m.min_p = 0.5f;  // keep tokens with p >= 0.5 * p_max: e^2.5/e^3 = .61 passes, e^2/e^3 = .37 does not
  EXPECT_EQ(support(m), (std::vector<int>{1, 4}));
  SamplingParams all;
  EXPECT_EQ(support(all), (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(Sampler, PenaltiesChangeTheGreedyChoice) {
  SamplingParams p;
  p.temperature = 0.0f;
  std::vector<float> logits = {0.0f, 2.0f, 1.9f};
  // Repetition penalty over the prompt: 2.0 / 1.2 = 1.67 < 1.9.
  p.repetition_penalty = 1.2f;
  EXPECT_EQ(Once(p, logits, {1}).token, 2);
  EXPECT_EQ(Once(p, logits, {0}).token, 1);
  // Frequency penalty grows with every repeat of the generated token.
  SamplingParams f;
  f.temperature = 0.0f;
  f.frequency_penalty = 0.06f;
  Sampler s(f, {});
  std::vector<int32_t> got;
  for (int i = 0; i < 4; ++i) got.push_back(s.Sample(logits.data(), 3).token);
  EXPECT_EQ(got, (std::vector<int32_t>{1, 1, 2, 1}));  // 2.0, 1.94, then 1.88 < 1.9, then 1.88 > 1.84
  // Presence penalty applies once, however often the token appeared.
  SamplingParams pr;
  pr.temperature = 0.0f;
  pr.presence_penalty = 0.2f;
  Sampler s2(pr, {});
  got.clear();
  for (int i = 0; i < 4; ++i) got.push_back(s2.Sample(logits.data(), 3).token);
  EXPECT_EQ(got, (std::vector<int32_t>{1, 2, 1, 1}));  // 1.8 < 1.9; then both penalised: 1.8 > 1.7
}

TEST(SamplingParams, ValidateNamesTheParameter) {
  SamplingParams p;
  EXPECT_TRUE(p.Validate().ok());
  p.temperature = -1;
  EXPECT_EQ(p.Validate().message(), "temperature must be between 0 and 2");
  p = {};
  p.top_p = 0;
  EXPECT_EQ(p.Validate().message(), "top_p must be in (0, 1]");
  p = {};
  p.top_logprobs = 21;
  EXPECT_EQ(p.Validate().message(), "top_logprobs must be between 0 and 20");
  p = {};
  p.min_p = NAN;
  EXPECT_FALSE(p.Validate().ok());
}

}  // namespace
}  // namespace mixserve
