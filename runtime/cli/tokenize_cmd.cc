// `mixserve tokenize` and `mixserve detokenize`: JSON lines through a Hugging Face tokenizer.json,
// one output line per input line, for scripts and the parity tests against Python `tokenizers`.
//
//   mixserve tokenize --tokenizer PATH [--no-special]     stdin: "text" per line  -> [ids] per line
//   mixserve detokenize --tokenizer PATH [--skip-special] stdin: [ids] per line   -> "text" per line
//
// PATH is a model directory or a tokenizer.json. A bad input line stops the command with a one-line
// error on stderr and exit code 1.
#include <cstdio>
#include <iostream>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/cli/command.h"
#include "runtime/cli/flags.h"
#include "runtime/model/tokenizer.h"

namespace mixserve::cli {
namespace {

constexpr const char* kTokenizeUsage =
    "usage: mixserve tokenize --tokenizer PATH [--no-special]\n"
    "  reads one JSON string per line on stdin, writes its token ids as a JSON array per line\n"
    "  --tokenizer PATH  model directory or tokenizer.json\n"
    "  --no-special      do not add the special-token template (BOS/EOS)\n";

constexpr const char* kDetokenizeUsage =
    "usage: mixserve detokenize --tokenizer PATH [--skip-special]\n"
    "  reads one JSON array of token ids per line on stdin, writes the decoded text as a JSON string per line\n"
    "  --tokenizer PATH  model directory or tokenizer.json\n"
    "  --skip-special    leave special tokens out of the text\n";

// Parses the flags and loads the tokenizer; on failure prints why and sets *exit_code.
std::optional<model::Tokenizer> Setup(const std::string& command, const std::vector<std::string>& args,
                                      const char* usage, const std::string& boolean_flag, bool* flag_value,
                                      int* exit_code) {
  auto flags = Flags::Parse(args, {"tokenizer"}, {boolean_flag, "help"});
  if (!flags.ok()) {
    std::fprintf(stderr, "mixserve %s: %s\n%s", command.c_str(), flags.status().message().c_str(), usage);
    *exit_code = 2;
    return std::nullopt;
  }
  if (flags->Has("help")) {
    std::fputs(usage, stdout);
    *exit_code = 0;
    return std::nullopt;
  }
  auto path = flags->Get("tokenizer");
  if (!path || !flags->positional().empty()) {
    std::fprintf(stderr, "mixserve %s: %s\n%s", command.c_str(),
                 path ? "unexpected positional argument" : "--tokenizer is required", usage);
    *exit_code = 2;
    return std::nullopt;
  }
  *flag_value = flags->Has(boolean_flag);
  auto tokenizer = model::Tokenizer::Load(*path);
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "mixserve %s: %s\n", command.c_str(), tokenizer.status().message().c_str());
    *exit_code = 1;
    return std::nullopt;
  }
  return std::move(*tokenizer);
}

int LineError(const char* command, size_t line_number, const std::string& message) {
  std::fprintf(stderr, "mixserve %s: line %zu: %s\n", command, line_number, message.c_str());
  return 1;
}

void WriteLine(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

int RunTokenize(const std::vector<std::string>& args) {
  bool no_special = false;
  int exit_code = 0;
  auto tokenizer = Setup("tokenize", args, kTokenizeUsage, "no-special", &no_special, &exit_code);
  if (!tokenizer) return exit_code;
  std::ios::sync_with_stdio(false);
  std::string line;
  for (size_t line_number = 1; std::getline(std::cin, line); ++line_number) {
    const nlohmann::json input = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (input.is_discarded()) return LineError("tokenize", line_number, "not valid JSON");
    if (!input.is_string()) return LineError("tokenize", line_number, "expected a JSON string");
    auto ids = tokenizer->Encode(input.get_ref<const std::string&>(), /*add_special_tokens=*/!no_special);
    if (!ids.ok()) return LineError("tokenize", line_number, ids.status().message());
    std::string out = "[";
    for (size_t i = 0; i < ids->size(); ++i) out.append(i ? "," : "").append(std::to_string((*ids)[i]));
    WriteLine(out + "]");
  }
  return 0;
}

int RunDetokenize(const std::vector<std::string>& args) {
  bool skip_special = false;
  int exit_code = 0;
  auto tokenizer = Setup("detokenize", args, kDetokenizeUsage, "skip-special", &skip_special, &exit_code);
  if (!tokenizer) return exit_code;
  std::ios::sync_with_stdio(false);
  const auto vocab_size = static_cast<int64_t>(tokenizer->vocab_size());
  std::string line;
  for (size_t line_number = 1; std::getline(std::cin, line); ++line_number) {
    const nlohmann::json input = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (input.is_discarded()) return LineError("detokenize", line_number, "not valid JSON");
    if (!input.is_array()) return LineError("detokenize", line_number, "expected a JSON array of token ids");
    std::vector<model::TokenId> ids;
    ids.reserve(input.size());
    for (const auto& id : input) {
      if (!id.is_number_integer()) return LineError("detokenize", line_number, "token ids must be integers");
      const int64_t value = id.is_number_unsigned() && id.get<uint64_t>() > std::numeric_limits<int64_t>::max()
                                ? std::numeric_limits<int64_t>::max()
                                : id.get<int64_t>();
      if (value < 0 || value >= vocab_size) {
        return LineError("detokenize", line_number,
                         "token id " + id.dump() + " is outside the vocabulary [0, " + std::to_string(vocab_size) + ")");
      }
      ids.push_back(static_cast<model::TokenId>(value));
    }
    auto text = tokenizer->Decode(ids, skip_special);
    if (!text.ok()) return LineError("detokenize", line_number, text.status().message());
    WriteLine(nlohmann::json(*text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  return 0;
}

MIXSERVE_COMMAND("tokenize", "encode JSON-lines text to token ids with a tokenizer.json", RunTokenize);
MIXSERVE_COMMAND("detokenize", "decode JSON-lines token id arrays to text with a tokenizer.json", RunDetokenize);

}  // namespace
}  // namespace mixserve::cli
