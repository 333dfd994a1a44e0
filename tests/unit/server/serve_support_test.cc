// Flag values of `mixserve serve`, API-key checks, metrics exposition and access-log lines.
#include <gtest/gtest.h>

#include "runtime/server/access_log.h"
#include "runtime/server/auth.h"
#include "runtime/server/metrics.h"
#include "runtime/server/serve_options.h"

namespace mixserve::server {
namespace {

TEST(ServeOptions, ByteSizes) {
  EXPECT_EQ(*ParseByteSize("1048576"), 1048576);
  EXPECT_EQ(*ParseByteSize("512MiB"), 512ll << 20);
  EXPECT_EQ(*ParseByteSize("2GiB"), 2ll << 30);
  EXPECT_EQ(*ParseByteSize("1G"), 1ll << 30);
  EXPECT_EQ(*ParseByteSize("3MB"), 3000000);
  EXPECT_EQ(*ParseByteSize("64k"), 65536);
  for (const char* bad : {"", "MiB", "12XB", "-5", "1e30GiB"}) EXPECT_FALSE(ParseByteSize(bad).ok()) << bad;
}

TEST(ServeOptions, Durations) {
  EXPECT_EQ(ParseDuration("100s")->count(), 100000);
  EXPECT_EQ(ParseDuration("2m")->count(), 120000);
  EXPECT_EQ(ParseDuration("500ms")->count(), 500);
  EXPECT_EQ(ParseDuration("30")->count(), 30000);
  EXPECT_FALSE(ParseDuration("soon").ok());
  EXPECT_FALSE(ParseDuration("5y").ok());
}

TEST(ServeOptions, Names) {
  EXPECT_EQ(SplitServedNames({"a,b", " c ", "a"}), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(DefaultServedName("hf://mistralai/Mixtral-8x7B@main"), "mistralai/Mixtral-8x7B");
  EXPECT_EQ(DefaultServedName("tests/data/tiny-mixtral/"), "tiny-mixtral");
  EXPECT_EQ(DefaultServedName("file:///models/m"), "m");
}

TEST(Auth, BearerKeys) {
  ApiKeys none;
  EXPECT_TRUE(none.Allows(""));
  ApiKeys keys = ApiKeys::FromKeys({"sk-one", "sk-two"});
  EXPECT_TRUE(keys.Allows("Bearer sk-one"));
  EXPECT_TRUE(keys.Allows("Bearer sk-two"));
  EXPECT_FALSE(keys.Allows("Bearer sk-on"));
  EXPECT_FALSE(keys.Allows("Bearer sk-one1"));
  EXPECT_FALSE(keys.Allows("sk-one"));
  EXPECT_FALSE(keys.Allows(""));
  EXPECT_FALSE(keys.Allows("Bearer "));
}

TEST(Metrics, VllmNamesAndHistograms) {
  ServerMetrics metrics("tiny");
  metrics.RecordRequest(0.02, 0.5, 10, "length");
  metrics.RecordHttp(200);
  EngineStats stats;
  stats.prompt_tokens_total = 7;
  stats.prefix_cache_hits = 16;
  stats.kv_usage = 0.25;
  std::string text = metrics.Render(stats, 100);
  for (const char* needle :
       {"vllm:num_requests_running{model_name=\"tiny\"} 0\n", "vllm:prompt_tokens_total{model_name=\"tiny\"} 7\n",
        "vllm:prefix_cache_hits_total{model_name=\"tiny\"} 16\n", "vllm:gpu_cache_usage_perc{model_name=\"tiny\"} 0.25\n",
        "vllm:kv_cache_usage_perc{model_name=\"tiny\"} 0.25\n",
        "vllm:time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"0.01\"} 0\n",
        "vllm:time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"0.04\"} 1\n",
        "vllm:time_to_first_token_seconds_count{model_name=\"tiny\"} 1\n",
        "vllm:e2e_request_latency_seconds_sum{model_name=\"tiny\"} 0.5\n",
        "vllm:request_success_total{model_name=\"tiny\",finished_reason=\"length\"} 1\n",
        "# TYPE vllm:time_per_output_token_seconds histogram\n",
        "mixserve:http_responses_total{model_name=\"tiny\",status=\"200\"} 1\n"}) {
    EXPECT_NE(text.find(needle), std::string::npos) << needle;
  }
}

TEST(AccessLog, OneJsonLine) {
  AccessRecord r;
  r.id = "cmpl-1";
  r.model = "tiny";
  r.status = 200;
  r.prompt_tokens = 3;
  r.completion_tokens = 4;
  r.ttft_ms = 1.5;
  r.total_ms = 9;
  std::string line = FormatAccessRecord(r);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["id"], "cmpl-1");
  EXPECT_EQ(j["completion_tokens"], 4);
  EXPECT_EQ(j["ttft_ms"], 1.5);
  r.ttft_ms = -1;
  EXPECT_TRUE(nlohmann::json::parse(FormatAccessRecord(r))["ttft_ms"].is_null());
}

}  // namespace
}  // namespace mixserve::server
