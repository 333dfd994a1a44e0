// Engine: the serving loop. One thread owns the backend; clients submit requests from any thread
// and receive their outputs through the request's callback.
//
// Each step: take new and aborted requests from the inbox, schedule (continuous batching, chunked
// prefill, preemption), run one Forward over the batch, sample the sequences whose prompt is fully
// computed, detokenize incrementally, apply stop conditions, and report. Step() can also be driven
// by hand (no thread) for tests and for `mixserve generate`.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/backend/backend.h"
#include "runtime/base/status.h"
#include "runtime/engine/block_manager.h"
#include "runtime/engine/request.h"
#include "runtime/engine/scheduler.h"
#include "runtime/model/tokenizer.h"

namespace mixserve {

// A forward step that picks each logits row's argmax on the device and returns one token per row
// (CudaModel::ForwardGreedy): no logits leave the device and no host softmax runs.
using GreedyForward = std::function<Status(const ForwardBatch& batch, std::vector<int32_t>* next_tokens)>;

struct EngineConfig {
  SchedulerConfig scheduler;
  int64_t max_model_len = 4096;  // prompt + generated tokens of one sequence
  int64_t max_queue = 1024;      // waiting requests beyond this are refused
  // Optional. When set, a step whose every sequence is greedy with no penalties, logprobs or prompt
  // logprobs runs through it instead of Backend::Forward; the tokens are the same argmax the
  // host sampler would pick. Unset (the CPU backend): every step uses Forward and the host sampler.
  GreedyForward greedy_forward;
};

// Counters for /metrics, read from any thread.
struct EngineStats {
  std::atomic<int64_t> num_running{0};
  std::atomic<int64_t> num_waiting{0};
  std::atomic<double> kv_usage{0.0};
  std::atomic<int64_t> prompt_tokens_total{0};
  std::atomic<int64_t> generation_tokens_total{0};
  std::atomic<int64_t> prefix_cache_queries{0};  // tokens looked up
  std::atomic<int64_t> prefix_cache_hits{0};     // tokens found
  std::atomic<int64_t> preemptions_total{0};
  std::atomic<int64_t> steps_total{0};
  std::atomic<int64_t> greedy_steps_total{0};    // steps that ran through EngineConfig::greedy_forward
};

class Engine {
 public:
  // REQUIRES: backend and tokenizer outlive the engine.
  Engine(Backend* backend, const model::Tokenizer* tokenizer, EngineConfig config);
  ~Engine();

  // Checks the request (lengths, sampling parameters) and queues it. Errors are for the client:
  // InvalidArgument for a bad request, Unavailable when the queue is full or the engine stopped.
  Status Submit(Request request);
  // Finishes the request with reason abort and frees its KV blocks within one step. Unknown ids are ignored.
  void Abort(const std::string& request_id);

  // Runs one step; returns false when there was nothing to do.
  bool Step();
  // Starts / stops the background loop that calls Step().
  void Start();
  void Stop();

  bool idle() const;
  const EngineStats& stats() const { return stats_; }
  const EngineConfig& config() const { return config_; }

 private:
  void DrainInbox();
  // Samples, detokenizes and reports one sequence whose tokens are all computed; true when it finished.
  bool Advance(Sequence* seq, const float* logits, int vocab_size);
  // The same with the token already chosen (the greedy fast path).
  bool Emit(Sequence* seq, const SampleResult& sample);
  // Whether `seq` can take its next token from GreedyForward (greedy, no penalties, no logprobs).
  static bool GreedyOnly(const Sequence& seq);
  // Fills the counters of `out`, sends it, and on a finish reason removes the sequence.
  void Report(Sequence* seq, RequestOutput out, FinishReason reason);
  void Loop();
  // Prompt logprobs: whether this step must return logits for every token of `seq`, and scoring
  // the rows it got (first_row.., num_tokens of them) against the prompt's next tokens.
  static bool WantsPromptLogprobs(const Sequence& seq);
  void ScorePrompt(Sequence* seq, const ForwardOutput& out, int first_row, int64_t num_tokens);

  Backend* backend_;
  const model::Tokenizer* tokenizer_;
  EngineConfig config_;
  BlockManager blocks_;
  Scheduler scheduler_;
  EngineStats stats_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Sequence>> inbox_;
  std::vector<std::string> aborts_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace mixserve
