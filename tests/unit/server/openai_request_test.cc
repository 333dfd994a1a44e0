// Request parsing and validation: every field's type and range, and the error a client gets.
#include "runtime/server/openai_request.h"

#include <gtest/gtest.h>

namespace mixserve::server {
namespace {

ApiError CompletionError(const std::string& body) {
  auto r = ParseCompletionRequest(body);
  EXPECT_FALSE(r.ok()) << body;
  return r.ok() ? ApiError{} : r.error();
}

ApiError ChatError(const std::string& body) {
  auto r = ParseChatRequest(body);
  EXPECT_FALSE(r.ok()) << body;
  return r.ok() ? ApiError{} : r.error();
}

TEST(OpenAiRequest, CompletionDefaultsAndFields) {
  auto r = ParseCompletionRequest(R"({"model":"m","prompt":"hi","max_tokens":5,"temperature":0,"top_p":0.5,
    "top_k":3,"min_p":0.1,"n":2,"stop":["a","b"],"seed":7,"presence_penalty":1,"frequency_penalty":-1,
    "echo":true,"logprobs":2,"user":"u","stream":true,"stream_options":{"include_usage":true}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->gen.model, "m");
  ASSERT_EQ(r->prompts.size(), 1u);
  EXPECT_EQ(r->prompts[0].text, "hi");
  EXPECT_FALSE(r->prompts[0].is_tokens);
  EXPECT_EQ(*r->gen.max_tokens, 5);
  EXPECT_EQ(r->gen.sampling.temperature, 0.0f);
  EXPECT_EQ(r->gen.sampling.top_p, 0.5f);
  EXPECT_EQ(r->gen.sampling.top_k, 3);
  EXPECT_EQ(r->gen.n, 2);
  EXPECT_EQ(r->gen.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(*r->gen.sampling.seed, 7u);
  EXPECT_EQ(r->gen.sampling.presence_penalty, 1.0f);
  EXPECT_EQ(r->gen.sampling.frequency_penalty, -1.0f);
  EXPECT_TRUE(r->echo);
  EXPECT_TRUE(r->gen.logprobs);
  EXPECT_EQ(r->gen.sampling.top_logprobs, 2);
  EXPECT_TRUE(r->gen.stream);
  EXPECT_TRUE(r->gen.include_usage);
  EXPECT_EQ(r->gen.user, "u");

  auto d = ParseCompletionRequest(R"({"model":"m","prompt":"x"})");
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->gen.max_tokens.has_value());
  EXPECT_EQ(d->gen.n, 1);
  EXPECT_FALSE(d->gen.logprobs);
  EXPECT_FALSE(d->gen.stream);
}

TEST(OpenAiRequest, PromptForms) {
  auto tokens = ParseCompletionRequest(R"({"prompt":[1,2,3]})");
  ASSERT_TRUE(tokens.ok());
  ASSERT_EQ(tokens->prompts.size(), 1u);
  EXPECT_TRUE(tokens->prompts[0].is_tokens);
  EXPECT_EQ(tokens->prompts[0].token_ids, (std::vector<int32_t>{1, 2, 3}));

  auto batch = ParseCompletionRequest(R"({"prompt":["a","b"]})");
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->prompts.size(), 2u);
  EXPECT_EQ(batch->prompts[1].text, "b");

  auto token_batch = ParseCompletionRequest(R"({"prompt":[[1],[2,3]]})");
  ASSERT_TRUE(token_batch.ok());
  EXPECT_EQ(token_batch->prompts[1].token_ids, (std::vector<int32_t>{2, 3}));

