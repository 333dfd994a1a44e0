// Prepare: turns a validated API request into engine requests, with the model at hand — the
// served name checked, the chat template rendered, prompts tokenized, max_tokens defaulted and
// checked against the context length. Errors are the OpenAI errors the client gets (404 for an
// unknown model, 400 for a template that refuses the chat or a prompt that is too long).
#pragma once

#include <string>
#include <vector>

#include "runtime/engine/request.h"
#include "runtime/model/chat_template.h"
#include "runtime/model/tokenizer.h"
#include "runtime/server/api_error.h"
#include "runtime/server/generation.h"
#include "runtime/server/openai_request.h"

namespace mixserve::server {

// What the server serves: the model and the names clients may call it by.
struct ServedModel {
  std::vector<std::string> names;           // aliases; names[0] is the primary
  const model::Tokenizer* tokenizer = nullptr;
  const model::ChatTemplate* chat_template = nullptr;  // null: the model has none (chat is refused)
  int64_t max_model_len = 0;
};

struct PreparedJob {
  std::vector<Request> prompts;  // one per prompt; the job submits each n times
  JobOptions options;            // everything but header.id and header.created
};

ApiResult<PreparedJob> PrepareCompletion(const CompletionRequest& req, const ServedModel& model);
ApiResult<PreparedJob> PrepareChat(const ChatRequest& req, const ServedModel& model);

}  // namespace mixserve::server
