// LtGemm: the dense projections through cuBLASLt (bf16 operands, fp32 accumulation).
//
// Computes y (M, N) = x (M, K) . W (N, K)^T (+ y when accumulate), all row-major, with y in fp32
// or bf16. The algorithm is chosen once per shape and cached, so a call costs a few microseconds of
// host time and is safe to capture in a CUDA graph. With tuning on (MIXSERVE_LT_TUNE=1, or 2 to add
// split-K variants, or 3 as 2 and also the shapes marked tune = false: per-expert and padded prefill
// GEMMs, keyed by their exact M; SetTuning), the first use of a shape on a stream that is not capturing
// times up to 16 of the heuristic's candidates on scratch output memory and keeps the fastest; a shape
// first seen during capture keeps the heuristic's first choice, as do shapes past the first 256 tuned
// (MIXSERVE_LT_TUNE_MAX), shapes met after tuning has taken MIXSERVE_LT_TUNE_MS of wall time in this
// process (default 3000, so serving never stalls for long), and shapes with M above
// MIXSERVE_LT_TUNE_MAX_M (default 0: any M). MIXSERVE_LT_TUNE_LOG=1 prints each choice to stderr.
// With MIXSERVE_LT_TUNE unset (kTuneAuto), only shapes with M <= 256 met inside a tuning window
// (SetTuneWindow: a decode bucket's first, eager step, never a capture) are tuned, within 1 s in all;
// MIXSERVE_LT_TUNE=0 turns every tuning off.
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
  bool tune = true;  // false: never time this shape (M changes from step to step, e.g. per-expert groups)
};

// The plain product y (M, N) = x (M, K) . W (N, K)^T with contiguous rows, y fp32 or bf16.
inline GemmSpec DenseSpec(int M, int N, int K, const bf16* x, const bf16* w, void* y, bool y_f32) {
  GemmSpec g;
  g.M = M;
  g.N = N;
  g.K = K;
  g.x = x;
  g.ldx = K;
  g.w = w;
  g.ldw = K;
  g.y = y;
  g.y_f32 = y_f32;
  g.ldy = N;
  return g;
}

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
  // The same with workspace `lane` (0: the shared one): GEMMs that may run at the same time on
  // different streams must use different lanes. Lanes past 0 are allocated at first use.
  Status Run(cudaStream_t stream, const GemmSpec& spec, int lane);

  // 0: the heuristic's first choice; 1: time the heuristic's candidates; 2: also split-K variants
  // of its first few; 3: as 2, also for specs with tune = false; kTuneAuto: as 1 inside the tune
  // window for M <= 256 only. Init sets it from MIXSERVE_LT_TUNE (unset: kTuneAuto).
  // Shapes already cached keep their choice.
  static constexpr int kTuneAuto = -1;
  static constexpr int kTuneAutoMaxM = 256;
  static constexpr int kTuneAutoMs = 1000;
  void SetTuning(int mode) { tune_ = mode; }
  // Opens or closes the window where kTuneAuto tunes (the caller's first eager step of a decode bucket).
  void SetTuneWindow(bool open) { tune_window_ = open; }
  int tuning() const { return tune_; }
  int tuned_shapes() const { return tuned_shapes_; }
  // Limits for tests and callers (Init sets them from the environment): shapes past `shapes` tuned,
  // past `ms` of tuning wall time, or with M above `max_m` (0: any) keep the heuristic's choice.
  void SetTuneLimits(int shapes, int ms, int max_m) {
    tune_budget_ = shapes;
    tune_ms_budget_ = ms;
    tune_max_m_ = max_m;
  }

 private:
  using Key = std::vector<int64_t>;
  struct Descs;
  // The fastest of `candidates` for g, timed on scratch output; candidates[0] when timing fails.
  cublasLtMatmulAlgo_t Tune(cudaStream_t stream, const GemmSpec& g, const Descs& d,
                            const std::vector<cublasLtMatmulHeuristicResult_t>& candidates);
  bool EnsureScratch(size_t bytes);

  cublasLtHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::vector<void*> lanes_;  // workspaces of lanes 1.. (index lane - 1)
  std::map<Key, cublasLtMatmulAlgo_t> algos_;
  int tune_ = 0;
  bool tune_window_ = false;
  bool tune_log_ = false;
  int tuned_shapes_ = 0;
  int tune_budget_ = 256;    // shapes tuned at most (MIXSERVE_LT_TUNE_MAX): prefill meets many odd M
  int tune_ms_budget_ = 3000;  // wall time of tuning at most, per LtGemm (MIXSERVE_LT_TUNE_MS)
  int tune_max_m_ = 0;       // tune only shapes with M <= this (MIXSERVE_LT_TUNE_MAX_M; 0: any)
  double tune_ms_ = 0;       // wall time spent tuning so far
  void* scratch_ = nullptr;  // tuning's output (never the caller's y: accumulating calls read it)
  size_t scratch_bytes_ = 0;
  void* flush_ = nullptr;    // written between timed runs so weights come from memory, as in a step
  size_t flush_bytes_ = 0;
};

}  // namespace mixserve::cuda
