// The engine on the CPU backend with a tiny Mixtral: batching, preemption, prefix caching, stops
// and aborts must never change what a request gets.
#include "runtime/engine/engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "runtime/backend/cpu/cpu_loader.h"
#include "tests/support/local_cluster.h"

namespace mixserve {
namespace {

struct Collected {
  std::vector<int32_t> ids;
  std::string text;
  bool finished = false;
  FinishReason reason = FinishReason::kNone;
  int64_t cached = 0;
  std::vector<float> logprobs;
  std::vector<SampleResult> prompt_logprobs;
};

class EngineTest : public ::testing::Test {
 protected:
  void Load(int num_blocks, int block_tokens = 4) {
    std::string dir = testing::RepoRoot() + "/tests/data/tiny-mixtral";
    auto tok = model::Tokenizer::Load(dir);
    ASSERT_TRUE(tok.ok()) << tok.status().message();
    tokenizer_ = std::make_unique<model::Tokenizer>(std::move(tok).value());
    cpu::CpuModelOptions options;
    options.kv_block_tokens = block_tokens;
    options.num_kv_blocks = num_blocks;
    auto m = cpu::LoadCpuModel(dir, options);
    ASSERT_TRUE(m.ok()) << m.status().message();
    model_ = std::move(m).value();
  }

  Request Greedy(const std::string& id, std::vector<int32_t> prompt, int max_tokens) {
    Request r;
    r.id = id;
    r.prompt = std::move(prompt);
    r.max_tokens = max_tokens;
    r.sampling.temperature = 0;
    r.ignore_eos = true;
    r.on_output = [this, id](const RequestOutput& out) {
      Collected& c = results_[id];
      c.ids.insert(c.ids.end(), out.token_ids.begin(), out.token_ids.end());
      c.text += out.text;
      c.finished = out.finished;
      c.reason = out.finish_reason;
      c.cached = out.cached_prompt_tokens;
      for (const SampleResult& s : out.logprobs) c.logprobs.push_back(s.logprob);
      c.prompt_logprobs.insert(c.prompt_logprobs.end(), out.prompt_logprobs.begin(), out.prompt_logprobs.end());
    };
    return r;
  }

  void RunToEnd(Engine& engine) {
    for (int i = 0; i < 10000 && engine.Step(); ++i) {
    }
  }

  static std::vector<int32_t> Prompt(int n, int seed) {
    std::vector<int32_t> p = {1};
    for (int i = 1; i < n; ++i) p.push_back(100 + (seed * 7919 + i * 104729) % 30000);
    return p;
  }

