#include "runtime/model/chat_template.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

namespace mixserve::model {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxJsonDepth = 128;

Result<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::Io("cannot read " + path.string());
  return text.str();
}

// A special token as tokenizer_config.json spells it: a string, or an AddedToken object.
std::optional<std::string> TokenText(const nlohmann::ordered_json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}

// transformers' special_tokens_map: the set (non-empty) special tokens, by attribute name.
jinja::DictData SpecialTokens(const nlohmann::ordered_json& config) {
  jinja::DictData tokens;
  for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}) {
    if (!config.contains(key)) continue;
    std::optional<std::string> text = TokenText(config[key]);
    if (text && !text->empty()) tokens.Set(key, jinja::Value(*text));
  }
  if (config.contains("additional_special_tokens") && config["additional_special_tokens"].is_array()) {
    std::vector<jinja::Value> extra;
    for (const auto& t : config["additional_special_tokens"])
      if (std::optional<std::string> text = TokenText(t)) extra.emplace_back(*text);
    if (!extra.empty()) tokens.Set("additional_special_tokens", jinja::Value::List(std::move(extra)));
  }
  return tokens;
}

// How deeply `json` nests (a scalar is 1), found without recursion.
size_t JsonDepth(const nlohmann::ordered_json& json) {
  size_t deepest = 0;
  std::vector<std::pair<const nlohmann::ordered_json*, size_t>> pending{{&json, 1}};
  while (!pending.empty()) {
    auto [node, depth] = pending.back();
    pending.pop_back();
    deepest = std::max(deepest, depth);
    if (node->is_structured())
      for (const auto& child : *node) pending.emplace_back(&child, depth + 1);
  }
  return deepest;
}

Result<std::shared_ptr<const jinja::Template>> Compile(const std::string& source, const std::string& what) {
  Result<jinja::Template> t = jinja::Template::Parse(source);
  if (!t.ok()) return t.status().WithContext(what);
  return std::make_shared<const jinja::Template>(std::move(t).value());
}

}  // namespace

Result<ChatTemplate> ChatTemplate::FromTokenizerConfig(const std::string& path,
                                                       const std::optional<std::string>& template_source) {
  fs::path config_path(path);
  std::error_code ec;
  if (fs::is_directory(config_path, ec)) config_path /= "tokenizer_config.json";
  Result<std::string> text = ReadFile(config_path);
  if (!text.ok()) return text.status();
  nlohmann::ordered_json config = nlohmann::ordered_json::parse(*text, nullptr, false);
  if (config.is_discarded() || !config.is_object()) {
    return Status::InvalidArgument(config_path.string() + ": not a JSON object");
  }
  std::optional<std::string> source = template_source;
  fs::path jinja_file = config_path.parent_path() / "chat_template.jinja";
  if (!source && fs::exists(jinja_file, ec)) {
    Result<std::string> file_text = ReadFile(jinja_file);
    if (!file_text.ok()) return file_text.status();
    source = std::move(file_text).value();
  }
  Result<ChatTemplate> result = FromConfig(config, source);
  if (!result.ok()) return result.status().WithContext(config_path.string());
  return result;
}

Result<ChatTemplate> ChatTemplate::FromConfig(const nlohmann::ordered_json& config,
                                              const std::optional<std::string>& template_source) {
  ChatTemplate chat;
  chat.special_tokens_ = SpecialTokens(config);
  if (template_source) {
    Result<std::shared_ptr<const jinja::Template>> t = Compile(*template_source, "chat template");
    if (!t.ok()) return t.status();
    chat.templates_["default"] = std::move(t).value();
    return chat;
  }
  if (!config.is_object() || !config.contains("chat_template") || config["chat_template"].is_null()) {
    return Status::NotFound("no chat_template");
  }
  const nlohmann::ordered_json& spec = config["chat_template"];
  if (spec.is_string()) {
    Result<std::shared_ptr<const jinja::Template>> t = Compile(spec.get<std::string>(), "chat_template");
    if (!t.ok()) return t.status();
    chat.templates_["default"] = std::move(t).value();
    return chat;
  }
  if (!spec.is_array()) return Status::InvalidArgument("chat_template must be a string or a list of named templates");
  for (const auto& named : spec) {
    if (!named.is_object() || !named.contains("name") || !named["name"].is_string() || !named.contains("template") ||
        !named["template"].is_string()) {
      return Status::InvalidArgument("chat_template list entries must be {\"name\": ..., \"template\": ...}");
    }
    std::string name = named["name"].get<std::string>();
    Result<std::shared_ptr<const jinja::Template>> t =
        Compile(named["template"].get<std::string>(), "chat_template '" + name + "'");
    if (!t.ok()) return t.status();
    chat.templates_[name] = std::move(t).value();
  }
  if (!chat.templates_.count("default")) return Status::InvalidArgument("chat_template list has no 'default' template");
  return chat;
}

Result<std::string> ChatTemplate::Render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                         const nlohmann::ordered_json& extra_vars) const {
  if (!messages.is_array()) return Status::InvalidArgument("messages must be a JSON array");
  if (!extra_vars.is_null() && !extra_vars.is_object()) {
    return Status::InvalidArgument("template variables must be a JSON object");
  }
  // The interpreter recurses into values; refuse input nested deep enough to threaten the stack.
  if (JsonDepth(messages) > kMaxJsonDepth || JsonDepth(extra_vars) > kMaxJsonDepth) {
    return Status::InvalidArgument("messages or template variables nest deeper than " +
                                   std::to_string(kMaxJsonDepth) + " levels");
  }
  jinja::DictData vars;
  vars.Set("messages", jinja::Value::FromJson(messages));
  vars.Set("tools", jinja::Value::None());
  vars.Set("documents", jinja::Value::None());
  vars.Set("add_generation_prompt", jinja::Value(add_generation_prompt));
  for (const auto& [k, v] : special_tokens_.entries()) vars.Set(k, v);
  bool has_tools = false;
  if (extra_vars.is_object()) {
    for (const auto& [k, v] : extra_vars.items()) {
      if (k == "messages" || k == "add_generation_prompt") {
        return Status::InvalidArgument("template variables may not set '" + k + "'");
      }
      vars.Set(k, jinja::Value::FromJson(v));
      has_tools = has_tools || (k == "tools" && !v.is_null());
    }
  }
  auto tool_use = templates_.find("tool_use");
  const jinja::Template& t = has_tools && tool_use != templates_.end() ? *tool_use->second : *templates_.at("default");
  return t.Render(vars);
}

Result<std::string> ChatTemplate::Render(const nlohmann::json& messages, bool add_generation_prompt,
                                         const nlohmann::json& extra_vars) const {
  return Render(nlohmann::ordered_json(messages), add_generation_prompt, nlohmann::ordered_json(extra_vars));
}

}  // namespace mixserve::model
