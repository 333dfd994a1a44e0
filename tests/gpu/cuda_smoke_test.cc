// The CUDA toolchain is compiled and linked in; kernels and cuBLASLt run where a GPU is present.
#include <gtest/gtest.h>

#include <vector>

#include "runtime/backend/cuda/smoke.h"

namespace mixserve::cuda {
namespace {

TEST(CudaSmoke, LibrariesLinked) {
  // Both need no GPU: they prove cudart and NCCL are linked at the pinned major versions.
  EXPECT_EQ(RuntimeVersion() / 1000, 13);
  EXPECT_GE(NcclVersion(), 22800);
}

TEST(CudaSmoke, KernelAndCublasLt) {
  if (DeviceCount() == 0) GTEST_SKIP() << "skipped: no GPU";
  std::vector<float> values = {1.5f, -2.0f, 0.25f};
  Status s = AddOneOnDevice(values);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_FLOAT_EQ(values[0], 2.5f);
  EXPECT_FLOAT_EQ(values[1], -1.0f);
  EXPECT_FLOAT_EQ(values[2], 1.25f);
  Status lt = CheckCublasLt();
  EXPECT_TRUE(lt.ok()) << lt.message();
}

TEST(CudaSmoke, NoGpuIsAnErrorValue) {
  if (DeviceCount() > 0) GTEST_SKIP() << "a GPU is present";
  std::vector<float> values = {1.0f};
  EXPECT_EQ(AddOneOnDevice(values).code(), Status::Code::kUnavailable);
  EXPECT_EQ(CheckCublasLt().code(), Status::Code::kUnavailable);
}

}  // namespace
}  // namespace mixserve::cuda
