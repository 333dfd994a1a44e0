// The small grammars behind Validate: Kubernetes quantities, Go durations, model URIs.
#include <gtest/gtest.h>

#include "operator/api/duration.h"
#include "operator/api/model_uri.h"
#include "operator/api/quantity.h"

namespace mixserve::api {
namespace {

TEST(QuantityTest, AcceptsTheKubernetesForms) {
  for (const char* q : {"8", "7500m", "0.5", ".5", "1.", "64Gi", "1Ki", "2Ei", "3E", "100M", "1e3", "1E-2", "+4",
                        "250u", "10n", "1.5k"}) {
    EXPECT_TRUE(IsQuantity(q)) << q;
    EXPECT_TRUE(IsPositiveQuantity(q)) << q;
  }
}

TEST(QuantityTest, ZeroAndNegativeAreQuantitiesButNotPositive) {
  for (const char* q : {"0", "0Gi", "0.000", "-1", "-64Gi", "-0.5"}) {
    EXPECT_TRUE(IsQuantity(q)) << q;
    EXPECT_FALSE(IsPositiveQuantity(q)) << q;
  }
}

TEST(QuantityTest, RejectsNonQuantities) {
  for (const char* q : {"", "lots", "Gi", "64GB", "64 Gi", "1.2.3", "1e", "1e+", "0x10", "--1", "1Kib", "."}) {
    EXPECT_FALSE(IsQuantity(q)) << q;
  }
}

TEST(DurationTest, ParsesGoDurations) {
  struct Case {
    const char* text;
    double seconds;
  };
  for (const Case& c : {Case{"90s", 90}, Case{"30m", 1800}, Case{"1h30m", 5400}, Case{"1.5h", 5400},
                        Case{"500ms", 0.5}, Case{"2h0m1s", 7201}, Case{"100us", 1e-4}, Case{"7ns", 7e-9}}) {
    auto d = ParseDurationSeconds(c.text);
    ASSERT_TRUE(d.ok()) << c.text;
    EXPECT_DOUBLE_EQ(*d, c.seconds) << c.text;
  }
}

TEST(DurationTest, RejectsOthers) {
  for (const char* text : {"", "30", "m", "30 m", "-5m", "1d", "1.h", "half an hour", "99999999999h"}) {
    auto d = ParseDurationSeconds(text);
    EXPECT_FALSE(d.ok()) << text;
  }
  EXPECT_EQ(ParseDurationSeconds("1d").status().message(), "'1d' is not a duration such as 90s, 30m or 1h30m");
}

TEST(ModelUriTest, Hf) {
  auto uri = ParseModelUri("hf://mistralai/Mixtral-8x7B-Instruct-v0.1@refs/pr/3");
  ASSERT_TRUE(uri.ok());
  EXPECT_EQ(uri->scheme, ModelUri::Scheme::kHf);
  EXPECT_EQ(uri->repo, "mistralai/Mixtral-8x7B-Instruct-v0.1");
  EXPECT_EQ(uri->revision, "refs/pr/3");
  EXPECT_EQ(ParseModelUri("hf://a/b")->revision, "");
}

TEST(ModelUriTest, PvcAndFile) {
  auto pvc = ParseModelUri("pvc://models.v2/mistralai/Mixtral-8x22B/");
  ASSERT_TRUE(pvc.ok());
  EXPECT_EQ(pvc->scheme, ModelUri::Scheme::kPvc);
  EXPECT_EQ(pvc->claim, "models.v2");
  EXPECT_EQ(pvc->path, "mistralai/Mixtral-8x22B");

  auto file = ParseModelUri("file:///opt/models/mistral-7b/");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->scheme, ModelUri::Scheme::kFile);
  EXPECT_EQ(file->path, "/opt/models/mistral-7b");
}

TEST(ModelUriTest, MalformedUrisCarryTheRuleMessage) {
  EXPECT_EQ(ParseModelUri("hf://a/b/c").status().message(),
            "an hf:// model.uri must look like hf://<org>/<name> or hf://<org>/<name>@<revision>");
  EXPECT_EQ(ParseModelUri("pvc://Models/x").status().message(),
            "a pvc:// model.uri must look like pvc://<claim>/<path>, naming a PersistentVolumeClaim and a folder on it");
  EXPECT_EQ(ParseModelUri("file:///").status().message(),
            "a file:// model.uri must name an absolute folder, as in file:///models/mistral-7b");
  EXPECT_EQ(ParseModelUri("/models/x").status().message(), "model.uri must start with hf://, pvc:// or file://");
}

}  // namespace
}  // namespace mixserve::api
