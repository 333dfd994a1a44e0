#include "runtime/backend/cuda/lt_gemm.h"

#include <cuda_runtime.h>

#include <string>

namespace mixserve::cuda {
namespace {

Status LtError(const char* what, cublasStatus_t s) {
  return Status::Internal(std::string("cuBLASLt ") + what + " failed (status " + std::to_string(static_cast<int>(s)) + ")");
}

// RAII for the per-call descriptors.
struct Descs {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  ~Descs() {
    if (op) cublasLtMatmulDescDestroy(op);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (c) cublasLtMatrixLayoutDestroy(c);
  }
};

}  // namespace

LtGemm::~LtGemm() {
  if (workspace_) cudaFree(workspace_);
  if (handle_) cublasLtDestroy(handle_);
}

Status LtGemm::Init(size_t workspace_bytes) {
  if (auto s = cublasLtCreate(&handle_); s != CUBLAS_STATUS_SUCCESS) return LtError("create", s);
  if (cudaMalloc(&workspace_, workspace_bytes) != cudaSuccess) return Status::Internal("cuBLASLt workspace: out of GPU memory");
  workspace_bytes_ = workspace_bytes;
  return Status::Ok();
}

Status LtGemm::Run(cudaStream_t stream, int M, int N, int K, const bf16* x, const bf16* w, float* y_f32, bf16* y_bf16,
                   bool accumulate) {
  GemmSpec g;
  g.M = M;
  g.N = N;
  g.K = K;
  g.x = x;
  g.ldx = K;
  g.w = w;
  g.ldw = K;
  g.y = y_f32 ? static_cast<void*>(y_f32) : static_cast<void*>(y_bf16);
  g.y_f32 = y_f32 != nullptr;
  g.ldy = N;
  g.beta = accumulate ? 1.0f : 0.0f;
  return Run(stream, g);
}

Status LtGemm::Run(cudaStream_t stream, const GemmSpec& g) {
  if (g.M == 0 || g.N == 0 || g.batch == 0) return Status::Ok();
  // Column-major view: D (N x M, ld ldy) = op(A) (N x K) . B (K x M), B = x stored K x M (ld ldx);
  // A = W stored K x N (ld ldw) and transposed, or, when w_kn, stored N x K (ld ldw) as is.
  Descs d;
  const cudaDataType_t ctype = g.y_f32 ? CUDA_R_32F : CUDA_R_16BF;
  cublasStatus_t s = cublasLtMatmulDescCreate(&d.op, CUBLAS_COMPUTE_32F, CUDA_R_32F);
  if (s != CUBLAS_STATUS_SUCCESS) return LtError("desc", s);
  cublasOperation_t ta = g.w_kn ? CUBLAS_OP_N : CUBLAS_OP_T, tb = CUBLAS_OP_N;
  cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta));
  cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb));
  s = g.w_kn ? cublasLtMatrixLayoutCreate(&d.a, CUDA_R_16BF, g.N, g.K, g.ldw)
             : cublasLtMatrixLayoutCreate(&d.a, CUDA_R_16BF, g.K, g.N, g.ldw);
  if (s != CUBLAS_STATUS_SUCCESS) return LtError("layout", s);
  if ((s = cublasLtMatrixLayoutCreate(&d.b, CUDA_R_16BF, g.K, g.M, g.ldx)) != CUBLAS_STATUS_SUCCESS) return LtError("layout", s);
  if ((s = cublasLtMatrixLayoutCreate(&d.c, ctype, g.N, g.M, g.ldy)) != CUBLAS_STATUS_SUCCESS) return LtError("layout", s);
  if (g.batch > 1) {
    const int32_t count = g.batch;
    for (auto [layout, stride] : {std::pair{d.a, g.stride_w}, {d.b, g.stride_x}, {d.c, g.stride_y}}) {
      cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count));
      cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride));
    }
  }
  Key key{g.M, g.N, g.K, g.batch, g.ldx, g.stride_x, g.ldw, g.stride_w, g.w_kn, g.y_f32, g.ldy, g.stride_y, g.beta != 0.0f};
  auto it = algos_.find(key);
  if (it == algos_.end()) {
    cublasLtMatmulPreference_t pref = nullptr;
    cublasLtMatmulPreferenceCreate(&pref);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes_,
                                         sizeof(workspace_bytes_));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    s = cublasLtMatmulAlgoGetHeuristic(handle_, d.op, d.a, d.b, d.c, d.c, pref, 1, &result, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (s != CUBLAS_STATUS_SUCCESS || found == 0) {
      return Status::Internal("cuBLASLt: no algorithm for " + std::to_string(g.M) + "x" + std::to_string(g.N) + "x" +
                              std::to_string(g.K) + " (batch " + std::to_string(g.batch) + ")");
    }
    it = algos_.emplace(key, result.algo).first;
  }
  s = cublasLtMatmul(handle_, d.op, &g.alpha, g.w, d.a, g.x, d.b, &g.beta, g.y, d.c, g.y, d.c, &it->second, workspace_,
                     workspace_bytes_, stream);
  if (s != CUBLAS_STATUS_SUCCESS) return LtError("matmul", s);
  return Status::Ok();
}

}  // namespace mixserve::cuda
