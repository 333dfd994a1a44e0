#include "runtime/engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace mixserve {
namespace {

Status OutOfRange(const std::string& name, const std::string& range) {
  return Status::InvalidArgument(name + " must be " + range);
}

// log-softmax of x (n,) into out (n,).
void LogSoftmax(const float* x, int n, std::vector<float>& out) {
  out.resize(n);
  float maxv = *std::max_element(x, x + n);
  double sum = 0.0;
  for (int i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i] - maxv));
  float log_z = maxv + static_cast<float>(std::log(sum));
  for (int i = 0; i < n; ++i) out[i] = x[i] - log_z;
}

// The k largest entries of `logprobs`, best first (ties: lower id first).
std::vector<TokenLogprob> TopLogprobs(const std::vector<float>& logprobs, int k) {
  const int n = static_cast<int>(logprobs.size());
  k = std::min(k, n);
  std::vector<int32_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t a, int32_t b) {
    return logprobs[a] > logprobs[b] || (logprobs[a] == logprobs[b] && a < b);
  });
  std::vector<TokenLogprob> out;
  for (int i = 0; i < k; ++i) out.push_back({idx[i], logprobs[idx[i]]});
  return out;
}

}  // namespace

SampleResult ScoreToken(const float* logits, int vocab_size, int32_t token, int top_logprobs) {
  std::vector<float> logprobs;
  LogSoftmax(logits, vocab_size, logprobs);
  SampleResult r;
  r.token = token;
  r.logprob = token >= 0 && token < vocab_size ? logprobs[token] : -INFINITY;
  if (top_logprobs > 0) r.top_logprobs = TopLogprobs(logprobs, top_logprobs);
  return r;
}

Status SamplingParams::Validate() const {
  if (!(temperature >= 0.0f && temperature <= 2.0f)) return OutOfRange("temperature", "between 0 and 2");
  if (!(top_p > 0.0f && top_p <= 1.0f)) return OutOfRange("top_p", "in (0, 1]");
  if (top_k < -1) return OutOfRange("top_k", "-1, 0 (off) or a positive number");
  if (!(min_p >= 0.0f && min_p <= 1.0f)) return OutOfRange("min_p", "between 0 and 1");
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f)) return OutOfRange("presence_penalty", "between -2 and 2");
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f)) return OutOfRange("frequency_penalty", "between -2 and 2");
  if (!(repetition_penalty > 0.0f && repetition_penalty <= 10.0f)) return OutOfRange("repetition_penalty", "in (0, 10]");
  if (top_logprobs < 0 || top_logprobs > 20) return OutOfRange("top_logprobs", "between 0 and 20");
  return Status::Ok();
}

Sampler::Sampler(const SamplingParams& params, std::vector<int32_t> prompt)
    : params_(params), prompt_(std::move(prompt)), rng_(params.seed ? *params.seed : std::random_device{}()) {}

SampleResult Sampler::Accept(int32_t token) {
  SampleResult result;
  result.token = token;
  Record(token);
  return result;
}

void Sampler::Record(int32_t token) {
  output_.push_back(token);
  // The counts exist only for penalised requests (sized by Sample to the vocabulary).
  if (token >= 0 && static_cast<size_t>(token) < output_counts_.size()) ++output_counts_[token];
}

double Sampler::NextUniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

SampleResult Sampler::Sample(const float* logits, int vocab_size) {
  SampleResult result;
  std::vector<float> raw_logprobs;
  LogSoftmax(logits, vocab_size, raw_logprobs);

  // Penalties, on a copy of the logits.
  std::vector<float> x(logits, logits + vocab_size);
  const bool penalized =
      params_.repetition_penalty != 1.0f || params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f;
  if (penalized) {
    if (in_prompt_.size() != static_cast<size_t>(vocab_size)) {
      in_prompt_.assign(vocab_size, 0);
      for (int32_t t : prompt_) if (t >= 0 && t < vocab_size) in_prompt_[t] = 1;
    }
    output_counts_.resize(vocab_size, 0);
    for (int v = 0; v < vocab_size; ++v) {
      int count = output_counts_[v];
      if (params_.repetition_penalty != 1.0f && (count > 0 || in_prompt_[v])) {
        x[v] = x[v] > 0 ? x[v] / params_.repetition_penalty : x[v] * params_.repetition_penalty;
      }
      x[v] -= params_.frequency_penalty * count + params_.presence_penalty * (count > 0 ? 1.0f : 0.0f);
    }
  }

  int32_t chosen = 0;
  if (params_.greedy()) {
    chosen = static_cast<int32_t>(std::max_element(x.begin(), x.end()) - x.begin());
  } else {
    // Candidates sorted by logit, best first; top-k and top-p cut the tail.
    std::vector<int32_t> order(vocab_size);
    std::iota(order.begin(), order.end(), 0);
    int keep = vocab_size;
    if (params_.top_k > 0 && params_.top_k < vocab_size) keep = params_.top_k;
    auto by_logit = [&](int32_t a, int32_t b) { return x[a] > x[b] || (x[a] == x[b] && a < b); };
    std::partial_sort(order.begin(), order.begin() + keep, order.end(), by_logit);
    order.resize(keep);

    std::vector<double> probs(keep);
    double maxv = x[order[0]] / params_.temperature, total = 0.0;
    for (int i = 0; i < keep; ++i) total += probs[i] = std::exp(x[order[i]] / params_.temperature - maxv);
    for (double& p : probs) p /= total;

    int n = keep;
    if (params_.top_p < 1.0f) {
      double cum = 0.0;
      for (int i = 0; i < keep; ++i) {
        cum += probs[i];
        if (cum >= params_.top_p) {
          n = i + 1;
          break;
        }
      }
    }
    if (params_.min_p > 0.0f) {
      double floor = params_.min_p * probs[0];
      int m = 1;
      while (m < n && probs[m] >= floor) ++m;
      n = m;
    }
    double mass = std::accumulate(probs.begin(), probs.begin() + n, 0.0);
    double u = NextUniform() * mass;
    chosen = order[n - 1];
    for (int i = 0; i < n; ++i) {
      if (u < probs[i]) {
        chosen = order[i];
        break;
      }
      u -= probs[i];
    }
  }

  result.token = chosen;
  result.logprob = raw_logprobs[chosen];
  if (params_.top_logprobs > 0) result.top_logprobs = TopLogprobs(raw_logprobs, params_.top_logprobs);

  Record(chosen);
  return result;
}

}  // namespace mixserve
