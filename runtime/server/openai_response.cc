#include "runtime/server/openai_response.h"

namespace mixserve::server {
namespace {

using nlohmann::json;

json Bytes(const std::string& text) {
  json bytes = json::array();
  for (unsigned char c : text) bytes.push_back(static_cast<int>(c));
  return bytes;
}

json Header(const ResponseHeader& h, const char* object) {
  return {{"id", h.id}, {"object", object}, {"created", h.created}, {"model", h.model}};
}

json FinishReason(const ChoiceOutput& c) { return c.finish_reason ? json(*c.finish_reason) : json(nullptr); }

}  // namespace

json UsageJson(const Usage& usage) {
  json u = {{"prompt_tokens", usage.prompt_tokens},
            {"completion_tokens", usage.completion_tokens},
            {"total_tokens", usage.prompt_tokens + usage.completion_tokens}};
  u["prompt_tokens_details"] = {{"cached_tokens", usage.cached_tokens}};
  return u;
}

json CompletionLogprobsJson(const std::vector<TokenLogprobInfo>& tokens, int64_t text_offset_base) {
  json out = {{"tokens", json::array()}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()},
              {"text_offset", json::array()}};
  int64_t offset = text_offset_base;
  for (const TokenLogprobInfo& t : tokens) {
    out["tokens"].push_back(t.text);
    out["token_logprobs"].push_back(t.no_logprob ? json(nullptr) : json(t.logprob));
    json top = json::object();
    for (const auto& [text, lp] : t.top) {
      if (!top.contains(text)) top[text] = lp;  // two ids may share a text; keep the likelier
    }
    out["top_logprobs"].push_back(t.no_logprob ? json(nullptr) : top);
    out["text_offset"].push_back(offset);
    offset += static_cast<int64_t>(t.text.size());
  }
  return out;
}

json ChatLogprobsJson(const std::vector<TokenLogprobInfo>& tokens) {
  json content = json::array();
  for (const TokenLogprobInfo& t : tokens) {
    json top = json::array();
    for (const auto& [text, lp] : t.top) top.push_back({{"token", text}, {"logprob", lp}, {"bytes", Bytes(text)}});
    content.push_back({{"token", t.text}, {"logprob", t.logprob}, {"bytes", Bytes(t.text)}, {"top_logprobs", top}});
  }
  return {{"content", content}};
}

json CompletionResponse(const ResponseHeader& h, const std::vector<ChoiceOutput>& choices, bool with_logprobs,
                        const Usage& usage) {
  json out = Header(h, "text_completion");
  json list = json::array();
  for (const ChoiceOutput& c : choices) {
    list.push_back({{"index", c.index},
                    {"text", c.text},
                    {"logprobs", with_logprobs ? CompletionLogprobsJson(c.logprobs, 0) : json(nullptr)},
                    {"finish_reason", FinishReason(c)}});
  }
  out["choices"] = list;
  out["usage"] = UsageJson(usage);
  return out;
}

json ChatResponse(const ResponseHeader& h, const std::vector<ChoiceOutput>& choices, bool with_logprobs,
                  const Usage& usage) {
  json out = Header(h, "chat.completion");
  json list = json::array();
  for (const ChoiceOutput& c : choices) {
    list.push_back({{"index", c.index},
                    {"message", {{"role", "assistant"}, {"content", c.text}}},
                    {"logprobs", with_logprobs ? ChatLogprobsJson(c.logprobs) : json(nullptr)},
                    {"finish_reason", FinishReason(c)}});
  }
  out["choices"] = list;
  out["usage"] = UsageJson(usage);
  return out;
}

json CompletionChunk(const ResponseHeader& h, const ChoiceOutput& choice, bool with_logprobs, int64_t text_offset_base,
                     bool with_usage_field) {
  json out = Header(h, "text_completion");
  out["choices"] = json::array({{{"index", choice.index},
                                 {"text", choice.text},
                                 {"logprobs", with_logprobs ? CompletionLogprobsJson(choice.logprobs, text_offset_base) : json(nullptr)},
                                 {"finish_reason", FinishReason(choice)}}});
  if (with_usage_field) out["usage"] = nullptr;
  return out;
}

json ChatChunk(const ResponseHeader& h, const ChoiceOutput& choice, bool role, bool with_logprobs, bool with_usage_field) {
  json out = Header(h, "chat.completion.chunk");
  json delta = json::object();
  if (role) delta["role"] = "assistant";
  if (role || !choice.text.empty() || !choice.finish_reason) delta["content"] = choice.text;
  out["choices"] = json::array({{{"index", choice.index},
                                 {"delta", delta},
                                 {"logprobs", with_logprobs && !choice.logprobs.empty() ? ChatLogprobsJson(choice.logprobs) : json(nullptr)},
                                 {"finish_reason", FinishReason(choice)}}});
  if (with_usage_field) out["usage"] = nullptr;
  return out;
}

json UsageChunk(const ResponseHeader& h, const std::string& object, const Usage& usage) {
  json out = Header(h, object.c_str());
  out["choices"] = json::array();
  out["usage"] = UsageJson(usage);
  return out;
}

json ModelsResponse(const std::vector<std::string>& names, int64_t created, int64_t max_model_len, const std::string& root) {
  json data = json::array();
  for (const std::string& name : names) {
    data.push_back({{"id", name},
                    {"object", "model"},
                    {"created", created},
                    {"owned_by", "mixserve"},
                    {"root", root},
                    {"parent", nullptr},
                    {"max_model_len", max_model_len}});
  }
  return {{"object", "list"}, {"data", data}};
}

std::string ContextLengthMessage(int64_t max_model_len, int64_t prompt_tokens, int64_t max_tokens) {
  return "This model's maximum context length is " + std::to_string(max_model_len) +
         " tokens. However, you requested " + std::to_string(prompt_tokens + max_tokens) + " tokens (" +
         std::to_string(prompt_tokens) + " in the messages, " + std::to_string(max_tokens) +
         " in the completion). Please reduce the length of the messages or completion.";
}

}  // namespace mixserve::server
