// Not a check by itself: dumps the CUDA backend's last-position logits for hack/gpu-bench.sh's
// full-width comparison with transformers. Runs only when MIXSERVE_LOGITS_MODEL (a model folder),
// MIXSERVE_LOGITS_TOKENS (JSON {"prompts": [[ids...], ...]}) and MIXSERVE_LOGITS_OUT (a
// .safetensors path) are set; writes one F32 tensor "logits" of shape [prompts, vocab].
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "runtime/backend/cuda/cuda_model.h"
#include "runtime/backend/cuda/smoke.h"

namespace mixserve::cuda {
namespace {

TEST(CudaLogitsDump, WritesLastPositionLogits) {
  const char* model_dir = std::getenv("MIXSERVE_LOGITS_MODEL");
  const char* tokens_path = std::getenv("MIXSERVE_LOGITS_TOKENS");
  const char* out_path = std::getenv("MIXSERVE_LOGITS_OUT");
  if (!model_dir || !tokens_path || !out_path) GTEST_SKIP() << "skipped: MIXSERVE_LOGITS_* not set";
  if (DeviceCount() == 0) GTEST_SKIP() << "skipped: no GPU";
  std::ifstream in(tokens_path);
  ASSERT_TRUE(in) << tokens_path;
  const nlohmann::json prompts = nlohmann::json::parse(in)["prompts"];
  auto config = ResolveModelConfig(model_dir, 0);
  ASSERT_TRUE(config.ok()) << config.status().message();
  CudaModelOptions o;
  o.max_model_len = 1024;
  o.max_batch_tokens = 1024;
  o.max_seqs = 8;
  o.max_logit_rows = 16;
  o.num_kv_blocks = 1024 / o.kv_block_tokens;
  auto model = CudaModel::Create(*config, model_dir, o);
  ASSERT_TRUE(model.ok()) << model.status().message();
  const int V = (*model)->vocab_size();
  std::vector<float> logits;
  for (const auto& p : prompts) {
    ForwardBatch batch;
    std::vector<int32_t> blocks(o.num_kv_blocks);
    std::iota(blocks.begin(), blocks.end(), 0);
    batch.seqs.push_back({p.get<std::vector<int32_t>>(), 0, blocks, false});
    ForwardOutput out;
    Status s = (*model)->Forward(batch, &out);
    ASSERT_TRUE(s.ok()) << s.message();
    logits.insert(logits.end(), out.logits.begin(), out.logits.end());
  }
  const int64_t n = static_cast<int64_t>(prompts.size());
  nlohmann::json header;
  header["logits"] = {{"dtype", "F32"}, {"shape", {n, V}}, {"data_offsets", {0, n * V * 4}}};
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::ofstream out(out_path, std::ios::binary);
  const uint64_t len = text.size();
  out.write(reinterpret_cast<const char*>(&len), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.write(reinterpret_cast<const char*>(logits.data()), static_cast<std::streamsize>(logits.size() * 4));
  ASSERT_TRUE(out.good()) << out_path;
  std::printf("wrote %s: logits [%lld, %d]\n", out_path, static_cast<long long>(n), V);
}

}  // namespace
}  // namespace mixserve::cuda