  EXPECT_EQ(CompletionError(R"({"prompt":[]})").param, "prompt");
  EXPECT_EQ(CompletionError(R"({"prompt":[-1]})").param, "prompt");
  EXPECT_EQ(CompletionError(R"({"prompt":[1.5]})").param, "prompt");
  EXPECT_EQ(CompletionError(R"({"prompt":{"a":1}})").param, "prompt");
  EXPECT_EQ(CompletionError(R"({"prompt":["a",1]})").param, "prompt");
  EXPECT_EQ(CompletionError(R"({"model":"m"})").param, "prompt");
}

TEST(OpenAiRequest, MalformedBodies) {
  for (const char* body : {"", "{", "not json", "[1,2]", "\"s\"", "null", "{\"prompt\":\"a\",}"}) {
    ApiError e = CompletionError(body);
    EXPECT_EQ(e.http_status, 400) << body;
    EXPECT_EQ(e.type, "invalid_request_error") << body;
  }
  std::string deep = std::string(200, '[') + std::string(200, ']');
  EXPECT_NE(CompletionError("{\"prompt\":" + deep + "}").message.find("nests deeper"), std::string::npos);
  // Brackets inside strings do not count as nesting.
  EXPECT_TRUE(ParseCompletionRequest("{\"prompt\":\"" + std::string(200, '[') + "\"}").ok());
}

TEST(OpenAiRequest, WrongTypesNameTheField) {
  EXPECT_EQ(CompletionError(R"({"prompt":"a","max_tokens":"5"})").param, "max_tokens");
  EXPECT_EQ(CompletionError(R"({"prompt":"a","max_tokens":1.5})").param, "max_tokens");
  EXPECT_EQ(CompletionError(R"({"prompt":"a","temperature":"hot"})").param, "temperature");
  EXPECT_EQ(CompletionError(R"({"prompt":"a","stream":"yes"})").param, "stream");
  EXPECT_EQ(CompletionError(R"({"prompt":"a","stop":5})").param, "stop");
  EXPECT_EQ(CompletionError(R"({"prompt":"a","stop":["x",1]})").param, "stop");
  EXPECT_EQ(CompletionError(R"({"prompt":"a","model":3})").param, "model");
  EXPECT_EQ(CompletionError(R"({"prompt":"a","seed":"1"})").param, "seed");
  EXPECT_EQ(CompletionError(R"({"prompt":"a","n":true})").param, "n");
  // A whole number written as a float is an integer.
  auto r = ParseCompletionRequest(R"({"prompt":"a","max_tokens":16.0})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r->gen.max_tokens, 16);
}

TEST(OpenAiRequest, OutOfRange) {
  EXPECT_EQ(CompletionError(R"({"prompt":"a","temperature":2.5})").param, "temperature");
  EXPECT_EQ(CompletionError(R"({"prompt":"a","temperature":-0.1})").param, "temperature");
  EXPECT_EQ(CompletionError(R"({"prompt":"a","top_p":0})").param, "top_p");
  EXPECT_EQ(CompletionError(R"({"prompt":"a","top_p":1.1})").param, "top_p");
  EXPECT_EQ(CompletionError(R"({"prompt":"a","n":0})").param, "n");
  EXPECT_EQ(CompletionError(R"({"prompt":"a","n":1000})").param, "n");
  EXPECT_EQ(CompletionError(R"({"prompt":"a","max_tokens":0})").param, "max_tokens");
  EXPECT_EQ(CompletionError(R"({"prompt":"a","max_tokens":-3})").param, "max_tokens");
  EXPECT_EQ(CompletionError(R"({"prompt":"a","logprobs":21})").param, "logprobs");
  EXPECT_EQ(CompletionError(R"({"prompt":"a","presence_penalty":3})").param, "presence_penalty");
  EXPECT_EQ(CompletionError(R"({"prompt":"a","frequency_penalty":-2.5})").param, "frequency_penalty");
  EXPECT_EQ(CompletionError(R"({"prompt":"a","min_p":1.5})").param, "min_p");
  EXPECT_EQ(CompletionError(R"({"prompt":"a","top_k":-2})").param, "top_k");
  EXPECT_EQ(CompletionError(R"({"prompt":"a","max_tokens":99999999999999999999})").param, "max_tokens");
  EXPECT_NE(CompletionError(R"({"prompt":"a","temperature":3})").message.find("between 0 and 2"), std::string::npos);
}

TEST(OpenAiRequest, Combinations) {
  ApiError suffix = CompletionError(R"({"prompt":"a","suffix":"b"})");
  EXPECT_EQ(suffix.param, "suffix");
  EXPECT_NE(suffix.message.find("not supported"), std::string::npos);
  EXPECT_TRUE(ParseCompletionRequest(R"({"prompt":"a","suffix":null})").ok());
  EXPECT_EQ(CompletionError(R"({"prompt":"a","stream_options":{"include_usage":true}})").param, "stream_options");
  EXPECT_EQ(CompletionError(R"({"prompt":"a","stream":true,"stream_options":{"include_usage":1}})").param,
            "stream_options.include_usage");
  EXPECT_EQ(CompletionError(R"({"prompt":"a","n":2,"best_of":3})").param, "best_of");
  EXPECT_EQ(ChatError(R"({"messages":[{"role":"user","content":"x"}],"top_logprobs":2})").param, "top_logprobs");
}

TEST(OpenAiRequest, NullMeansAbsent) {
  auto r = ParseCompletionRequest(R"({"prompt":"a","temperature":null,"max_tokens":null,"stop":null,"n":null})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->gen.sampling.temperature, 1.0f);
  EXPECT_FALSE(r->gen.max_tokens.has_value());
  EXPECT_TRUE(r->gen.stop.empty());
}

TEST(OpenAiRequest, ChatMessages) {
  auto r = ParseChatRequest(R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},
    {"type":"text","text":"b"}]},{"role":"assistant","content":null}],"max_completion_tokens":7,"max_tokens":3,
    "logprobs":true,"top_logprobs":4})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->messages[0]["content"], "a\nb");
  EXPECT_TRUE(r->messages[1]["content"].is_null());
  EXPECT_EQ(*r->gen.max_tokens, 7);  // max_completion_tokens wins
  EXPECT_TRUE(r->gen.logprobs);
  EXPECT_EQ(r->gen.sampling.top_logprobs, 4);

  auto legacy = ParseChatRequest(R"({"messages":[{"role":"user","content":"x"}],"max_tokens":3})");
  ASSERT_TRUE(legacy.ok());
  EXPECT_EQ(*legacy->gen.max_tokens, 3);

  EXPECT_EQ(ChatError(R"({"model":"m"})").param, "messages");
  EXPECT_EQ(ChatError(R"({"messages":[]})").param, "messages");
  EXPECT_EQ(ChatError(R"({"messages":"hi"})").param, "messages");
  EXPECT_EQ(ChatError(R"({"messages":[1]})").param, "messages[0]");
  EXPECT_EQ(ChatError(R"({"messages":[{"content":"x"}]})").param, "messages[0].role");
  EXPECT_EQ(ChatError(R"({"messages":[{"role":"user","content":5}]})").param, "messages[0].content");
  ApiError image = ChatError(R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]})");
  EXPECT_NE(image.message.find("image_url"), std::string::npos);
  EXPECT_EQ(ChatError(R"({"messages":[{"role":"user","content":"x"}],"logprobs":"yes"})").param, "logprobs");
}

}  // namespace
}  // namespace mixserve::server
