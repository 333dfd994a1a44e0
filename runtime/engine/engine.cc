#include "runtime/engine/engine.h"

#include <algorithm>

namespace mixserve {
namespace {

constexpr size_t kDetokenizerContextTokens = 4;

// Length of the longest suffix of `text` that is a proper prefix of some stop string: that much
// must be held back in case the next token completes the stop string.
size_t StopPrefixSuffix(const std::string& text, const std::vector<std::string>& stops) {
  size_t keep = 0;
  for (const std::string& stop : stops) {
    for (size_t n = std::min(stop.size() - 1, text.size()); n > keep; --n) {
      if (text.compare(text.size() - n, n, stop, 0, n) == 0) {
        keep = n;
        break;
      }
    }
  }
  return keep;
}

}  // namespace

Engine::Engine(Backend* backend, const model::Tokenizer* tokenizer, EngineConfig config)
    : backend_(backend),
      tokenizer_(tokenizer),
      config_(config),
      blocks_(backend->num_kv_blocks(), backend->kv_block_tokens()),
      scheduler_(config.scheduler, &blocks_) {}

Engine::~Engine() { Stop(); }

Status Engine::Submit(Request request) {
  const int64_t prompt_len = static_cast<int64_t>(request.prompt.size());
  if (prompt_len == 0) return Status::InvalidArgument("the prompt is empty");
  if (request.max_tokens < 1) return Status::InvalidArgument("max_tokens must be at least 1");
  if (prompt_len + request.max_tokens > config_.max_model_len) {
    return Status::InvalidArgument("this model's maximum context length is " + std::to_string(config_.max_model_len) +
                                   " tokens, but the request asks for " + std::to_string(prompt_len + request.max_tokens) +
                                   " (" + std::to_string(prompt_len) + " in the prompt, " +
                                   std::to_string(request.max_tokens) + " to generate)");
  }
  const int64_t capacity = static_cast<int64_t>(blocks_.num_blocks()) * blocks_.kv_block_tokens();
  if (prompt_len + request.max_tokens > capacity) {
    return Status::InvalidArgument("the request needs " + std::to_string(prompt_len + request.max_tokens) +
                                   " tokens of KV cache, more than the " + std::to_string(capacity) + " the server has");
  }
  for (int32_t t : request.prompt) {
    if (t < 0 || t >= backend_->vocab_size()) return Status::InvalidArgument("token id " + std::to_string(t) + " is out of range");
  }
  if (Status s = request.sampling.Validate(); !s.ok()) return s;
  for (const std::string& stop : request.stop) {
    if (stop.empty()) return Status::InvalidArgument("stop strings must not be empty");
  }

  auto seq = std::make_unique<Sequence>();
  seq->tokens = request.prompt;
  seq->prompt_len = prompt_len;
  seq->sampler = std::make_unique<Sampler>(request.sampling, request.prompt);
  seq->detokenizer = std::make_unique<model::IncrementalDetokenizer>(*tokenizer_, request.skip_special_tokens);
  // The prompt's last tokens are the detokenizer's context, so the first generated token keeps its
  // leading space (as vLLM's output does) instead of being decoded as the start of a text.
  for (size_t i = request.prompt.size() - std::min<size_t>(request.prompt.size(), kDetokenizerContextTokens);
       i < request.prompt.size(); ++i) {
    (void)seq->detokenizer->Step(request.prompt[i]);
  }
  seq->request = std::move(request);
  std::lock_guard<std::mutex> lock(mu_);
  if (stop_) return Status::Unavailable("the engine is shutting down");
  int64_t waiting = static_cast<int64_t>(inbox_.size()) + stats_.num_waiting;
  if (waiting >= config_.max_queue) {
    return Status::Unavailable("the server is busy: " + std::to_string(waiting) + " requests are waiting");
  }
  inbox_.push_back(std::move(seq));
  cv_.notify_one();
  return Status::Ok();
}

void Engine::Abort(const std::string& request_id) {
  std::lock_guard<std::mutex> lock(mu_);
  aborts_.push_back(request_id);
  cv_.notify_one();
}

bool Engine::idle() const {
  std::lock_guard<std::mutex> lock(mu_);
  return inbox_.empty() && aborts_.empty() && stats_.num_running == 0 && stats_.num_waiting == 0;
}

void Engine::DrainInbox() {
  std::vector<std::unique_ptr<Sequence>> inbox;
  std::vector<std::string> aborts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    inbox.swap(inbox_);
    aborts.swap(aborts_);
  }
  for (auto& seq : inbox) scheduler_.Add(std::move(seq));
  for (const std::string& id : aborts) {
    if (Sequence* seq = scheduler_.Find(id)) Report(seq, RequestOutput{}, FinishReason::kAbort);
  }
}

