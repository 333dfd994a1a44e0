// The expert half of CudaModel's MoE layer, after the router has grouped the (token, expert) pairs:
// rows gathered per expert, then the gate/up GEMM, SiLU * up, and the down GEMM on cuBLASLt, in the
// padded layout (every expert over the same S rows: no host sync, so graph-safe) or the grouped one
// (compact rows, counts read back to the host). Kept apart from CudaModel so tests can run each path
// on hand-made routings (uneven counts, empty experts) against a plain loop.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "runtime/backend/cuda/kernels.h"
#include "runtime/backend/cuda/lt_gemm.h"
#include "runtime/base/status.h"

namespace mixserve::cuda {

// One layer's experts and the MoE scratch. Row r of out holds the down projection of the pair whose
// pos_of_pair is r (the combine in LaunchResidualNorm reads it there).
struct MoeExperts {
  const bf16* w13 = nullptr;  // (E, 2I, H): gate rows then up rows
  const bf16* w2 = nullptr;   // (E, H, I)
  int E = 0, H = 0, I = 0, k = 1;
  const bf16* xn = nullptr;             // (tokens, H) normed input
  const int32_t* topk_ids = nullptr;    // (pairs) expert of pair t * k + j
  const int32_t* offsets = nullptr;     // (E + 1) compact prefix sums of the counts
  const int32_t* sorted_pairs = nullptr;
  int32_t* pos_of_pair = nullptr;       // (pairs)
  bf16* xs = nullptr;                   // (max_rows, H)
  bf16* gu = nullptr;                   // (max_rows, 2I)
  bf16* act = nullptr;                  // (max_rows, I)
  float* out = nullptr;                 // (max_rows, H)
  int64_t max_rows = 0;
};

// Side streams for running the experts' GEMMs of the grouped path at the same time (grouped modes
// 2 and 3): created at first use, one per expert, with an event each to join back.
class MoeLanes {
 public:
  MoeLanes() = default;
  MoeLanes(const MoeLanes&) = delete;
  MoeLanes& operator=(const MoeLanes&) = delete;
  ~MoeLanes();

  Status Ensure(int n);  // at least n lanes
  cudaStream_t stream(int i) const { return streams_[i]; }
  cudaEvent_t done(int i) const { return done_[i]; }
  cudaEvent_t fork() const { return fork_; }

 private:
  std::vector<cudaStream_t> streams_;
  std::vector<cudaEvent_t> done_;
  cudaEvent_t fork_ = nullptr;
};

// Environment switches, read once (defaults from the H200 round-1 measurements):
//   MIXSERVE_MOE_BATCHED=1   padded path: one strided-batched GEMM per projection instead of E GEMMs
//                            (default; bs64 2,415 tok/s vs 2,081); 0: E GEMMs.
//   MIXSERVE_MOE_PREFILL=0   grouped path: one GEMM per expert over its compact rows, in stream order
//                            (default: round 2 on H200, 1k 58.56 ms, 4k 233.5 vs 247.1 for mode 3);
//                        =1  pad every group to the largest count (rounded up to 32) and run the
//                            strided-batched GEMMs (falls back to the loop when it wastes much);
//                        =2  each expert's GEMMs and SiLU on its own stream (MoeLanes), joined after;
//                        =3  as 1, falling back to 2 (round 1: 1k 59.68 ms vs 60.01 for 0; round 2:
//                            59.4-63.2 ms vs 58.6, and 4k 247 ms vs 233.5);
//                        =4  as 1, falling back to 0.
//   MIXSERVE_MOE_PREFILL_PAD=P  modes 1, 3 and 4 take the padded layout only where the padding is at most
//                            P% of the pairs plus the rounding (default 33).
//   MIXSERVE_MOE_PADDED_MAX=N  the padded (graph-safe) path up to N rows instead of padded_max_rows.
//   MIXSERVE_LT_BUCKET=1     the grouped path's down GEMMs (K = I, M follows the routing) are tuned once
//                            per M bucket (GemmSpec::tune_bucket; the heuristic's first choice was 6-10%
//                            slower than a split-K variant on H200, timed alone); =2 the gate/up GEMMs
//                            too; =0 never. Default 0: on H200 (32 layers, 2026-11-27 06:33 UTC) 1 made
//                            the 1k prefill slower (60.4-60.7 ms vs 58.3-59.0) and the 4k one faster
//                            (230-234 vs 231-238). MIXSERVE_LT_TUNE=0 turns it off too.
struct MoeSwitches {
  bool batched = true;
  int prefill = 0;
  int prefill_pad_percent = 33;
  int padded_max_rows = 0;  // 0: CudaModelOptions::padded_max_rows
  int lt_bucket = 0;
  bool thin = false;  // MIXSERVE_THIN_MOE=1: the strided-batched expert GEMMs on the thin kernel (experiment)
};
const MoeSwitches& GetMoeSwitches();

// Compact layout on the grouped thin kernel (Hopper): gather the pairs' rows in expert order, then
// gate/up, SiLU * up and down over each expert's rows, the kernel reading the group sizes from
// m.offsets on the device: no host sync, so graph-safe. sms sizes the K split.
Status RunThinGroupedExperts(cudaStream_t stream, const MoeExperts& m, int pairs, int sms);

// Padded layout: sorted_pairs as the router writes it with pad_stride S (expert e's pairs at rows
// [e * S, e * S + count_e)); every expert runs over its S rows (rows past its count are zeros).
// batched: one strided-batched GEMM per projection; else one GEMM per expert.
Status RunPaddedExperts(LtGemm& lt, cudaStream_t stream, const MoeExperts& m, int S, bool batched);

// Grouped layout: sorted_pairs compact, `off` the offsets already on the host (E + 1).
// mode 0: one GEMM per non-empty expert over its rows, in stream order. mode 1: PrefillStride's
// padded layout and strided-batched GEMMs (pos_of_pair is moved to the padded rows), else mode 0.
// mode 2: as mode 0, but expert e runs on lanes->stream(e) (cuBLASLt workspace lane e + 1), forked
// from and joined back to `stream`. mode 3: mode 1, else mode 2. mode 4: mode 1, else mode 0.
// Modes 2 and 3 need lanes.
Status RunGroupedExperts(LtGemm& lt, cudaStream_t stream, const MoeExperts& m, const std::vector<int32_t>& off, int mode,
                         MoeLanes* lanes = nullptr);

// Rows of the MoE scratch (xs, gu, act, out, sorted_pairs, pos_of_pair) for steps of up to max_tokens
// tokens: every (token, expert) pair plus room to pad the groups in grouped mode 1 (an eighth and 32
// rows an expert), and at least E * min(padded_max_rows, max_tokens) for the padded path.
int64_t MoeScratchRows(int64_t max_tokens, int E, int k, int padded_max_rows);

// Rows per expert for grouped mode 1: the largest count rounded up to 32, or 0 where that layout
// does not fit max_rows or pads by more than pad_percent% of the pairs plus the rounding.
int PrefillStride(const std::vector<int32_t>& off, int64_t max_rows, int pad_percent = 33);

}  // namespace mixserve::cuda
