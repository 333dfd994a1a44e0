#include "runtime/server/generation.h"

#include "runtime/server/sse.h"
#include "runtime/server/token_text.h"

namespace mixserve::server {

GenerationJob::GenerationJob(JobOptions options, JobSink sink, Engine* engine, const model::Tokenizer* tokenizer,
                             ChoiceObserver observer)
    : options_(std::move(options)),
      sink_(std::move(sink)),
      engine_(engine),
      tokenizer_(tokenizer),
      observer_(std::move(observer)),
      start_(std::chrono::steady_clock::now()) {}

double GenerationJob::Elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::optional<ApiError> GenerationJob::Start(const std::vector<Request>& prompts) {
  std::lock_guard<std::mutex> lock(mu_);
  const int n = options_.n;
  choices_.resize(prompts.size() * n);
  for (size_t i = 0; i < choices_.size(); ++i) {
    choices_[i].request_id = options_.header.id + "-" + std::to_string(i);
  }
  if (options_.stream && options_.chat) {
    for (size_t i = 0; i < choices_.size(); ++i) {
      ChoiceOutput role;
      role.index = static_cast<int>(i);
      sink_.write(SseEvent(ChatChunk(options_.header, role, /*role=*/true, false, options_.include_usage)));
    }
  }
  std::shared_ptr<GenerationJob> self = shared_from_this();  // the engine keeps the job alive until each choice ends
  for (size_t p = 0; p < prompts.size(); ++p) {
    for (int j = 0; j < n; ++j) {
      const int index = static_cast<int>(p) * n + j;
      Request req = prompts[p];
      req.id = choices_[index].request_id;
      if (n > 1 && req.sampling.seed) req.sampling.seed = *req.sampling.seed + static_cast<uint64_t>(j);
      req.on_output = [self, index](const RequestOutput& out) { self->OnOutput(index, out); };
      Status s = engine_->Submit(std::move(req));
      if (!s.ok()) {
        failed_ = true;
        for (int k = 0; k < index; ++k) engine_->Abort(choices_[k].request_id);
        if (s.code() == Status::Code::kUnavailable) return ApiError::Overloaded(s.message());
        return ApiError::Invalid(s.message());
      }
    }
  }
  return std::nullopt;
}

void GenerationJob::Abort() {
  std::lock_guard<std::mutex> lock(mu_);
  aborted_ = true;
  for (const Choice& c : choices_) {
    if (!c.finish_reason) engine_->Abort(c.request_id);
  }
}

void GenerationJob::OnOutput(int index, const RequestOutput& out) {
  std::lock_guard<std::mutex> lock(mu_);
  if (failed_) return;
  Choice& c = choices_[index];
  const double now = Elapsed();
  if (!out.token_ids.empty() && c.ttft_s < 0) c.ttft_s = now;
  if (!out.token_ids.empty() && ttft_s_ < 0) ttft_s_ = now;
  c.completion_tokens = out.completion_tokens;
  c.cached_tokens = out.cached_prompt_tokens;

  std::string text = out.text;
  if (!c.started) {
    c.started = true;
    const size_t prompt = static_cast<size_t>(index / options_.n);
    if (prompt < options_.echo_text.size()) text = options_.echo_text[prompt] + text;
  }
  std::vector<TokenLogprobInfo> logprobs;
  if (options_.logprobs && !out.prompt_logprobs.empty()) {
    const size_t prompt = static_cast<size_t>(index / options_.n);
    TokenLogprobInfo first;
    first.no_logprob = true;
    if (prompt < options_.first_prompt_token.size()) first.text = TokenText(*tokenizer_, options_.first_prompt_token[prompt]);
    logprobs.push_back(std::move(first));
    for (const SampleResult& s : out.prompt_logprobs) logprobs.push_back(LogprobInfo(s));
  }
  if (options_.logprobs) {
    for (const SampleResult& s : out.logprobs) logprobs.push_back(LogprobInfo(s));
  }
  if (out.finished) c.finish_reason = FinishReasonName(out.finish_reason);

  if (options_.stream) {
    StreamIncrement(index, std::move(text), std::move(logprobs), out.finished);
  } else {
    c.text += text;
    for (auto& l : logprobs) c.logprobs.push_back(std::move(l));
  }
  if (out.finished) {
    if (observer_) observer_(c.ttft_s < 0 ? 0.0 : c.ttft_s, now, c.completion_tokens, *c.finish_reason);
    if (++num_finished_ == static_cast<int>(choices_.size())) Finish();
  }
}

TokenLogprobInfo GenerationJob::LogprobInfo(const SampleResult& s) const {
  TokenLogprobInfo info;
  info.text = TokenText(*tokenizer_, s.token);
  info.logprob = s.logprob;
  for (const TokenLogprob& t : s.top_logprobs) info.top.emplace_back(TokenText(*tokenizer_, t.token), t.logprob);
  return info;
}

void GenerationJob::StreamIncrement(int index, std::string text, std::vector<TokenLogprobInfo> logprobs, bool finished) {
  Choice& c = choices_[index];
  if (text.empty() && logprobs.empty() && !finished) return;
  ChoiceOutput delta;
  delta.index = index;
  delta.text = std::move(text);
  delta.logprobs = std::move(logprobs);
  if (finished) delta.finish_reason = c.finish_reason;
  nlohmann::json chunk = options_.chat
                             ? ChatChunk(options_.header, delta, false, options_.logprobs, options_.include_usage)
                             : CompletionChunk(options_.header, delta, options_.logprobs, c.logprob_offset, options_.include_usage);
  for (const TokenLogprobInfo& t : delta.logprobs) c.logprob_offset += static_cast<int64_t>(t.text.size());
  sink_.write(SseEvent(chunk));
}

Usage GenerationJob::TotalUsage() const {
  Usage usage;
  for (int64_t p : options_.prompt_tokens) usage.prompt_tokens += p;
  for (size_t i = 0; i < choices_.size(); ++i) {
    usage.completion_tokens += choices_[i].completion_tokens;
    if (i % options_.n == 0) usage.cached_tokens += choices_[i].cached_tokens;
  }
  return usage;
}

void GenerationJob::Finish() {
  const Usage usage = TotalUsage();
  JobSummary summary;
  summary.prompt_tokens = usage.prompt_tokens;
  summary.completion_tokens = usage.completion_tokens;
  summary.ttft_s = ttft_s_;
  summary.finish_reason = choices_.empty() ? "" : choices_[0].finish_reason.value_or("");
  bool backend_failed = false;
  for (const Choice& c : choices_) backend_failed |= c.finish_reason == std::string("abort");
  if (options_.stream) {
    if (options_.include_usage) {
      sink_.write(SseEvent(UsageChunk(options_.header, options_.chat ? "chat.completion.chunk" : "text_completion", usage)));
    }
    sink_.write(SseDone());
    sink_.close();
    if (aborted_) summary.status = 499;  // the client closed the connection (nginx's convention)
  } else if (backend_failed && !aborted_) {
    ApiError err = ApiError::Internal("the engine failed while generating this request");
    summary.status = err.http_status;
    summary.error = err.message;
    sink_.reply(err.http_status, DumpJson(err.ToJson()));
  } else {
    std::vector<ChoiceOutput> out;
    for (size_t i = 0; i < choices_.size(); ++i) {
      const Choice& c = choices_[i];
      out.push_back(ChoiceOutput{static_cast<int>(i), c.text, c.logprobs, c.finish_reason});
    }
    nlohmann::json body = options_.chat ? ChatResponse(options_.header, out, options_.logprobs, usage)
                                        : CompletionResponse(options_.header, out, options_.logprobs, usage);
    sink_.reply(200, DumpJson(body));
  }
  summary.total_s = Elapsed();
  if (sink_.done) sink_.done(summary);
}

}  // namespace mixserve::server