void Engine::Report(Sequence* seq, RequestOutput out, FinishReason reason) {
  out.prompt_tokens = seq->prompt_len;
  out.completion_tokens = seq->generated();
  out.cached_prompt_tokens = seq->cached_prompt_tokens;
  out.finished = reason != FinishReason::kNone;
  out.finish_reason = reason;
  if (seq->request.on_output) seq->request.on_output(out);
  if (out.finished) scheduler_.Finish(seq);  // frees its blocks and destroys it
}

bool Engine::Advance(Sequence* seq, const float* logits, int vocab_size) {
  return Emit(seq, seq->sampler->Sample(logits, vocab_size));
}

bool Engine::GreedyOnly(const Sequence& seq) {
  const Request& req = seq.request;
  const SamplingParams& p = req.sampling;
  return p.greedy() && p.repetition_penalty == 1.0f && p.presence_penalty == 0.0f && p.frequency_penalty == 0.0f &&
         !req.logprobs && p.top_logprobs == 0 && !req.prompt_logprobs;
}

bool Engine::Emit(Sequence* seq, const SampleResult& sample) {
  const Request& req = seq->request;
  seq->tokens.push_back(sample.token);
  stats_.generation_tokens_total++;

  RequestOutput out;
  out.token_ids.push_back(sample.token);
  if (req.prompt_logprobs && !seq->prompt_logprobs_sent) {
    out.prompt_logprobs = std::move(seq->prompt_logprobs);
    seq->prompt_logprobs_sent = true;
  }
  if (req.logprobs) out.logprobs.push_back(sample);

  FinishReason reason = FinishReason::kNone;
  bool is_stop_token = (!req.ignore_eos && tokenizer_->eos_id() && sample.token == *tokenizer_->eos_id()) ||
                       std::count(req.stop_token_ids.begin(), req.stop_token_ids.end(), sample.token) > 0;
  if (is_stop_token) {
    reason = FinishReason::kStop;  // the stop token itself adds no text
  } else {
    auto piece = seq->detokenizer->Step(sample.token);
    if (piece.ok()) seq->held_text += *piece;
  }
  if (reason == FinishReason::kNone && seq->generated() >= req.max_tokens) reason = FinishReason::kLength;
  if (reason != FinishReason::kNone && !is_stop_token) {
    auto tail = seq->detokenizer->Finish();
    if (tail.ok()) seq->held_text += *tail;
  }
  // Stop strings: cut the text at the first match and finish.
  for (const std::string& stop : req.stop) {
    size_t at = seq->held_text.find(stop);
    if (at != std::string::npos) {
      seq->held_text.resize(at);
      reason = FinishReason::kStop;
    }
  }
  size_t hold = reason == FinishReason::kNone ? StopPrefixSuffix(seq->held_text, req.stop) : 0;
  out.text = seq->held_text.substr(0, seq->held_text.size() - hold);
  seq->held_text.erase(0, out.text.size());
  Report(seq, std::move(out), reason);
  return reason != FinishReason::kNone;
}

bool Engine::WantsPromptLogprobs(const Sequence& seq) {
  // After a preemption the prompt is recomputed; its logprobs are already known.
  return seq.request.prompt_logprobs && !seq.prompt_logprobs_sent && seq.num_computed < seq.prompt_len &&
         static_cast<int64_t>(seq.prompt_logprobs.size()) < seq.prompt_len - 1;
}

void Engine::ScorePrompt(Sequence* seq, const ForwardOutput& out, int first_row, int64_t num_tokens) {
  for (int64_t r = 0; r < num_tokens; ++r) {
    const int64_t next = seq->num_computed + r + 1;  // the token this row's logits predict
    if (next >= seq->prompt_len || next != static_cast<int64_t>(seq->prompt_logprobs.size()) + 1) continue;
    seq->prompt_logprobs.push_back(ScoreToken(out.row(first_row + static_cast<int>(r)), out.vocab_size,
                                              seq->tokens[next], seq->request.sampling.top_logprobs));
  }
}

