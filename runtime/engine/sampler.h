// Sampler: turns one row of logits into the next token, the way vLLM and the OpenAI API define
// the sampling parameters.
//
// Order of operations: penalties (repetition over prompt and output, frequency and presence over
// the output) -> temperature (0 means greedy) -> top-k -> top-p -> min-p -> draw. Logprobs are
// reported from the model's raw distribution (log-softmax of the unmodified logits), as vLLM does
// by default. A Sampler belongs to one request: it holds the request's random stream, so the same
// seed gives the same tokens.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "runtime/base/status.h"

namespace mixserve {

struct SamplingParams {
  float temperature = 1.0f;         // 0: greedy
  float top_p = 1.0f;               // (0, 1]
  int top_k = 0;                    // 0 or -1: off
  float min_p = 0.0f;               // [0, 1]
  float presence_penalty = 0.0f;    // [-2, 2]
  float frequency_penalty = 0.0f;   // [-2, 2]
  float repetition_penalty = 1.0f;  // > 0; 1: off
  std::optional<uint64_t> seed;
  int top_logprobs = 0;             // how many alternatives to report, [0, 20]

  // InvalidArgument naming the first parameter out of range.
  Status Validate() const;
  bool greedy() const { return temperature < 1e-5f; }
};

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;
};

struct SampleResult {
  int32_t token = 0;
  float logprob = 0.0f;                   // of `token` under the raw distribution
  std::vector<TokenLogprob> top_logprobs; // best first, params.top_logprobs entries
};

// The raw-distribution logprob of `token` under `logits` (vocab_size,) and the `top_logprobs`
// likeliest tokens: what a prompt token's logprob reports (echo with logprobs).
SampleResult ScoreToken(const float* logits, int vocab_size, int32_t token, int top_logprobs);

class Sampler {
 public:
  // `prompt` is kept for the repetition penalty.
  Sampler(const SamplingParams& params, std::vector<int32_t> prompt);

  // Samples from logits (vocab_size,) and records the token as generated output.
  SampleResult Sample(const float* logits, int vocab_size);
  // Records `token`, chosen elsewhere (a greedy argmax on the device), as generated output; its
  // logprob is not known (0).
  SampleResult Accept(int32_t token);

  const std::vector<int32_t>& output() const { return output_; }

 private:
  // Uniform double in [0, 1) from the request's stream, identical on every platform.
  double NextUniform();
  // Appends `token` to the output and to the penalty counts where they exist.
  void Record(int32_t token);

  SamplingParams params_;
  std::vector<int32_t> prompt_;
  std::vector<int32_t> output_;
  std::vector<int32_t> output_counts_;  // per vocabulary id, sized lazily
  std::vector<uint8_t> in_prompt_;      // per vocabulary id, sized lazily
  std::mt19937_64 rng_;
};

}  // namespace mixserve
