// Response objects: the fields the openai client reads, in OpenAI's shapes.
#include "runtime/server/openai_response.h"

#include <gtest/gtest.h>

#include "runtime/server/api_error.h"
#include "runtime/server/sse.h"

namespace mixserve::server {
namespace {

const ResponseHeader kHeader{"cmpl-1", 1700000000, "tiny"};

std::vector<TokenLogprobInfo> TwoTokens() {
  return {TokenLogprobInfo{" a", -0.5f, false, {{" a", -0.5f}, {" b", -1.5f}}},
          TokenLogprobInfo{"é", -0.25f, false, {{"é", -0.25f}}}};
}

TEST(OpenAiResponse, CompletionWithLogprobsAndOffsets) {
  std::vector<TokenLogprobInfo> tokens = TwoTokens();
  tokens.insert(tokens.begin(), TokenLogprobInfo{"echo", 0.0f, true, {}});
  ChoiceOutput c{0, "echo a" "é", tokens, "length"};
  auto j = CompletionResponse(kHeader, {c}, true, Usage{3, 2, 0});
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  const auto& lp = j["choices"][0]["logprobs"];
  EXPECT_EQ(lp["tokens"], nlohmann::json::array({"echo", " a", "é"}));
  EXPECT_EQ(lp["text_offset"], nlohmann::json::array({0, 4, 6}));
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());
  EXPECT_TRUE(lp["top_logprobs"][0].is_null());
  EXPECT_FLOAT_EQ(lp["token_logprobs"][2].get<float>(), -0.25f);
  EXPECT_FLOAT_EQ(lp["top_logprobs"][1][" b"].get<float>(), -1.5f);
  EXPECT_EQ(j["usage"]["total_tokens"], 5);
  EXPECT_EQ(j["usage"]["prompt_tokens"], 3);
  auto without = CompletionResponse(kHeader, {c}, false, Usage{});
  EXPECT_TRUE(without["choices"][0]["logprobs"].is_null());
}

TEST(OpenAiResponse, ChatLogprobsCarryBytes) {
  ChoiceOutput c{1, "x", TwoTokens(), "stop"};
  auto j = ChatResponse(kHeader, {c}, true, Usage{});
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["index"], 1);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  const auto& content = j["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 2u);
  EXPECT_EQ(content[1]["bytes"], nlohmann::json::array({0xC3, 0xA9}));
  EXPECT_EQ(content[0]["top_logprobs"][1]["token"], " b");
}

TEST(OpenAiResponse, ChatChunks) {
  ChoiceOutput first{0, "", {}, std::nullopt};
  auto role = ChatChunk(kHeader, first, true, false, false);
  EXPECT_EQ(role["object"], "chat.completion.chunk");
  EXPECT_EQ(role["choices"][0]["delta"]["role"], "assistant");
  EXPECT_FALSE(role.contains("usage"));
  ChoiceOutput last{0, "", {}, "stop"};
  auto end = ChatChunk(kHeader, last, false, false, true);
  EXPECT_TRUE(end["choices"][0]["delta"].empty());
  EXPECT_EQ(end["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(end["usage"].is_null());
  auto usage = UsageChunk(kHeader, "chat.completion.chunk", Usage{2, 3, 0});
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 3);
}

TEST(OpenAiResponse, SseFraming) {
  EXPECT_EQ(SseEvent(nlohmann::json{{"a", 1}}), "data: {\"a\":1}\n\n");
  EXPECT_EQ(SseDone(), "data: [DONE]\n\n");
  // Half a UTF-8 character never breaks the stream.
  EXPECT_EQ(SseEvent(nlohmann::json{{"t", std::string("\xC3")}}), "data: {\"t\":\"\xEF\xBF\xBD\"}\n\n");
}

TEST(OpenAiResponse, ContextLengthMessageNamesBothNumbers) {
  std::string m = ContextLengthMessage(4096, 4000, 200);
  EXPECT_NE(m.find("maximum context length is 4096 tokens"), std::string::npos);
  EXPECT_NE(m.find("you requested 4200 tokens (4000 in the messages, 200 in the completion)"), std::string::npos);
}

TEST(OpenAiResponse, ErrorShape) {
  auto j = ApiError::ModelNotFound("nope").ToJson();
  EXPECT_EQ(j["error"]["code"], "model_not_found");
  EXPECT_EQ(j["error"]["param"], "model");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  auto k = ApiError::Invalid("bad").ToJson();
  EXPECT_TRUE(k["error"]["param"].is_null());
  EXPECT_TRUE(k["error"]["code"].is_null());
}

TEST(OpenAiResponse, Models) {
  auto j = ModelsResponse({"a", "b"}, 5, 4096, "a");
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 2u);
  EXPECT_EQ(j["data"][1]["id"], "b");
  EXPECT_EQ(j["data"][1]["object"], "model");
}

}  // namespace
}  // namespace mixserve::server
