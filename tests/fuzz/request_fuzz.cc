// libFuzzer target over the OpenAI request parsing and validation (runtime/server/openai_request):
// every body either parses into a request whose fields are in range, or yields a 400 whose JSON
// error body serializes. Run with hack/fuzz.sh request <seconds>; seeds in tests/fuzz/seeds/request/.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "runtime/server/openai_request.h"

namespace {

using mixserve::server::ApiError;
using mixserve::server::GenerationRequest;

void Check(bool condition) {
  if (!condition) std::abort();
}

void CheckError(const ApiError& e) {
  Check(e.http_status == 400);
  Check(!e.message.empty());
  Check(!mixserve::server::DumpJson(e.ToJson()).empty());
}

void CheckGeneration(const GenerationRequest& g) {
  Check(g.n >= 1 && g.n <= mixserve::server::kMaxChoices);
  Check(!g.max_tokens || *g.max_tokens >= 1);
  Check(g.sampling.Validate().ok());
  Check(g.sampling.top_logprobs >= 0 && g.sampling.top_logprobs <= mixserve::server::kMaxTopLogprobs);
  Check(!g.include_usage || g.stream);
  for (const std::string& s : g.stop) Check(!s.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto completion = mixserve::server::ParseCompletionRequest(body);
  if (completion.ok()) {
    CheckGeneration(completion->gen);
    Check(!completion->prompts.empty() && completion->prompts.size() <= mixserve::server::kMaxPrompts);
    for (const auto& p : completion->prompts) {
      if (p.is_tokens) {
        Check(!p.token_ids.empty());
        for (int32_t id : p.token_ids) Check(id >= 0);
      }
    }
  } else {
    CheckError(completion.error());
  }
  auto chat = mixserve::server::ParseChatRequest(body);
  if (chat.ok()) {
    CheckGeneration(chat->gen);
    Check(chat->messages.is_array() && !chat->messages.empty());
    for (const auto& m : chat->messages) {
      Check(m.is_object() && m["role"].is_string());
      Check(!m.contains("content") || m["content"].is_null() || m["content"].is_string());
    }
    Check(chat->gen.sampling.top_logprobs == 0 || chat->gen.logprobs);
  } else {
    CheckError(chat.error());
  }
  return 0;
}
