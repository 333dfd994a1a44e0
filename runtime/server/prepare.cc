#include "runtime/server/prepare.h"

#include <algorithm>

namespace mixserve::server {
namespace {

// The served name the request asked for ("" picks the primary), or a 404.
ApiResult<std::string> ResolveModelName(const std::string& asked, const ServedModel& model) {
  if (asked.empty()) return model.names.front();
  if (std::find(model.names.begin(), model.names.end(), asked) == model.names.end()) return ApiError::ModelNotFound(asked);
  return asked;
}

// An engine request for `prompt` under the shared generation parameters; max_tokens defaults to
// `default_max_tokens` (or the rest of the context when that is 0).
ApiResult<Request> MakeRequest(const GenerationRequest& gen, std::vector<int32_t> prompt, int64_t default_max_tokens,
                               const ServedModel& model) {
  const int64_t prompt_len = static_cast<int64_t>(prompt.size());
  int64_t max_tokens = gen.max_tokens.value_or(default_max_tokens > 0 ? default_max_tokens : model.max_model_len - prompt_len);
  if (prompt_len >= model.max_model_len || max_tokens < 1 || prompt_len + max_tokens > model.max_model_len) {
    return ApiError::Invalid(ContextLengthMessage(model.max_model_len, prompt_len, std::max<int64_t>(max_tokens, 1)),
                             gen.max_tokens ? "max_tokens" : "messages");
  }
  const int64_t vocab = static_cast<int64_t>(model.tokenizer->vocab_size());
  for (int32_t id : prompt) {
    if (id >= vocab) return ApiError::Invalid("token id " + std::to_string(id) + " is out of the vocabulary (size " + std::to_string(vocab) + ")", "prompt");
  }
  Request r;
  r.prompt = std::move(prompt);
  r.sampling = gen.sampling;
  r.max_tokens = max_tokens;
  r.stop = gen.stop;
  r.stop_token_ids = gen.stop_token_ids;
  r.ignore_eos = gen.ignore_eos;
  r.logprobs = gen.logprobs;
  r.skip_special_tokens = gen.skip_special_tokens;
  return r;
}

JobOptions BaseOptions(const GenerationRequest& gen, const std::string& name, bool chat) {
  JobOptions o;
  o.chat = chat;
  o.header.model = name;
  o.stream = gen.stream;
  o.include_usage = gen.include_usage;
  o.logprobs = gen.logprobs;
  o.n = gen.n;
  return o;
}

}  // namespace

ApiResult<PreparedJob> PrepareCompletion(const CompletionRequest& req, const ServedModel& model) {
  auto name = ResolveModelName(req.gen.model, model);
  if (!name.ok()) return name.error();
  PreparedJob job;
  job.options = BaseOptions(req.gen, *name, /*chat=*/false);
  for (const Prompt& p : req.prompts) {
    std::vector<int32_t> ids;
    if (p.is_tokens) {
      ids = p.token_ids;
    } else {
      auto encoded = model.tokenizer->Encode(p.text, /*add_special_tokens=*/true);
      if (!encoded.ok()) return ApiError::Invalid("cannot tokenize the prompt: " + encoded.status().message(), "prompt");
      ids.assign(encoded->begin(), encoded->end());
    }
    if (ids.empty()) return ApiError::Invalid("the prompt is empty", "prompt");
    std::string echo;
    if (req.echo) {
      if (p.is_tokens) {
        auto text = model.tokenizer->Decode(ids, /*skip_special_tokens=*/true);
        if (text.ok()) echo = *text;
      } else {
        echo = p.text;
      }
    }
    const int64_t prompt_len = static_cast<int64_t>(ids.size());
    job.options.first_prompt_token.push_back(ids.front());
    auto r = MakeRequest(req.gen, std::move(ids), /*default_max_tokens=*/16, model);
    if (!r.ok()) return r.error();
    r->prompt_logprobs = req.echo && req.gen.logprobs;
    job.prompts.push_back(std::move(*r));
    job.options.echo_text.push_back(std::move(echo));
    job.options.prompt_tokens.push_back(prompt_len);
  }
  return job;
}

ApiResult<PreparedJob> PrepareChat(const ChatRequest& req, const ServedModel& model) {
  auto name = ResolveModelName(req.gen.model, model);
  if (!name.ok()) return name.error();
  if (!model.chat_template) return ApiError::Invalid("this model has no chat template; use /v1/completions", "messages");
  auto text = model.chat_template->Render(req.messages, req.add_generation_prompt, req.chat_template_kwargs);
  if (!text.ok()) return ApiError::Invalid("the chat template rejected the messages: " + text.status().message(), "messages");
  auto encoded = model.tokenizer->Encode(*text, /*add_special_tokens=*/false);  // the template writes BOS itself
  if (!encoded.ok()) return ApiError::Invalid("cannot tokenize the messages: " + encoded.status().message(), "messages");
  std::vector<int32_t> ids(encoded->begin(), encoded->end());
  if (ids.empty()) return ApiError::Invalid("the messages render to an empty prompt", "messages");
  PreparedJob job;
  job.options = BaseOptions(req.gen, *name, /*chat=*/true);
  const int64_t prompt_len = static_cast<int64_t>(ids.size());
  auto r = MakeRequest(req.gen, std::move(ids), /*default_max_tokens=*/0, model);
  if (!r.ok()) return r.error();
  job.prompts.push_back(std::move(*r));
  job.options.prompt_tokens.push_back(prompt_len);
  return job;
}

}  // namespace mixserve::server
