#include "runtime/base/prometheus.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace mixserve::prometheus {
namespace {

TEST(PrometheusNumber, WholeNumbersHaveNoFraction) {
  EXPECT_EQ(Number(0), "0");
  EXPECT_EQ(Number(42), "42");
  EXPECT_EQ(Number(-7), "-7");
}

TEST(PrometheusNumber, FractionsReadBackExactly) {
  for (double v : {0.1, 1.0 / 3.0, 2.5e-7, 123456.789}) {
    EXPECT_EQ(std::stod(Number(v)), v) << Number(v);
  }
}

TEST(PrometheusNumber, BucketBoundsPrintAsWritten) {
  EXPECT_EQ(Number(0.005), "0.005");
  EXPECT_EQ(Number(0.04), "0.04");
  EXPECT_EQ(Number(2.5), "2.5");
}

TEST(PrometheusNumber, SpecialValuesUsePrometheusSpelling) {
  EXPECT_EQ(Number(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(Number(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(Number(std::nan("")), "NaN");
}

TEST(PrometheusLabel, EscapesBackslashQuoteAndNewline) {
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeLabelValue("a\"b"), "a\\\"b");
  EXPECT_EQ(EscapeLabelValue("c:\\d"), "c:\\\\d");
  EXPECT_EQ(EscapeLabelValue("x\ny"), "x\\ny");
}

}  // namespace
}  // namespace mixserve::prometheus
