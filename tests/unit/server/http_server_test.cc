// The HTTP server end to end in-process, on the tiny model: lifecycle (/health 503 while loading and
// draining, /live always), routing errors, API keys, and a completion through the listener.
// cpprestsdk's U() macro would clash with gtest's template parameters.
#define _TURN_OFF_PLATFORM_STRING
#include "runtime/server/http_server.h"

#include <cpprest/http_client.h>
#include <gtest/gtest.h>

#include "runtime/backend/cpu/cpu_loader.h"
#include "tests/support/local_cluster.h"

namespace mixserve::server {
namespace {

using web::http::methods;

struct Reply {
  int status = 0;
  std::string body;
  std::string retry_after;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::RepoRoot() + "/tests/data/tiny-mixtral";
    auto tok = model::Tokenizer::Load(dir_);
    ASSERT_TRUE(tok.ok()) << tok.status().message();
    tokenizer_ = std::make_unique<model::Tokenizer>(std::move(tok).value());
    cpu::CpuModelOptions options;
    options.num_kv_blocks = 64;
    auto m = cpu::LoadCpuModel(dir_, options);
    ASSERT_TRUE(m.ok()) << m.status().message();
    model_ = std::move(m).value();
  }

  void Start(ServerOptions options) {
    options.port = 0;
    server_ = std::make_unique<HttpServer>(options);
    auto port = server_->Open();
    ASSERT_TRUE(port.ok()) << port.status().message();
    client_ = std::make_unique<web::http::client::http_client>("http://127.0.0.1:" + std::to_string(*port));
  }

  void Ready() {
    EngineConfig config;
    config.max_model_len = 512;
    engine_ = std::make_unique<Engine>(model_.get(), tokenizer_.get(), config);
    engine_->Start();
    ServedModel served;
    served.names = {"tiny", "alias"};
    served.tokenizer = tokenizer_.get();
    served.max_model_len = 512;
    server_->SetModel(engine_.get(), served, 64);
  }

  Reply Call(const web::http::method& method, const std::string& path, const std::string& body = "",
             const std::string& key = "") {
    web::http::http_request req(method);
    req.set_request_uri(path);
    if (!body.empty()) req.set_body(body, "application/json");
    if (!key.empty()) req.headers().add("Authorization", "Bearer " + key);
    auto resp = client_->request(req).get();
    Reply r;
    r.status = resp.status_code();
    r.body = resp.extract_utf8string(true).get();
    auto it = resp.headers().find("Retry-After");
    if (it != resp.headers().end()) r.retry_after = it->second;
    return r;
  }

  static nlohmann::json ErrorOf(const Reply& r) {
    auto j = nlohmann::json::parse(r.body);
    EXPECT_TRUE(j["error"].contains("message") && j["error"].contains("type") && j["error"].contains("param") &&
                j["error"].contains("code"))
        << r.body;
    return j["error"];
  }

  void TearDown() override {
    if (engine_) engine_->Stop();
    server_.reset();
  }

  std::string dir_;
  std::unique_ptr<model::Tokenizer> tokenizer_;
  std::unique_ptr<cpu::CpuModel> model_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<web::http::client::http_client> client_;
};

TEST_F(HttpServerTest, HealthFollowsTheLifecycle) {
  Start({});
  EXPECT_EQ(Call(methods::GET, "/health").status, 503);
  EXPECT_EQ(Call(methods::GET, "/live").status, 200);
  EXPECT_EQ(Call(methods::POST, "/v1/completions", R"({"prompt":"hi"})").status, 503);
  Ready();
  EXPECT_EQ(Call(methods::GET, "/health").status, 200);
  Reply done = Call(methods::POST, "/v1/completions", R"({"model":"alias","prompt":"hi","max_tokens":3})");
  ASSERT_EQ(done.status, 200) << done.body;
  auto j = nlohmann::json::parse(done.body);
  EXPECT_EQ(j["model"], "alias");
  EXPECT_EQ(j["usage"]["completion_tokens"], 3);
  server_->BeginDrain();
  EXPECT_EQ(Call(methods::GET, "/health").status, 503);
  EXPECT_EQ(Call(methods::GET, "/live").status, 200);
  Reply refused = Call(methods::POST, "/v1/completions", R"({"prompt":"hi"})");
  EXPECT_EQ(refused.status, 503);
  ErrorOf(refused);
}

TEST_F(HttpServerTest, RoutingErrorsAreOpenAiShaped) {
  Start({});
  Ready();
  EXPECT_EQ(ErrorOf(Call(methods::GET, "/v1/nothing")).is_object(), true);
  EXPECT_EQ(Call(methods::GET, "/v1/nothing").status, 404);
  EXPECT_EQ(Call(methods::GET, "/v1/completions").status, 405);
  EXPECT_EQ(Call(methods::DEL, "/v1/models").status, 405);
  Reply unknown = Call(methods::POST, "/v1/chat/completions", R"({"model":"gpt-9","messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(ErrorOf(unknown)["code"], "model_not_found");
  Reply malformed = Call(methods::POST, "/v1/completions", "{nope");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(ErrorOf(malformed)["type"], "invalid_request_error");
  Reply too_long = Call(methods::POST, "/v1/completions", R"({"prompt":"hi","max_tokens":600})");
  EXPECT_EQ(too_long.status, 400);
  EXPECT_NE(ErrorOf(too_long)["message"].get<std::string>().find("maximum context length is 512 tokens"), std::string::npos);
}

TEST_F(HttpServerTest, ApiKeysGuardTheApiOnly) {
  ServerOptions options;
  options.api_keys = ApiKeys::FromKeys({"sk-right"});
  Start(options);
  Ready();
  EXPECT_EQ(Call(methods::GET, "/v1/models").status, 401);
  EXPECT_EQ(Call(methods::GET, "/v1/models", "", "sk-wrong").status, 401);
  EXPECT_EQ(ErrorOf(Call(methods::GET, "/v1/models", "", "sk-wrong"))["code"], "invalid_api_key");
  EXPECT_EQ(Call(methods::GET, "/v1/models", "", "sk-right").status, 200);
  EXPECT_EQ(Call(methods::GET, "/health").status, 200);
  EXPECT_EQ(Call(methods::GET, "/metrics").status, 200);
}

TEST_F(HttpServerTest, ServerSeedMakesUnseededSamplingRepeatable) {
  auto sample = [this](std::optional<uint64_t> seed) {
    ServerOptions options;
    options.seed = seed;
    Start(options);
    Ready();
    Reply r = Call(methods::POST, "/v1/completions", R"({"prompt":"hi","max_tokens":8,"temperature":1})");
    EXPECT_EQ(r.status, 200) << r.body;
    engine_->Stop();
    server_.reset();
    return nlohmann::json::parse(r.body)["choices"][0]["text"].get<std::string>();
  };
  std::string first = sample(7);
  EXPECT_EQ(sample(7), first);
  EXPECT_NE(sample(8), first);
}

}  // namespace
}  // namespace mixserve::server
