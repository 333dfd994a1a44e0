// LtGemm: the dense projections through cuBLASLt (bf16 operands, fp32 accumulation).
//
// Computes y (M, N) = x (M, K) . W (N, K)^T (+ y when accumulate), all row-major, with y in fp32
// or bf16. Heuristic results are cached per shape, so a call costs a few microseconds of host
// time and is safe to capture in a CUDA graph.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <map>
#include <vector>

#include "runtime/backend/cuda/kernels.h"
#include "runtime/base/status.h"

namespace mixserve::cuda {

// One (optionally strided-batched) product y (M, N) = alpha * x (M, K) . op(W) + beta * y, row-major:
// op(W) = W^T for W (N, K), or W itself for W (K, N) when w_kn.
struct GemmSpec {
  int M = 0, N = 0, K = 0, batch = 1;
  const bf16* x = nullptr;
  int64_t ldx = 0, stride_x = 0;
  const bf16* w = nullptr;
  int64_t ldw = 0, stride_w = 0;
  bool w_kn = false;
  void* y = nullptr;
  bool y_f32 = true;
  int64_t ldy = 0, stride_y = 0;
  float alpha = 1.0f, beta = 0.0f;
};

class LtGemm {
 public:
  LtGemm() = default;
  LtGemm(const LtGemm&) = delete;
  LtGemm& operator=(const LtGemm&) = delete;
  ~LtGemm();

  Status Init(size_t workspace_bytes = size_t{32} << 20);

  // y_f32 or y_bf16 (exactly one non-null) = x . W^T (+ y if accumulate).
  Status Run(cudaStream_t stream, int M, int N, int K, const bf16* x, const bf16* w, float* y_f32, bf16* y_bf16,
             bool accumulate);
  Status Run(cudaStream_t stream, const GemmSpec& spec);

 private:
  using Key = std::vector<int64_t>;
  cublasLtHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::map<Key, cublasLtMatmulAlgo_t> algos_;
};

}  // namespace mixserve::cuda
