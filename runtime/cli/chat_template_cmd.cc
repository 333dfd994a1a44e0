// `mixserve chat-template`: renders a model's chat template for chats read from stdin, one JSON
// object per line, {"messages": [...], "add_generation_prompt": bool, "vars": {...}}, and writes
// one JSON line per input: {"text": "..."} or {"error": "..."}. Tests drive it to compare the
// native renderer with Python's jinja2; it also shows by hand what prompt a chat becomes.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "runtime/cli/command.h"
#include "runtime/cli/flags.h"
#include "runtime/model/chat_template.h"

namespace mixserve::cli {
namespace {

constexpr const char* kUsage =
    "usage: mixserve chat-template --tokenizer PATH [--template FILE]\n"
    "  --tokenizer PATH  model directory or tokenizer_config.json (special tokens, chat_template)\n"
    "  --template FILE   Jinja template to use instead of the tokenizer's chat_template\n"
    "stdin: one JSON object per line: {\"messages\": [...], \"add_generation_prompt\": bool, \"vars\": {...}}\n"
    "stdout: one JSON object per line: {\"text\": \"...\"} or {\"error\": \"...\"}\n";

// request[key], or null when absent.
const nlohmann::ordered_json& Field(const nlohmann::ordered_json& request, const char* key) {
  static const nlohmann::ordered_json kNull;
  auto it = request.find(key);
  return it == request.end() ? kNull : *it;
}

nlohmann::ordered_json RenderLine(const model::ChatTemplate& chat, const std::string& line) {
  nlohmann::ordered_json request = nlohmann::ordered_json::parse(line, nullptr, false);
  if (request.is_discarded() || !request.is_object()) return {{"error", "input line is not a JSON object"}};
  const nlohmann::ordered_json& gen = Field(request, "add_generation_prompt");
  if (!gen.is_null() && !gen.is_boolean()) return {{"error", "add_generation_prompt must be a boolean"}};
  Result<std::string> text =
      chat.Render(Field(request, "messages"), gen.is_boolean() && gen.get<bool>(), Field(request, "vars"));
  if (!text.ok()) return {{"error", text.status().message()}};
  return {{"text", *text}};
}

int RunChatTemplate(const std::vector<std::string>& args) {
  Result<Flags> flags = Flags::Parse(args, {"tokenizer", "template"}, {"help"});
  if (!flags.ok()) {
    std::fprintf(stderr, "mixserve chat-template: %s\n%s", flags.status().message().c_str(), kUsage);
    return 2;
  }
  if (flags->Has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  std::optional<std::string> tokenizer = flags->Get("tokenizer");
  if (!tokenizer || !flags->positional().empty()) {
    std::fprintf(stderr, "mixserve chat-template: --tokenizer is required and no positional arguments are taken\n%s",
                 kUsage);
    return 2;
  }
  std::optional<std::string> source;
  if (std::optional<std::string> file = flags->Get("template")) {
    std::ifstream in(*file, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "mixserve chat-template: cannot open %s\n", file->c_str());
      return 1;
    }
    source = std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  Result<model::ChatTemplate> chat = model::ChatTemplate::FromTokenizerConfig(*tokenizer, source);
  if (!chat.ok()) {
    std::fprintf(stderr, "mixserve chat-template: %s\n", chat.status().message().c_str());
    return 1;
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string out = RenderLine(*chat, line).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  return 0;
}

MIXSERVE_COMMAND("chat-template", "render a chat template for JSON-lines chats on stdin", RunChatTemplate);

}  // namespace
}  // namespace mixserve::cli
