// ChatTemplate: turns a chat (OpenAI-style messages) into the prompt text a model was trained on,
// by rendering the Jinja `chat_template` of its tokenizer_config.json as Hugging Face
// transformers' apply_chat_template does, natively (no Python at run time).
//
//   Result<ChatTemplate> t = ChatTemplate::FromTokenizerConfig("/models/mixtral");
//   Result<std::string> prompt = t->Render(messages, /*add_generation_prompt=*/true, {});
//
// The template sees what transformers passes it: `messages`, `add_generation_prompt`, `tools`
// and `documents` (none unless given in extra_vars), the tokenizer's special tokens (bos_token,
// eos_token, unk_token, pad_token, ... when set) and every other key of extra_vars.
//
// A template that refuses a chat (raise_exception, e.g. Mixtral on a `system` message or
// roles that do not alternate) gives InvalidArgument carrying the template's message; the
// server answers those with HTTP 400. Syntax errors are found at load and name the line.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "runtime/base/status.h"
#include "runtime/model/jinja_template.h"

namespace mixserve::model {

class ChatTemplate {
 public:
  // `path`: a model directory or its tokenizer_config.json. The template is, in order of
  // preference: `template_source` when given, the directory's chat_template.jinja, the config's
  // chat_template (a string, or a list of {name, template} of which "default" is used, and
  // "tool_use" when tools are passed).
  static Result<ChatTemplate> FromTokenizerConfig(const std::string& path,
                                                  const std::optional<std::string>& template_source = std::nullopt);

  // `config`: the parsed tokenizer_config.json (special tokens and chat_template are read from it).
  static Result<ChatTemplate> FromConfig(const nlohmann::ordered_json& config,
                                         const std::optional<std::string>& template_source = std::nullopt);

  // `messages`: a JSON array; `extra_vars`: a JSON object (or null) of further template variables.
  // Key order in objects is kept, which matters to templates that print tool schemas as JSON.
  Result<std::string> Render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                             const nlohmann::ordered_json& extra_vars) const;
  Result<std::string> Render(const nlohmann::json& messages, bool add_generation_prompt,
                             const nlohmann::json& extra_vars) const;

 private:
  std::map<std::string, std::shared_ptr<const jinja::Template>> templates_;  // by name; "default" always
  jinja::DictData special_tokens_;
};

}  // namespace mixserve::model
