// What `mixserve serve` / `bench` say at start when the GPU cannot hold the model: one line naming
// what is missing and the memory needed against the memory free, checked before the big allocation,
// and the GPU left usable afterwards. Without a GPU: the one-line "no CUDA GPU" reason.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <string>

#include "runtime/backend/cuda/cuda_model.h"
#include "runtime/backend/cuda/device_info.h"
#include "runtime/backend/cuda/smoke.h"

namespace mixserve::cuda {
namespace {

bool OneLine(const std::string& s) { return !s.empty() && s.find('\n') == std::string::npos; }

int64_t FreeBytes() {
  int64_t free_bytes = 0, total = 0;
  EXPECT_TRUE(GpuMemory(&free_bytes, &total).ok());
  return free_bytes;
}

TEST(CudaStartupErrors, NoGpuIsOneLineNamingIt) {
  if (DeviceCount() > 0) {
    EXPECT_EQ(NoGpuReason(), "");
    return;
  }
  const std::string reason = NoGpuReason();
  EXPECT_TRUE(OneLine(reason)) << reason;
  EXPECT_NE(reason.find("no CUDA GPU found"), std::string::npos) << reason;
  auto gpu = GpuName();
  ASSERT_FALSE(gpu.ok());
  EXPECT_EQ(gpu.status().message(), reason);
}

TEST(CudaStartupErrors, WeightsLargerThanTheGpuFailBeforeAllocating) {
  if (DeviceCount() == 0) GTEST_SKIP() << "skipped: no GPU";
  auto big = ResolveModelConfig("mixtral-8x22b", 0);  // 141 B parameters: ~263 GiB of bf16
  ASSERT_TRUE(big.ok());
  const int64_t needed = DeviceWeights::BytesNeeded(*big);
  const int64_t before = FreeBytes();
  if (needed < before) GTEST_SKIP() << "skipped: this GPU holds Mixtral-8x22B";
  CudaModelOptions o;
  o.random_weights = true;
  auto model = CudaModel::Create(*big, "", o);
  ASSERT_FALSE(model.ok());
  const std::string m = model.status().message();
  EXPECT_TRUE(OneLine(m)) << m;
  EXPECT_NE(m.find("out of GPU memory for the weights of mixtral-8x22b (56 layers"), std::string::npos) << m;
  char need[32];
  std::snprintf(need, sizeof(need), "need %.2f GiB", static_cast<double>(needed) / (1 << 30));
  EXPECT_NE(m.find(need), std::string::npos) << m;
  EXPECT_NE(m.find(" free of "), std::string::npos) << m;
  EXPECT_NE(m.find("--layers"), std::string::npos) << m;
  // Nothing stays allocated, and a model that fits still starts.
  EXPECT_GT(FreeBytes(), before - (int64_t{256} << 20));
  auto small = ResolveModelConfig("mixtral-8x7b", 1);
  ASSERT_TRUE(small.ok());
  CudaModelOptions s;
  s.random_weights = true;
  s.max_model_len = 256;
  s.max_seqs = 4;
  s.max_batch_tokens = 256;
  s.max_logit_rows = 4;
  s.num_kv_blocks = 64;
  auto ok = CudaModel::Create(*small, "", s);
  EXPECT_TRUE(ok.ok()) << ok.status().message();
}

TEST(CudaStartupErrors, MaxModelLenBeyondTheKvCacheNamesBothSizes) {
  if (DeviceCount() == 0) GTEST_SKIP() << "skipped: no GPU";
  auto cfg = ResolveModelConfig("mixtral-8x7b", 2);
  ASSERT_TRUE(cfg.ok());
  CudaModelOptions o;
  o.random_weights = true;
  o.max_model_len = 1 << 25;  // 32 M tokens x 2 layers x 4 KiB = 256 GiB of bf16 KV: more than an H200
  o.max_seqs = 8;
  o.max_batch_tokens = 512;
  o.max_logit_rows = 8;
  auto model = CudaModel::Create(*cfg, "", o);
  ASSERT_FALSE(model.ok());
  const std::string m = model.status().message();
  EXPECT_TRUE(OneLine(m)) << m;
  EXPECT_NE(m.find("one sequence of --max-model-len 33554432 tokens needs 256.0"), std::string::npos) << m;
  EXPECT_NE(m.find(" free for it after the weights"), std::string::npos) << m;
}

TEST(CudaStartupErrors, KvCacheTooSmallForOneSequenceIsABadArgument) {
  if (DeviceCount() == 0) GTEST_SKIP() << "skipped: no GPU";
  auto cfg = ResolveModelConfig("mixtral-8x7b", 1);
  ASSERT_TRUE(cfg.ok());
  CudaModelOptions o;
  o.random_weights = true;
  o.max_model_len = 4096;  // 256 blocks of 16
  o.num_kv_blocks = 8;
  o.max_seqs = 4;
  o.max_batch_tokens = 256;
  o.max_logit_rows = 4;
  auto model = CudaModel::Create(*cfg, "", o);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), Status::Code::kInvalidArgument);
  const std::string m = model.status().message();
  EXPECT_TRUE(OneLine(m)) << m;
  EXPECT_NE(m.find("8 blocks (128 tokens) cannot hold one sequence of --max-model-len 4096"), std::string::npos) << m;
}

}  // namespace
}  // namespace mixserve::cuda
