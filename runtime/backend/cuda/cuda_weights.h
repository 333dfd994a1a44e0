// DeviceWeights: a model's weights in GPU memory (bf16 matrices, fp32 norm vectors), in the layout
// the kernels read, filled from safetensors or with random values for benchmarks.
//
// Layout per layer: wqkv (q; k; v rows) (nh*hd + 2*nkv*hd, H); wo (H, nh*hd); router (E, H);
// w13 (E, 2I, H) with each expert's gate rows then up rows; w2 (E, H, I). A dense model is one
// expert with no router. All of it lives in one cudaMalloc, so it is freed at once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/backend/cuda/kernels.h"
#include "runtime/backend/cuda/model_config.h"
#include "runtime/base/status.h"

namespace mixserve::cuda {

struct DeviceLayer {
  bf16* wqkv = nullptr;
  bf16* wo = nullptr;
  float* input_norm = nullptr;
  float* post_norm = nullptr;
  bf16* router = nullptr;  // null for dense
  bf16* w13 = nullptr;
  bf16* w2 = nullptr;
};

class DeviceWeights {
 public:
  DeviceWeights() = default;
  DeviceWeights(const DeviceWeights&) = delete;
  DeviceWeights& operator=(const DeviceWeights&) = delete;
  ~DeviceWeights();

  // Bytes the weights of `config` take on the GPU.
  static int64_t BytesNeeded(const CudaModelConfig& config);

  // Allocates (one clear error with needed vs free memory when it does not fit).
  Status Allocate(const CudaModelConfig& config);
  // Fills every matrix with std-0.02 noise and every norm with 1, on the GPU.
  Status FillRandom(uint64_t seed);
  // Reads the model folder's safetensors with `threads` reader threads through pinned buffers;
  // sets *gbps to the achieved host-to-device rate.
  Status Load(const std::string& model_dir, int threads, double* gbps);

  int64_t bytes() const { return bytes_; }
  const bf16* embed() const { return embed_; }
  const bf16* lm_head() const { return lm_head_; }
  const float* final_norm() const { return final_norm_; }
  const DeviceLayer& layer(int i) const { return layers_[i]; }

  // Bytes of one layer's attention projections, of one expert, of the lm_head (for rooflines).
  int64_t attention_bytes_per_layer() const;
  int64_t expert_bytes() const;
  int64_t lm_head_bytes() const;

 private:
  CudaModelConfig config_;
  void* base_ = nullptr;
  int64_t bytes_ = 0;
  bf16* embed_ = nullptr;
  bf16* lm_head_ = nullptr;  // == embed_ when tied
  float* final_norm_ = nullptr;
  std::vector<DeviceLayer> layers_;
};

}  // namespace mixserve::cuda
