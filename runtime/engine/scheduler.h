// Scheduler: decides, each step, which sequences run and how many of their tokens.
//
// Continuous batching with chunked prefill: running sequences first get their decode token (or
// their next prefill chunk), then waiting sequences are admitted in arrival order while KV blocks,
// the step's token budget and the sequence limit allow. When a running sequence needs a new block
// and none is free, the most recently admitted running sequence is preempted by recompute: its
// blocks are freed and it goes back to the front of the waiting queue (its tokens so far kept).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "runtime/engine/block_manager.h"
#include "runtime/engine/request.h"
#include "runtime/engine/sampler.h"
#include "runtime/model/detokenizer.h"

namespace mixserve {

// A request inside the engine: its tokens so far and where its KV cache stands.
struct Sequence {
  Request request;
  std::vector<int32_t> tokens;       // prompt, then generated tokens
  int64_t prompt_len = 0;
  int64_t num_computed = 0;          // tokens whose K/V are in the cache
  int64_t cached_prompt_tokens = 0;  // from the prefix cache at first admission
  std::vector<int32_t> block_table;
  bool admitted_once = false;
  uint64_t admit_order = 0;          // larger: admitted later (preempted first)
  int num_preemptions = 0;

  // Output state, kept across preemptions.
  std::unique_ptr<Sampler> sampler;
  std::unique_ptr<model::IncrementalDetokenizer> detokenizer;
  std::string held_text;  // detokenized but not yet sent: may be the start of a stop string
  std::vector<SampleResult> prompt_logprobs;  // for prompt tokens 1.., filled during prefill
  bool prompt_logprobs_sent = false;

  int64_t generated() const { return static_cast<int64_t>(tokens.size()) - prompt_len; }
};

struct SchedulerConfig {
  int max_num_seqs = 256;
  int64_t max_num_batched_tokens = 2048;  // token budget of one step (prefill chunks + decodes)
};

struct ScheduledSeq {
  Sequence* seq;
  int64_t num_tokens;  // tokens computed this step, starting at seq->num_computed
};

class Scheduler {
 public:
  Scheduler(SchedulerConfig config, BlockManager* blocks);

  void Add(std::unique_ptr<Sequence> seq);
  // Removes a finished or aborted sequence and frees its blocks. REQUIRES: seq is ours.
  void Finish(Sequence* seq);

  // The next step's work; empty when nothing can run.
  std::vector<ScheduledSeq> Schedule();

  size_t num_waiting() const { return waiting_.size(); }
  size_t num_running() const { return running_.size(); }
  int64_t num_preemptions() const { return preemptions_; }
  Sequence* Find(const std::string& request_id);

 private:
  void Preempt(Sequence* seq);

  SchedulerConfig config_;
  BlockManager* blocks_;
  std::deque<std::unique_ptr<Sequence>> waiting_;
  std::vector<std::unique_ptr<Sequence>> running_;  // admission order
  uint64_t next_admit_ = 0;
  int64_t preemptions_ = 0;
};

}  // namespace mixserve
