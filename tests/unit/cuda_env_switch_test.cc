// The CUDA backend's environment switch parsing (runtime/backend/cuda/env_switch.h), which every
// MIXSERVE_* performance switch goes through: header-only, so it runs without a GPU.
#include "runtime/backend/cuda/env_switch.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace mixserve::cuda {
namespace {

constexpr const char* kName = "MIXSERVE_ENV_SWITCH_TEST";

TEST(EnvSwitch, OnByDefaultGoesOffOnlyOnALeadingZero) {
  unsetenv(kName);
  EXPECT_TRUE(EnvSwitch(kName, true));
  for (const char* v : {"1", "2", "", "yes"}) {
    setenv(kName, v, 1);
    EXPECT_TRUE(EnvSwitch(kName, true)) << "'" << v << "'";
  }
  for (const char* v : {"0", "00", "0x"}) {
    setenv(kName, v, 1);
    EXPECT_FALSE(EnvSwitch(kName, true)) << "'" << v << "'";
  }
  unsetenv(kName);
}

TEST(EnvSwitch, OffByDefaultGoesOnOnlyOnALeadingOne) {
  unsetenv(kName);
  EXPECT_FALSE(EnvSwitch(kName, false));
  for (const char* v : {"0", "2", "", "yes"}) {
    setenv(kName, v, 1);
    EXPECT_FALSE(EnvSwitch(kName, false)) << "'" << v << "'";
  }
  for (const char* v : {"1", "10"}) {
    setenv(kName, v, 1);
    EXPECT_TRUE(EnvSwitch(kName, false)) << "'" << v << "'";
  }
  unsetenv(kName);
}

TEST(EnvInt, FallbackWhenUnsetOrEmpty) {
  unsetenv(kName);
  EXPECT_EQ(EnvInt(kName, 7), 7);
  setenv(kName, "", 1);
  EXPECT_EQ(EnvInt(kName, 7), 7);
  setenv(kName, "12", 1);
  EXPECT_EQ(EnvInt(kName, 7), 12);
  setenv(kName, "-3", 1);
  EXPECT_EQ(EnvInt(kName, 7), -3);
  setenv(kName, "x", 1);
  EXPECT_EQ(EnvInt(kName, 7), 0) << "atoi of a non-number";
  unsetenv(kName);
}

}  // namespace
}  // namespace mixserve::cuda
