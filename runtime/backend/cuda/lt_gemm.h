// LtGemm: the dense projections through cuBLASLt (bf16 operands, fp32 accumulation).
//
// Computes y (M, N) = x (M, K) . W (N, K)^T (+ y when accumulate), all row-major, with y in fp32
// or bf16. The descriptors and the algorithm are built once per shape and cached (up to
// kMaxCachedShapes shapes; MIXSERVE_LT_DESC_CACHE=0 rebuilds the descriptors on every call, the old
// way), so a call costs little host time beyond cublasLtMatmul's own and is safe to capture in a CUDA
// graph. With tuning on (MIXSERVE_LT_TUNE=1, or 2 to add split-K variants, or 3 as 2 and also the
// shapes marked tune = false: per-expert and padded prefill GEMMs, keyed by their exact M; SetTuning),
// the first use of a shape on a stream that is not capturing times up to 16 of the heuristic's
// candidates on scratch output memory and keeps the fastest; a shape first seen during capture keeps
// the heuristic's first choice, as do shapes past the first 256 tuned (MIXSERVE_LT_TUNE_MAX), shapes
// met after tuning has taken MIXSERVE_LT_TUNE_MS of wall time in this process (default 3000, so
// serving never stalls for long), and shapes with M above MIXSERVE_LT_TUNE_MAX_M (default 0: any M).
// MIXSERVE_LT_TUNE_LOG=1 prints each choice to stderr. With MIXSERVE_LT_TUNE unset (kTuneAuto), only
// shapes with M <= 256 met inside a tuning window (SetTuneWindow: a decode bucket's first, eager
// step, never a capture) are tuned, within 1 s in all; MIXSERVE_LT_TUNE=0 turns every tuning off.
//
// Bucketed tuning (GemmSpec::tune_bucket: per-expert prefill GEMMs, whose M follows the routing;
// MIXSERVE_LT_BUCKET sets it, see MoeSwitches): in every mode but 0, the first shape met in an M
// bucket (MBucket) on a stream that is not capturing is tuned with split-K variants, within the same
// limits; a choice at least 2% faster than the heuristic's first then serves every M of the bucket
// that cublasLtMatmulAlgoCheck accepts within the workspace (any other M, or a bucket where the
// heuristic's first won, keeps the heuristic's first choice for its own M). Bucket tuning does not
// count against kTuneAuto's 1 s of decode tuning.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <map>
#include <memory>
#include <optional>
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
  bool tune = true;  // false: never time this exact shape (M changes from step to step, e.g. per-expert groups)
  // Tune once per M bucket (LtGemm::MBucket) and reuse the choice for every M of the bucket that
  // accepts it; wins over `tune` (and over mode 3's exact-M tuning).
  bool tune_bucket = false;
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
  LtGemm();  // out of line: Entry is complete only in lt_gemm.cc
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
  int tuned_shapes() const { return tuned_shapes_; }  // exact shapes and buckets tuned
  int tuned_buckets() const { return tuned_buckets_; }
  // Shapes of tune_bucket specs that took their bucket's tuned choice, or had to fall back to the
  // heuristic's (cublasLtMatmulAlgoCheck refused it, or it needs more workspace than there is).
  int bucket_reused() const { return bucket_reused_; }
  int bucket_fallbacks() const { return bucket_fallbacks_; }
  size_t cached_shapes() const { return entries_.size(); }
  static constexpr size_t kMaxCachedShapes = 16384;  // past this, a new shape builds its descriptors each call

  // The bucket of M for tune_bucket specs (its upper end): 16, 32 or 64 up to 64; M rounded up to a
  // multiple of 64 up to 1024; above, to a multiple of an eighth of the power of two below M (128 to
  // 2048, 256 to 4096, ...), so a bucket spans at most 12.5% of its M there. Buckets over 64 are
  // aligned to their width, so every M of one has the same number of row tiles for any tile height
  // dividing the width (64, 128, 256 rows up to 1024): the same grid and wave count, and the best
  // algorithm carries over; 34 buckets cover M up to 4096, so tuning them all stays cheap.
  static int MBucket(int M);
  // false: descriptors rebuilt on every call (MIXSERVE_LT_DESC_CACHE=0; the algorithm stays cached).
  void SetDescriptorCache(bool on) { cache_descs_ = on; }
  // A bucket takes its tuned choice only where it beat the heuristic's first by this fraction (default
  // 0.02; tests pass 0 to reach the reuse path more often).
  void SetBucketMinGain(float gain) { bucket_min_gain_ = gain; }
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
  struct Entry;  // a shape's descriptors and algorithm
  // g's descriptors (everything the key holds: shape, strides, types, transposition).
  Status BuildDescs(const GemmSpec& g, Descs* d) const;
  // The first `want` results of the heuristic for d (at least one, or an error).
  Status Heuristic(const GemmSpec& g, const Descs& d, int want, std::vector<cublasLtMatmulHeuristicResult_t>* out);
  // The algorithm for a shape not cached yet: tuned, the bucket's, or the heuristic's first.
  Status Choose(cudaStream_t stream, const GemmSpec& g, const Descs& d, void* workspace, cublasLtMatmulAlgo_t* algo);
  Status ChooseBucketed(cudaStream_t stream, const GemmSpec& g, const Descs& d, void* workspace, bool capturing,
                        cublasLtMatmulAlgo_t* algo);
  // The fastest of `candidates` (plus split-K variants of the first few when `with_split`) for g,
  // timed on scratch output with `workspace`; candidates[0] when timing fails, or for a `bucket`
  // when no candidate beats it by bucket_min_gain_. *kept_first: candidates[0] was returned.
  cublasLtMatmulAlgo_t Tune(cudaStream_t stream, const GemmSpec& g, const Descs& d,
                            const std::vector<cublasLtMatmulHeuristicResult_t>& candidates, bool with_split,
                            void* workspace, bool bucket, bool* kept_first);
  bool EnsureScratch(size_t bytes);

  cublasLtHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::vector<void*> lanes_;  // workspaces of lanes 1.. (index lane - 1)
  std::map<Key, std::unique_ptr<Entry>> entries_;        // by exact shape
  // Tuned choices by bucket (shape with M's bucket, no x/y strides); nullopt: the heuristic's first won.
  std::map<Key, std::optional<cublasLtMatmulAlgo_t>> bucket_algos_;
  int tune_ = 0;
  bool tune_window_ = false;
  bool tune_log_ = false;
  int tuned_shapes_ = 0;
  int tuned_buckets_ = 0;
  int bucket_reused_ = 0;
  int bucket_fallbacks_ = 0;
  int tune_budget_ = 256;    // shapes tuned at most (MIXSERVE_LT_TUNE_MAX): prefill meets many odd M
  int tune_ms_budget_ = 3000;  // wall time of tuning at most, per LtGemm (MIXSERVE_LT_TUNE_MS)
  int tune_max_m_ = 0;       // tune only shapes with M <= this (MIXSERVE_LT_TUNE_MAX_M; 0: any)
  double tune_ms_ = 0;       // wall time spent tuning so far
  double bucket_ms_ = 0;     // the part of it spent on buckets
  float bucket_min_gain_ = 0.02f;
  bool cache_descs_ = true;  // MIXSERVE_LT_DESC_CACHE
  void* scratch_ = nullptr;  // tuning's output (never the caller's y: accumulating calls read it)
  size_t scratch_bytes_ = 0;
  void* flush_ = nullptr;    // written between timed runs so weights come from memory, as in a step
  size_t flush_bytes_ = 0;
};

}  // namespace mixserve::cuda