bool Engine::Step() {
  DrainInbox();
  std::vector<ScheduledSeq> work = scheduler_.Schedule();
  stats_.preemptions_total = scheduler_.num_preemptions();
  if (work.empty()) {
    stats_.num_running = static_cast<int64_t>(scheduler_.num_running());
    stats_.num_waiting = static_cast<int64_t>(scheduler_.num_waiting());
    stats_.kv_usage = blocks_.usage();
    return false;
  }

  ForwardBatch batch;
  for (const ScheduledSeq& s : work) {
    SeqForward f;
    f.tokens.assign(s.seq->tokens.begin() + s.seq->num_computed, s.seq->tokens.begin() + s.seq->num_computed + s.num_tokens);
    f.start_pos = static_cast<int32_t>(s.seq->num_computed);
    f.block_table = s.seq->block_table;
    f.all_logits = WantsPromptLogprobs(*s.seq);
    batch.seqs.push_back(std::move(f));
    if (s.seq->num_computed < s.seq->prompt_len) {
      stats_.prompt_tokens_total += std::min(s.num_tokens, s.seq->prompt_len - s.seq->num_computed);
    }
  }
  // The greedy fast path: every sequence of the step greedy, no logits needed on the host.
  bool fast = static_cast<bool>(config_.greedy_forward);
  for (size_t i = 0; fast && i < work.size(); ++i) fast = !batch.seqs[i].all_logits && GreedyOnly(*work[i].seq);
  ForwardOutput out;
  std::vector<int32_t> greedy_tokens;
  Status status;
  if (fast) {
    status = config_.greedy_forward(batch, &greedy_tokens);
    if (status.ok() && greedy_tokens.size() != work.size()) {
      status = Status::Internal("greedy forward returned " + std::to_string(greedy_tokens.size()) + " tokens for " +
                                std::to_string(work.size()) + " sequences");
    }
    stats_.greedy_steps_total++;
  } else {
    status = backend_->Forward(batch, &out);
  }
  stats_.steps_total++;
  for (size_t i = 0; i < work.size(); ++i) {
    Sequence* seq = work[i].seq;
    if (!status.ok()) {  // a backend failure ends the requests of this step rather than the server
      Report(seq, RequestOutput{}, FinishReason::kAbort);
      continue;
    }
    const bool all_logits = batch.seqs[i].all_logits;
    if (all_logits) ScorePrompt(seq, out, out.row_begin[i], work[i].num_tokens);
    seq->num_computed += work[i].num_tokens;
    blocks_.CommitFullBlocks(seq->block_table, seq->tokens, seq->num_computed);
    if (seq->num_computed != static_cast<int64_t>(seq->tokens.size())) continue;  // mid-prompt
    if (fast) {
      Emit(seq, seq->sampler->Accept(greedy_tokens[i]));
    } else {
      const int last_row = out.row_begin[i] + (all_logits ? static_cast<int>(work[i].num_tokens) - 1 : 0);
      Advance(seq, out.row(last_row), out.vocab_size);
    }
  }
  stats_.num_running = static_cast<int64_t>(scheduler_.num_running());
  stats_.num_waiting = static_cast<int64_t>(scheduler_.num_waiting());
  stats_.kv_usage = blocks_.usage();
  stats_.prefix_cache_queries = blocks_.prefix_queries();
  stats_.prefix_cache_hits = blocks_.prefix_hits();
  return true;
}

void Engine::Loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      // Only this thread touches the scheduler, so reading its sizes here is safe.
      cv_.wait(lock, [this] {
        return stop_ || !inbox_.empty() || !aborts_.empty() || scheduler_.num_running() + scheduler_.num_waiting() > 0;
      });
      if (stop_) return;
    }
    if (!Step()) {  // waiting work that cannot run yet: sleep until something changes
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(5), [this] { return stop_ || !inbox_.empty() || !aborts_.empty(); });
    }
  }
}

void Engine::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void Engine::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace mixserve
