// GenerationJob: one /v1/completions or /v1/chat/completions request inside the server — its
// engine requests (n choices per prompt), and their outputs gathered into one response or streamed
// as Server-Sent Events as the engine produces them.
//
// The job knows nothing of HTTP: it talks to the connection through a JobSink. Outputs arrive on
// the engine thread; the job serializes them under its own mutex, so chunks leave in order.
//
//   auto job = std::make_shared<GenerationJob>(options, sink, &engine, &tokenizer, observer);
//   if (auto err = job->Start(std::move(requests))) send(*err);   // nothing was sent yet
//   ... later, if the client went away: job->Abort();
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "runtime/engine/engine.h"
#include "runtime/server/api_error.h"
#include "runtime/server/openai_response.h"

namespace mixserve::server {

// What a finished job tells the access log.
struct JobSummary {
  int status = 200;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  double ttft_s = -1.0;  // < 0: no token
  double total_s = 0.0;
  std::string finish_reason;  // of the first choice
  std::string error;
};

// Where a job's results go. `reply` is used without streaming, the other two with it.
struct JobSink {
  std::function<void(int status, const std::string& body)> reply;
  std::function<void(const std::string& bytes)> write;  // already SSE-framed
  std::function<void()> close;
  // Called once when every choice has finished (after the last byte was handed over).
  std::function<void(const JobSummary&)> done;
};

// What the job sends and how; built by prepare.h from the request.
struct JobOptions {
  bool chat = false;
  ResponseHeader header;
  bool stream = false;
  bool include_usage = false;
  bool logprobs = false;
  int n = 1;
  // Per prompt: the text an `echo` puts before each of its choices ("" without echo), its length in
  // tokens, and its first token (echo with logprobs lists it, with a null logprob).
  std::vector<std::string> echo_text;
  std::vector<int64_t> prompt_tokens;
  std::vector<int32_t> first_prompt_token;
};

class GenerationJob : public std::enable_shared_from_this<GenerationJob> {
 public:
  // Per finished choice, for metrics: ttft, e2e (seconds), completion tokens, finish reason.
  using ChoiceObserver = std::function<void(double, double, int64_t, const std::string&)>;

  GenerationJob(JobOptions options, JobSink sink, Engine* engine, const model::Tokenizer* tokenizer,
                ChoiceObserver observer);

  // Submits every choice: `prompts` holds one engine request per prompt (id and callback are set
  // here), each submitted n times. On error nothing was sent to the sink and nothing stays in the engine.
  std::optional<ApiError> Start(const std::vector<Request>& prompts);
  // Aborts the choices still running (the client went away); their blocks free within one step.
  void Abort();

 private:
  struct Choice {
    std::string request_id;
    std::string text;
    std::vector<TokenLogprobInfo> logprobs;
    std::optional<std::string> finish_reason;
    int64_t completion_tokens = 0;
    int64_t cached_tokens = 0;
    int64_t logprob_offset = 0;  // token text bytes streamed so far (for text_offset)
    bool started = false;
    double ttft_s = -1.0;
  };

  void OnOutput(int index, const RequestOutput& out);
  TokenLogprobInfo LogprobInfo(const SampleResult& s) const;
  void StreamIncrement(int index, std::string text, std::vector<TokenLogprobInfo> logprobs, bool finished);
  void Finish();
  double Elapsed() const;
  Usage TotalUsage() const;

  JobOptions options_;
  JobSink sink_;
  Engine* engine_;
  const model::Tokenizer* tokenizer_;
  ChoiceObserver observer_;
  std::chrono::steady_clock::time_point start_;

  std::mutex mu_;
  std::vector<Choice> choices_;
  int num_finished_ = 0;
  bool failed_ = false;  // Start failed: the callbacks of what was submitted must stay silent
  bool aborted_ = false;
  double ttft_s_ = -1.0;
};

}  // namespace mixserve::server