  std::unique_ptr<model::Tokenizer> tokenizer_;
  std::unique_ptr<cpu::CpuModel> model_;
  std::map<std::string, Collected> results_;
};

TEST_F(EngineTest, BatchedEqualsAloneEvenUnderPreemption) {
  // Alone: plenty of blocks, one request at a time.
  Load(256);
  std::map<std::string, std::vector<int32_t>> alone;
  for (int r = 0; r < 6; ++r) {
    Engine engine(model_.get(), tokenizer_.get(), {});
    ASSERT_TRUE(engine.Submit(Greedy("r" + std::to_string(r), Prompt(3 + 7 * r, r), 4 + 3 * r)).ok());
    RunToEnd(engine);
    alone["r" + std::to_string(r)] = results_["r" + std::to_string(r)].ids;
  }
  // Together, with a KV cache too small for all of them and small steps: chunked prefill and preemption.
  results_.clear();
  Load(16);  // 64 tokens: the largest request (57) fits alone, not all six (192) together
  EngineConfig config;
  config.scheduler.max_num_batched_tokens = 8;
  Engine engine(model_.get(), tokenizer_.get(), config);
  for (int r = 0; r < 6; ++r) ASSERT_TRUE(engine.Submit(Greedy("r" + std::to_string(r), Prompt(3 + 7 * r, r), 4 + 3 * r)).ok());
  RunToEnd(engine);
  for (auto& [id, ids] : alone) {
    EXPECT_TRUE(results_[id].finished) << id;
    EXPECT_EQ(results_[id].reason, FinishReason::kLength) << id;
    EXPECT_EQ(results_[id].ids, ids) << id;
  }
  EXPECT_GT(engine.stats().preemptions_total.load(), 0) << "the test should exercise preemption";
  EXPECT_DOUBLE_EQ(engine.stats().kv_usage.load(), 0.0);
}

TEST_F(EngineTest, PrefixCacheHitsForASharedPrefix) {
  Load(64);
  Engine engine(model_.get(), tokenizer_.get(), {});
  std::vector<int32_t> first = Prompt(30, 1), second = first;
  second.back() = 4242;
  ASSERT_TRUE(engine.Submit(Greedy("a", first, 3)).ok());
  RunToEnd(engine);
  ASSERT_TRUE(engine.Submit(Greedy("b", second, 3)).ok());
  RunToEnd(engine);
  EXPECT_EQ(results_["a"].cached, 0);
  EXPECT_EQ(results_["b"].cached, 28);  // 7 full blocks of 4
  EXPECT_EQ(engine.stats().prefix_cache_hits.load(), 28);
}

TEST_F(EngineTest, StopStringsCutTheTextAndFinishWithStop) {
  Load(64);
  Engine engine(model_.get(), tokenizer_.get(), {});
  std::vector<int32_t> prompt = {1, 15043};
  ASSERT_TRUE(engine.Submit(Greedy("full", prompt, 12)).ok());
  RunToEnd(engine);
  std::string full = results_["full"].text;
  ASSERT_GT(full.size(), 12u);
  std::string stop = full.substr(5, 4);
  Request r = Greedy("stopped", prompt, 12);
  r.stop = {stop};
  ASSERT_TRUE(engine.Submit(std::move(r)).ok());
  RunToEnd(engine);
  EXPECT_EQ(results_["stopped"].reason, FinishReason::kStop);
  EXPECT_EQ(results_["stopped"].text, full.substr(0, full.find(stop)));
}

TEST_F(EngineTest, AbortFreesBlocksWithinAStep) {
  Load(64);
  Engine engine(model_.get(), tokenizer_.get(), {});
  ASSERT_TRUE(engine.Submit(Greedy("long", Prompt(20, 3), 200)).ok());
  for (int i = 0; i < 3; ++i) engine.Step();
  EXPECT_GT(engine.stats().kv_usage.load(), 0.0);
  engine.Abort("long");
  engine.Step();
  EXPECT_TRUE(results_["long"].finished);
  EXPECT_EQ(results_["long"].reason, FinishReason::kAbort);
  EXPECT_DOUBLE_EQ(engine.stats().kv_usage.load(), 0.0);
}

TEST_F(EngineTest, PromptLogprobsMatchTheLogprobsOfGeneration) {
  // Generate greedily after a prompt, then score prompt + generation as one prompt: the scores of
  // the generated tokens must be the logprobs they were generated with.
  Load(64);
  Engine engine(model_.get(), tokenizer_.get(), {});
  std::vector<int32_t> prompt = Prompt(10, 4);
  Request gen = Greedy("gen", prompt, 6);
  gen.logprobs = true;
  ASSERT_TRUE(engine.Submit(std::move(gen)).ok());
  RunToEnd(engine);
  const Collected& g = results_["gen"];
  ASSERT_EQ(g.ids.size(), 6u);
  std::vector<int32_t> whole = prompt;
  whole.insert(whole.end(), g.ids.begin(), g.ids.end());
  Request score = Greedy("score", whole, 1);
  score.prompt_logprobs = true;
  score.sampling.top_logprobs = 2;
  ASSERT_TRUE(engine.Submit(std::move(score)).ok());
  RunToEnd(engine);
  const Collected& s = results_["score"];
  EXPECT_EQ(s.cached, 0) << "prompt logprobs need every prompt token computed";
  ASSERT_EQ(s.prompt_logprobs.size(), whole.size() - 1);
  for (size_t i = 0; i < g.ids.size(); ++i) {
    const SampleResult& r = s.prompt_logprobs[prompt.size() - 1 + i];
    EXPECT_EQ(r.token, g.ids[i]);
    EXPECT_NEAR(r.logprob, g.logprobs[i], 1e-4) << i;
    ASSERT_EQ(r.top_logprobs.size(), 2u);
    EXPECT_EQ(r.top_logprobs[0].token, g.ids[i]) << "greedy picked the likeliest token";
  }
}

TEST_F(EngineTest, TextKeepsTheLeadingSpaceOfTheFirstToken) {
  // Decoding the generated ids on their own would drop the first token's leading space; the
  // engine decodes them after the prompt, as the full text reads.
  Load(64);
  Engine engine(model_.get(), tokenizer_.get(), {});
  std::vector<int32_t> prompt = {1, 15043};
  ASSERT_TRUE(engine.Submit(Greedy("t", prompt, 8)).ok());
  RunToEnd(engine);
  std::vector<int32_t> whole = prompt;
  whole.insert(whole.end(), results_["t"].ids.begin(), results_["t"].ids.end());
  auto full = tokenizer_->Decode(whole, true);
  auto head = tokenizer_->Decode(prompt, true);
  ASSERT_TRUE(full.ok() && head.ok());
  EXPECT_EQ(head->size() + results_["t"].text.size(), full->size());
  EXPECT_EQ(*head + results_["t"].text, *full);
}

TEST_F(EngineTest, RejectsWhatCanNeverRun) {
  Load(8);  // 32 tokens of KV
  EngineConfig config;
  config.max_model_len = 64;
  config.max_queue = 1;
  Engine engine(model_.get(), tokenizer_.get(), config);
  Status too_long = engine.Submit(Greedy("x", Prompt(60, 1), 10));
  EXPECT_EQ(too_long.message(),
            "this model's maximum context length is 64 tokens, but the request asks for 70 (60 in the prompt, 10 to generate)");
  EXPECT_NE(engine.Submit(Greedy("y", Prompt(30, 1), 10)).message().find("more than the 32"), std::string::npos);
  EXPECT_FALSE(engine.Submit(Greedy("z", {}, 1)).ok());
  ASSERT_TRUE(engine.Submit(Greedy("q1", Prompt(4, 1), 1)).ok());
  Status busy = engine.Submit(Greedy("q2", Prompt(4, 2), 1));
  EXPECT_EQ(busy.code(), Status::Code::kUnavailable);
}

// The greedy fast path (EngineConfig::greedy_forward, CUDA's argmax on the device) must give the
// tokens and text the host sampler gives, and be used only for steps where every sequence is greedy
// without penalties or logprobs.
TEST_F(EngineTest, GreedyForwardGivesWhatTheHostSamplerGives) {
  Load(64);
  auto run = [&](bool fast, bool with_logprobs, int64_t* fast_steps, int64_t* steps) {
    results_.clear();
    EngineConfig config;
    config.scheduler.max_num_batched_tokens = 16;  // chunked prefill: mid-prompt rows are ignored
    if (fast) {
      config.greedy_forward = [this](const ForwardBatch& batch, std::vector<int32_t>* next) {
        ForwardOutput out;
        if (Status s = model_->Forward(batch, &out); !s.ok()) return s;
        next->clear();
        for (size_t i = 0; i < batch.seqs.size(); ++i) {
          const float* row = out.row(out.row_begin[i]);
          next->push_back(static_cast<int32_t>(std::max_element(row, row + out.vocab_size) - row));
        }
        return Status::Ok();
      };
    }
    Engine engine(model_.get(), tokenizer_.get(), config);
    for (int r = 0; r < 4; ++r) EXPECT_TRUE(engine.Submit(Greedy("g" + std::to_string(r), Prompt(5 + 9 * r, r), 6 + r)).ok());
    if (with_logprobs) {
      Request lp = Greedy("lp", Prompt(7, 9), 5);
      lp.logprobs = true;
      EXPECT_TRUE(engine.Submit(std::move(lp)).ok());
    }
    RunToEnd(engine);
    *fast_steps = engine.stats().greedy_steps_total.load();
    *steps = engine.stats().steps_total.load();
    return results_;
  };
  int64_t fast_steps = 0, steps = 0;
  auto host = run(false, false, &fast_steps, &steps);
  EXPECT_EQ(fast_steps, 0);
  auto device = run(true, false, &fast_steps, &steps);
  EXPECT_EQ(fast_steps, steps) << "every step is greedy-only";
  ASSERT_EQ(host.size(), 4u);
  for (auto& [id, c] : host) {
    EXPECT_EQ(device[id].ids, c.ids) << id;
    EXPECT_EQ(device[id].text, c.text) << id;
    EXPECT_EQ(device[id].reason, FinishReason::kLength) << id;
  }
  // A request that wants logprobs needs the logits: the steps it is part of use Forward, and its
  // logprobs are real (negative), not the fast path's unknown 0.
  auto mixed = run(true, true, &fast_steps, &steps);
  EXPECT_LT(fast_steps, steps);
  EXPECT_GT(fast_steps, 0) << "steps after the logprobs request finished are greedy-only";
  ASSERT_EQ(mixed["lp"].logprobs.size(), 5u);
  for (float lp : mixed["lp"].logprobs) EXPECT_LT(lp, 0.0f);
  for (auto& [id, c] : host) EXPECT_EQ(mixed[id].ids, c.ids) << id;
}

}  // namespace
}  // namespace mixserve
