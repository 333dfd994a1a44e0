#include "runtime/engine/scheduler.h"

#include <algorithm>

namespace mixserve {

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kAbort: return "abort";
    case FinishReason::kNone: break;
  }
  return "";
}

Scheduler::Scheduler(SchedulerConfig config, BlockManager* blocks) : config_(config), blocks_(blocks) {}

void Scheduler::Add(std::unique_ptr<Sequence> seq) { waiting_.push_back(std::move(seq)); }

Sequence* Scheduler::Find(const std::string& request_id) {
  for (auto& s : running_) if (s->request.id == request_id) return s.get();
  for (auto& s : waiting_) if (s->request.id == request_id) return s.get();
  return nullptr;
}

void Scheduler::Finish(Sequence* seq) {
  blocks_->Free(seq->block_table);
  seq->block_table.clear();
  auto owned = [seq](const std::unique_ptr<Sequence>& p) { return p.get() == seq; };
  if (auto it = std::find_if(running_.begin(), running_.end(), owned); it != running_.end()) {
    running_.erase(it);
  } else if (auto wt = std::find_if(waiting_.begin(), waiting_.end(), owned); wt != waiting_.end()) {
    waiting_.erase(wt);
  }
}

void Scheduler::Preempt(Sequence* seq) {
  blocks_->Free(seq->block_table);
  seq->block_table.clear();
  seq->num_computed = 0;
  ++seq->num_preemptions;
  ++preemptions_;
  auto it = std::find_if(running_.begin(), running_.end(), [seq](const auto& p) { return p.get() == seq; });
  waiting_.push_front(std::move(*it));
  running_.erase(it);
}

std::vector<ScheduledSeq> Scheduler::Schedule() {
  std::vector<ScheduledSeq> out;
  int64_t budget = config_.max_num_batched_tokens;

  // Running sequences, oldest first: a decode token, or the next chunk of an unfinished prefill.
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    Sequence* seq = running_[i].get();
    int64_t remaining = static_cast<int64_t>(seq->tokens.size()) - seq->num_computed;
    int64_t n = std::min(remaining, budget);
    bool preempted_self = false;
    while (!blocks_->Grow(seq->block_table, seq->num_computed + n)) {
      Sequence* victim = running_.back().get();  // most recently admitted
      preempted_self = victim == seq;
      // A victim already scheduled this step must come out of the batch too.
      out.erase(std::remove_if(out.begin(), out.end(), [victim](const ScheduledSeq& s) { return s.seq == victim; }),
                out.end());
      Preempt(victim);
      if (preempted_self) break;
    }
    if (preempted_self) break;  // everything after it was preempted first
    out.push_back({seq, n});
    budget -= n;
    ++i;
  }

  // Waiting sequences in order, while blocks, budget and the sequence limit allow.
  while (!waiting_.empty() && budget > 0 && static_cast<int>(running_.size()) < config_.max_num_seqs) {
    Sequence* seq = waiting_.front().get();
    auto alloc = blocks_->Allocate(seq->tokens, static_cast<int64_t>(seq->tokens.size()),
                                   /*use_prefix_cache=*/!seq->request.prompt_logprobs);
    if (!alloc) break;
    seq->block_table = std::move(alloc->block_table);
    seq->num_computed = alloc->cached_tokens;
    if (!seq->admitted_once) {
      seq->cached_prompt_tokens = std::min(alloc->cached_tokens, seq->prompt_len);
      seq->admitted_once = true;
    }
    seq->admit_order = next_admit_++;
    int64_t n = std::min(static_cast<int64_t>(seq->tokens.size()) - seq->num_computed, budget);
    out.push_back({seq, n});
    budget -= n;
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  return out;
}

}  // namespace mixserve
