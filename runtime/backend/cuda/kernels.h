// Launchers for the CUDA backend's kernels, one .cu file per op family.
//
// Every launcher enqueues its work on `stream` and returns the launch error (cudaSuccess when the
// launch was accepted). Tensors are row-major; `bf16` is __nv_bfloat16. Activations that feed the
// skinny (GEMV-like) kernels are fp32, so small batches keep fp32 activations end to end as the CPU
// oracle does; the cuBLASLt paths for large batches take bf16 copies of the same activations.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace mixserve::cuda {

using bf16 = __nv_bfloat16;

// Programmatic dependent launch for every kernel below (on by default; Hopper and newer).
void SetProgrammaticLaunch(bool on);
// The rows of the step being launched on this thread (MIXSERVE_PDL_EARLY=2 triggers early only in
// steps of 1-2 rows); CudaModel::RunForward sets it.
void SetStepRows(int rows);
// Multiprocessors of the device current at the first call (read once; 1 if it cannot be read): for
// launchers that size grids without a CudaModel.
int DeviceSms();

// ---- embed_norm.cu ----
// x[t, :] = embed[tokens[t], :] as fp32.
cudaError_t LaunchEmbed(float* x, const bf16* embed, const int32_t* tokens, int T, int H, cudaStream_t stream);

// For each output row i (src = rows ? rows[i] : i):
//   if moe_out: x[src] += sum_j topk_w[src*k+j] * moe_out[pos_of_pair[src*k+j], :]  (written back to x)
//   out_f[i] = out_b[i] = rmsnorm(x[src]) * weight
// out_f or out_b may be null.
cudaError_t LaunchResidualNorm(float* x, int n_rows, const int32_t* rows, int H, const float* moe_out,
                               const int32_t* pos_of_pair, const float* topk_w, int k, const float* weight, float eps,
                               float* out_f, bf16* out_b, cudaStream_t stream);

// ---- gemv.cu ----
// Skinny GEMM for few rows of activations, streaming each weight row once per group of 16 rows.
// Items [begin_e, end_e) of expert e (offsets[e], offsets[e+1]; or [0, n_items) when offsets is null)
// read activation row x_row(p) = gather ? gather[p] / gather_div : p and write output row p.
//   plain:   y[p, n] (+)= sum_k x[x_row(p), k] * W_e[n, k]             n < N
//   gate_up: y[p, j]   = silu(x . W_e[j]) * (x . W_e[N + j])            j < N (W_e has 2N rows)
struct SkinnyArgs {
  const bf16* w = nullptr;
  int64_t expert_stride = 0;  // elements between experts' matrices
  int num_experts = 1;
  const int32_t* offsets = nullptr;
  int max_items = 0;  // with offsets: an upper bound on all items (launches only that many experts' blocks)
  int max_per_expert = 0;  // with offsets: an upper bound on any expert's items (0: max_items)
  int n_items = 0;
  const int32_t* gather = nullptr;
  int gather_div = 1;
  const float* x = nullptr;
  int ldx = 0;
  float* y = nullptr;
  int ldy = 0;
  int N = 0, K = 0;
  bool gate_up = false;
  bool accumulate = false;
  bool early = false;  // set by the launchers: PDL early trigger
  bool wide = false;   // set by LaunchSkinnyGemm: 8 loads in flight per row for 1-2 rows (K >= 8192)
  int split = 0;       // set by LaunchSkinnyGemm: K slices per weight row, 0 = general kernel (MIXSERVE_DOWN_SPLIT)
  // Set by LaunchSkinnyGemm for the split kernel: expert lookup and first weight loads before the PDL
  // wait (the offsets must come from a kernel two launches back, as the router's do for the down
  // projection after the gate/up one; MIXSERVE_DOWN_PREFETCH=0 turns it off).
  bool prefetch = false;
};
cudaError_t LaunchSkinnyGemm(const SkinnyArgs& args, cudaStream_t stream);
// The plain product y (rows, N) (+)= x (rows, K) . W (N, K)^T: fp32 x rows K apart, y rows ldy apart.
inline SkinnyArgs SkinnyDense(int rows, int N, int K, const float* x, const bf16* w, float* y, int ldy, bool accumulate) {
  SkinnyArgs a;
  a.w = w;
  a.n_items = rows;
  a.x = x;
  a.ldx = K;
  a.y = y;
  a.ldy = ldy;
  a.N = N;
  a.K = K;
  a.accumulate = accumulate;
  return a;
}
// The routed experts' gate/up projection for `pairs` (token, slot) pairs in the router's expert order
// (offsets, sorted pair ids; a pair's token is its id / k): act (pairs, I) = SiLU(x . W1^T) * (x . W3^T),
// w13 holding each expert's [W1; W3] (2I x H). At most max_per_expert pairs go to one expert.
inline SkinnyArgs SkinnyExpertGateUp(const bf16* w13, int E, int H, int I, int k, int pairs, int max_per_expert,
                                     const int32_t* offsets, const int32_t* sorted_pairs, const float* x, float* act) {
  SkinnyArgs a;
  a.w = w13;
  a.expert_stride = static_cast<int64_t>(2) * I * H;
  a.num_experts = E;
  a.offsets = offsets;
  a.max_items = pairs;
  a.max_per_expert = max_per_expert;
  a.gather = sorted_pairs;
  a.gather_div = k;
  a.x = x;
  a.ldx = H;
  a.y = act;
  a.ldy = I;
  a.N = I;
  a.K = H;
  a.gate_up = true;
  return a;
}
// The routed experts' down projection over the gate/up output's rows (same order): out (pairs, H) =
// act . W2^T, w2 holding each expert's H x I matrix.
inline SkinnyArgs SkinnyExpertDown(const bf16* w2, int E, int H, int I, int pairs, int max_per_expert,
                                   const int32_t* offsets, const float* act, float* out) {
  SkinnyArgs a;
  a.w = w2;
  a.expert_stride = static_cast<int64_t>(H) * I;
  a.num_experts = E;
  a.offsets = offsets;
  a.max_items = pairs;
  a.max_per_expert = max_per_expert;
  a.x = act;
  a.ldx = I;
  a.y = out;
  a.ldy = H;
  a.N = H;
  a.K = I;
  return a;
}
// Plain projections with K >= 8192 and at most 2 rows per weight row (the batch-1/2 MoE down
// projection): 0 = the general kernel; 1, 2 or 4 = a dedicated kernel (64 registers) with that many
// K slices per weight row, summed in slice order in the block (deterministic). -1 = the
// MIXSERVE_DOWN_SPLIT environment switch (default 4); tests set it.
void SetSkinnySplit(int split);

// ---- thin_gemm.cu ----
// y_b (M, N) (+)= x_b (M, K) . W_b (N, K)^T for b < batch (strided), M <= 64, on tensor cores: each CTA
// streams 128 weight rows of one K slice once (straight into registers, the first stages before the
// PDL wait) and multiplies them with all M rows of x. With splits > 1 (Hopper and newer; 1 before)
// the slices of a column tile form a thread-block cluster and add their fp32 partial tiles in slice
// order through distributed shared memory: deterministic, no workspace.
struct ThinGemmArgs {
  int M = 0, N = 0, K = 0, batch = 1;
  const bf16* x = nullptr;
  int64_t ldx = 0, stride_x = 0;
  const bf16* w = nullptr;
  int64_t ldw = 0, stride_w = 0;
  void* y = nullptr;  // fp32 when y_f32, else bf16
  bool y_f32 = true;
  int64_t ldy = 0, stride_y = 0;
  bool accumulate = false;
  int splits = 1;  // 1, 2, 4 or 8; K % (64 * splits) == 0
  // Grouped rows (Hopper only): group g (< groups) owns rows [group_offsets[g], group_offsets[g + 1]) of x
  // and y (ldx / ldy apart; stride_x / stride_y unused) and the weights at w + g * stride_w. The offsets
  // live on the device (written by an earlier kernel, read after the PDL wait), so no host sync; batch is
  // then an upper bound on the number of 64-row tiles, ThinGroupedTiles(), and M is not used.
  const int32_t* group_offsets = nullptr;
  int groups = 0;
};
cudaError_t LaunchThinGemm(const ThinGemmArgs& args, cudaStream_t stream);
// Whether this GPU runs grouped rows (Hopper: the wgmma kernel).
bool ThinGroupedSupported();
// The most 64-row tiles `rows` rows split into `groups` groups can take: the grid depth of a grouped launch.
inline int ThinGroupedTiles(int rows, int groups) { return rows / 64 + groups; }
// The plain product y (M, N) (+)= x (M, K) . W (N, K)^T: contiguous x and W rows, fp32 y rows ldy apart.
inline ThinGemmArgs ThinDense(int M, int N, int K, const bf16* x, const bf16* w, float* y, int64_t ldy,
                              bool accumulate, int splits) {
  ThinGemmArgs a;
  a.M = M;
  a.N = N;
  a.K = K;
  a.x = x;
  a.ldx = K;
  a.w = w;
  a.ldw = K;
  a.y = y;
  a.ldy = ldy;
  a.accumulate = accumulate;
  a.splits = splits;
  return a;
}
// The same product on Hopper's warpgroup MMA (thin_wgmma.cu: both operands through a shared-memory
// ring, the 64 x 128 accumulator tile in registers); LaunchThinGemm uses it for M > 16 on sm_90 when
// ThinWgmmaEnabled (MIXSERVE_THIN_WGMMA=1, default off; SetThinWgmma(0 / 1) for tests, -1: the switch).
cudaError_t LaunchThinWgmma(const ThinGemmArgs& args, cudaStream_t stream);
bool ThinWgmmaEnabled();
void SetThinWgmma(int on);
// Whether the thin kernel takes this operand shape: 1 <= M <= 64, K % 64 == 0, 16-byte aligned rows.
bool ThinGemmApplies(int M, int K, const void* x, int64_t ldx, const void* w, int64_t ldw);
// The K split for N x K weights (batch matrices) on `sms` SMs: 1, 2, 4 or 8, doubling while the
// column tiles cannot fill the resident CTA slots and each slice keeps at least 256 columns.
int ThinGemmSplits(int N, int K, int batch, int sms);
constexpr int kThinGemmMaxRows = 64;
// Whether CudaModel gives the dense projections (QKV, O, lm_head) of more than skinny_max_rows and at
// most thin_max_rows rows to the thin kernel (else to cuBLASLt). SetThinGemm(1 / 0) forces it on / off
// for tests; -1 goes back to the MIXSERVE_THIN_GEMM environment switch (default on).
void SetThinGemm(int on);
bool ThinGemmEnabled();

// ---- rope_kv.cu ----
// qkv: (T, (nh + 2*nkv) * hd) fp32. Rotates q and k in place, then writes k and v to the paged
// caches (blocks, block_tokens, nkv, hd) at slot[t] (= block * block_tokens + offset). The caches
// hold bf16, or fp32 when kv_f32 (the exact mode the golden tests use).
cudaError_t LaunchRopeKv(float* qkv, const int32_t* pos, const int32_t* slot, int T, int nh, int nkv, int hd,
                         float theta, void* k_cache, void* v_cache, bool kv_f32, cudaStream_t stream);

// ---- decode_fused.cu ----
// Batch-1/2 decode fusions (rows <= 2, rows 0..rows-1 of every buffer).
// LaunchFusedQkv = LaunchResidualNorm (with the MoE combine when moe_out is set) + the QKV skinny GEMM
// + LaunchRopeKv in one kernel, except that the combined residual goes to x_out (x_in is only read):
//   x_out[t] = x_in[t] + sum_j topk_w[t*k+j] * moe_out[pos_of_pair[t*k+j]]
//   qkv[t]   = rope(W_qkv . rmsnorm(x_out[t]) * norm_w), k and v also to the paged caches at slot[t].
struct FusedQkvArgs {
  const float* x_in = nullptr;
  float* x_out = nullptr;
  const float* moe_out = nullptr;  // null: no combine (first layer)
  const int32_t* pos_of_pair = nullptr;
  const float* topk_w = nullptr;
  // rows == 1 only, instead of pos_of_pair and topk_w: the k weights in expert-sorted order, so the
  // combine reads moe_out rows 0..k-1 with no dependent load first (routed gate/up writes them).
  const float* sorted_w = nullptr;
  int k = 0;
  const float* norm_w = nullptr;
  float eps = 0;
  const bf16* w = nullptr;  // ((nh + 2*nkv) * hd, H)
  int rows = 0, H = 0, nh = 0, nkv = 0, hd = 0;
  float theta = 0;
  const int32_t* pos = nullptr;
  const int32_t* slot = nullptr;
  float* qkv = nullptr;  // (rows, (nh + 2*nkv) * hd)
  void* k_cache = nullptr;
  void* v_cache = nullptr;
  bool kv_f32 = false;
  bool early = false;     // set by the launcher
  bool prefetch = false;  // set by the launcher: first weight loads before the PDL wait
};
bool FusedQkvApplies(int rows, int H, int hd, int k);
cudaError_t LaunchFusedQkv(const FusedQkvArgs& args, cudaStream_t stream);
// Which fused QKV kernel LaunchFusedQkv uses: 1 = the normed input staged once per block in shared
// memory (rows * H * 4 <= 48 KiB, else 0), 0 = recomputed by every warp (MIXSERVE_GEMV_VARIANT's
// shapes), -1 = the MIXSERVE_QKV_SMEM environment switch (default 0). Tests compare both.
void SetFusedQkvSmem(int mode);
// x[t, :N] += att[t, :K] . W^T (W: (N, K)), then out[t] = rmsnorm(x[t]) * norm_w (out_f and/or out_b),
// the norm done by the grid's last block. counter: a device int that is 0 before the launch (left 0).
struct FusedOutNormArgs {
  const float* att = nullptr;
  int ld_att = 0;
  const bf16* w = nullptr;
  int rows = 0, N = 0, K = 0;
  float* x = nullptr;  // (rows, N)
  const float* norm_w = nullptr;
  float eps = 0;
  float* out_f = nullptr;
  bf16* out_b = nullptr;
  int* counter = nullptr;
  bool no_norm = false;  // x += W . att only: no counter, no last block (the norm runs in LaunchNormRouter)
  bool early = false;     // set by the launcher
  bool prefetch = false;  // set by the launcher
};
cudaError_t LaunchFusedOutNorm(const FusedOutNormArgs& args, cudaStream_t stream);
// Environment switches, read once: MIXSERVE_FUSED_QKV=0 / MIXSERVE_FUSED_ONORM=0 turn the fusions off
// (default on). MIXSERVE_GEMV_VARIANT=a|b|c picks the fused kernels' shape (see decode_fused.cu).
// MIXSERVE_PREFETCH=0: no weight loads before the PDL wait in the fused kernels, and no early
// trigger from the batch-1/2 MoE down projection (default on; see gemv.cu).
bool FusedQkvEnabled();
bool FusedOutNormEnabled();
bool DecodePrefetchEnabled();

// ---- attention.cu ----
// One attention tile: n_rows (<= kAttnTileRows) consecutive query rows of one sequence.
struct AttnTile {
  int32_t row_begin;
  int32_t n_rows;
  int32_t seq;
};
inline constexpr int kAttnTileRows = 4;
struct AttnArgs {
  const float* q = nullptr;  // row r's head h at q + r * ldq + h * hd
  int ldq = 0;
  const void* k_cache = nullptr;  // bf16, or fp32 when kv_f32
  const void* v_cache = nullptr;
  bool kv_f32 = false;
  const int32_t* block_tables = nullptr;  // (seqs, max_blocks)
  int max_blocks = 0;
  const int32_t* pos = nullptr;  // (rows,)
  const AttnTile* tiles = nullptr;
  int n_tiles = 0;
  int tile_rows = kAttnTileRows;  // most rows in any tile (1 for decode)
  int splits = 1;
  int nh = 0, nkv = 0, hd = 0, block_tokens = 0, window = 0;
  float* partials = nullptr;  // (rows, nh, splits, hd + 2)
  int n_rows = 0;
  float* out_f = nullptr;  // (rows, nh * hd)
  bf16* out_b = nullptr;
  bool early = false;  // set by the launcher: PDL early trigger
  int min_chunk = 0;  // v2: least keys per split (0: MIXSERVE_ATTN_SHAPE's, default 32)
  int max_active = 0;  // v2: most splits with keys (0: splits; the 256-thread shape uses 16)
  // v2: every tile is one row and its sequence's keys before that row's position were written by
  // earlier steps (a decode-only step), so the first round's K/V loads of those keys may go before
  // the PDL wait. Set by the caller; the launcher clears it under MIXSERVE_ATTN_KV_EARLY=0.
  bool old_keys_early = false;
  // v2, 256-thread shape: the merging block loads every split's values with the merge weights' inputs
  // (one L2 round trip). Set by the launcher (MIXSERVE_ATTN_MERGE_PRELOAD=0: after the weights).
  bool merge_preload = false;
  // The longest key range of any tile in this launch, as the host planned it (0: unknown). Picks the
  // cluster merge (DecodeAttentionClusters); a graph captured with it must be replayed only for steps
  // that pick the same.
  int max_span = 0;
  // 0: MIXSERVE_ATTN_V2 decides (default on); 1: split kernel + combine kernel; 2: the one-launch
  // decode kernel where it applies (tile_rows * nh / nkv <= 8, hd = 8 * 2^i <= 256), else 1.
  int version = 0;
};
// Flash-decoding over KV blocks: split-K partials, then a combine pass. GQA: query head h reads
// kv head h / (nh / nkv). Causal, with a sliding window when window > 0. With the v2 decode kernel
// `splits` is an upper bound: each split takes at least 32 keys (shorter contexts use fewer), and
// the last split block of each (tile, kv head) merges the partials (no second launch).
cudaError_t LaunchPagedAttention(const AttnArgs& args, cudaStream_t stream);
// ---- attention_decode.cu ----
// LaunchPagedAttention's one-launch decode kernel (tiles of at most 8 queries, MIXSERVE_ATTN_V2): whether
// it takes these arguments (nq = tile_rows * nh / nkv), and its launch (arguments already validated).
bool DecodeAttentionApplies(const AttnArgs& a, int nq);
cudaError_t LaunchDecodeAttention(const AttnArgs& a, int nq, cudaStream_t stream);
// The v2 decode kernel's shape for tests and experiments: `keys` (4 or 8) keys per lane group and round,
// `threads` (128 or 256 per block; 0: 256 for 1-2 tiles, else 128), at least `min_chunk` keys per
// split; keys <= 0 goes back to MIXSERVE_ATTN_SHAPE=KEYSxTHREADS[:MINCHUNK] (default 4 keys, auto, 32).
void SetDecodeAttentionShape(int keys, int threads, int min_chunk);
// The 256-thread kernel's split merge inside a thread-block cluster of 8 CTAs (at most 8 splits): 1 on
// (one or two tiles), 0 off, -1 the MIXSERVE_ATTN_CLUSTER environment switch (unset: one tile only).
void SetDecodeAttentionCluster(int mode);
// Whether LaunchPagedAttention merges the splits in a thread-block cluster for these tiles: by default
// one tile whose key span is at most 512 (8 splits of one 64-key round).
bool DecodeAttentionClusters(int n_tiles, int max_span);
// The split count for LaunchPagedAttention: enough blocks for ~2 waves over `sms` SMs, at most 32,
// bounded by the partials buffer (rows * nh * (hd + 2) floats per split, `partial_elems` in all).
// With graphs (fixed_for_graph) the context is unknown at capture, so max_span is ignored.
int PagedAttentionSplits(int sms, int n_tiles, int nkv, int max_span, bool fixed_for_graph, int64_t per_split,
                         int64_t partial_elems);

// ---- attention_prefill.cu ----
// Tensor-core prefill attention pieces (see cuda_forward.cc): pack rows [0, T) of k/v into kb/vb
// (nkv, kv_rows, hd) when pack_kv, and query rows [q0, q0+Tq) into qb (nkv, Tq*G, hd) (row (t-q0)*G+gi);
// softmax of scaled scores s (nkv, rows, Tk) into p with the causal/window mask of query q0+m/G;
// scatter o (nkv, rows, hd) to the attention output rows row0 + m/G.
cudaError_t LaunchPrefillPack(const float* qkv, int ldq, int nh, int nkv, int hd, int T, int q0, int Tq, bf16* qb,
                              bf16* kb, bf16* vb, bool pack_kv, int kv_rows, cudaStream_t stream);
cudaError_t LaunchMaskedSoftmax(const float* s, bf16* p, int rows, int Tk, int nkv, int G, int q0, int window,
                                cudaStream_t stream);
// The same, plus the remainder p - bf16(p) as bf16 written over s itself: for kv head g it is the
// (rows, Tk) matrix at reinterpret_cast<bf16*>(s) + 2 * g * rows * Tk with leading dimension 2 * Tk.
// P.V then takes two GEMMs (p, then the remainder with beta = 1): ~16-bit probabilities, which the
// tiny-mixtral-swa goldens need under a sliding window (bf16 P alone: logits max abs 0.40).
cudaError_t LaunchMaskedSoftmaxHiLo(float* s, bf16* p, int rows, int Tk, int nkv, int G, int q0, int window,
                                    cudaStream_t stream);
cudaError_t LaunchPrefillScatter(const float* o, int rows, int nkv, int G, int hd, int row0, float* out_f, bf16* out_b,
                                 cudaStream_t stream);

// ---- router.cu ----
// Router for T tokens: logits = xn (fp32) . router^T (bf16, (E, H)), softmax, top-k (ties to the
// lower index), renormalised: topk_ids/topk_w (T, k). When E == 1 (dense) every token gets expert
// 0 with weight 1. Then groups the T*k (token, slot) pairs by expert:
// offsets (E+1), sorted_pairs (T*k: pair ids t*k+j, grouped by expert), pos_of_pair (T*k), and
// adds the number of distinct experts used to *experts_touched when it is not null.
// With pad_stride > 0 the grouping is padded instead: expert e's pairs take rows
// [e * pad_stride, e * pad_stride + count_e) of sorted_pairs (offsets stay the compact prefix sums).
cudaError_t LaunchRouter(const float* xn, const bf16* router, int T, int H, int E, int k, int32_t* topk_ids,
                         float* topk_w, int32_t* offsets, int32_t* sorted_pairs, int32_t* pos_of_pair,
                         int32_t* experts_touched, int pad_stride, cudaStream_t stream);
// Which router LaunchRouter uses for T <= 64 (tests compare them in one binary): 0 = the
// MIXSERVE_ROUTER_V2 environment switch (default on), 1 = the one-block fused router, 2 = the GEMV
// split over blocks with the last block doing softmax / top-k / grouping, 3 = the two-kernel router.
void SetRouterVersion(int version);
// The kernel(s) LaunchRouter runs for T tokens. Default dispatch: kSplit up to MIXSERVE_ROUTER_V2_MAX
// tokens (16), else kTwoKernel; MIXSERVE_ROUTER_V2=0: the old dispatch (kFused up to 64 pairs).
enum class RouterKind { kSplit, kFused, kTwoKernel };
RouterKind ChooseRouter(int T, int H, int E, int k);
// The post-attention RMSNorm folded into the split router (batch-1/2 decode, MIXSERVE_NORM_ROUTER=1):
// rows x (T, H) are normed with g and eps into xn_f (and xn_b when non-null), then routed as
// LaunchRouter routes xn_f; the fused O kernel then skips its last-block norm (FusedOutNormArgs::no_norm).
// Applies when LaunchRouter would pick the split kernel and T <= 8.
bool NormRouterApplies(int T, int H, int E, int k);
bool NormRouterEnabled();
cudaError_t LaunchNormRouter(const float* x, const float* g, float eps, float* xn_f, bf16* xn_b, const bf16* router,
                             int T, int H, int E, int k, int32_t* topk_ids, float* topk_w, int32_t* offsets,
                             int32_t* sorted_pairs, int32_t* pos_of_pair, int32_t* expert_hits, int pad_stride,
                             cudaStream_t stream);

// ---- routed_gate_up.cu ----
// Batch-1/2 decode: the post-attention RMSNorm, the router and the selected experts' gate/up
// projection in one kernel (every block norms and routes the rows itself, so no router kernel and
// no grid-wide wait sit between the O projection and the expert stream). Outputs are those of
// LaunchNormRouter (without xn) then the skinny gate/up GEMM: the routing arrays and act, SiLU(gate)
// * up per (token, slot) pair in expert-sorted order.
struct RoutedGateUpArgs {
  const float* x = nullptr;       // (T, H) residual rows after the O projection, not normed
  const float* norm_w = nullptr;  // (H) post-attention norm weight
  float eps = 0;
  const bf16* router = nullptr;   // (E, H)
  const bf16* w13 = nullptr;      // E matrices (2I, H): gate rows, then up rows
  int T = 0, H = 0, I = 0, E = 0, k = 0;
  float* act = nullptr;           // (T * k, I)
  int32_t* topk_ids = nullptr;
  float* topk_w = nullptr;
  int32_t* offsets = nullptr;     // E + 1
  int32_t* sorted_pairs = nullptr;
  int32_t* pos_of_pair = nullptr;
  int32_t* expert_hits = nullptr;  // += experts with pairs (may be null)
  float* sorted_w = nullptr;       // T == 1: the k weights in expert-sorted order (may be null)
  int blocks = 0;                  // grid size; 0: RoutedGateUpBlocks(DeviceSms())
  bool early = false;              // set by the launcher
  bool norm_prefetch = true;       // set by the launcher: norm weight loaded before the PDL wait
  bool writer_first = false;       // set by the launcher: block 0 (not the last block) writes the routing
};
bool RoutedGateUpApplies(int T, int H, int I, int E, int k);
int RoutedGateUpMaxRows();        // MIXSERVE_ROUTED_GATE_UP (default 1: batch 1 only)
int RoutedGateUpBlocks(int sms);  // the grid for `sms` multiprocessors (MIXSERVE_ROUTED_BLOCKS_PER_SM)
cudaError_t LaunchRoutedGateUp(const RoutedGateUpArgs& args, cudaStream_t stream);

// ---- moe_grouped.cu ----
// out[p, :] = x[gather[p] / div, :] for p < n (bf16 rows of width H).
cudaError_t LaunchGatherRows(bf16* out, const bf16* x, const int32_t* gather, int div, int n, int H,
                             cudaStream_t stream);
// Padded layout (E * stride rows): row e * stride + i holds x[sorted_pairs[row] / div] when
// i < count_e (from offsets), else zeros.
cudaError_t LaunchGatherPadded(bf16* out, const bf16* x, const int32_t* sorted_pairs, const int32_t* offsets, int div,
                               int E, int stride, int H, cudaStream_t stream);
// The same padded layout from the compact grouping (sorted_pairs as the router writes it with
// pad_stride 0; stride >= every count_e): row e * stride + i holds x[sorted_pairs[offsets[e] + i] / div]
// when i < count_e, else zeros. Also moves pos_of_pair (n_pairs) from compact to padded rows, using
// topk_ids (n_pairs) for each pair's expert.
cudaError_t LaunchGatherPaddedCompact(bf16* out, int32_t* pos_of_pair, const int32_t* topk_ids, const bf16* x,
                                      const int32_t* sorted_pairs, const int32_t* offsets, int div, int n_pairs, int E,
                                      int stride, int H, cudaStream_t stream);
// act[p, j] = silu(gu[p, j]) * gu[p, I + j] for p < n, j < I (8 bf16 per load where I % 8 == 0 and
// both pointers are 16-byte aligned, unless MIXSERVE_MOE_SILU_VEC=0).
cudaError_t LaunchSiluMul(bf16* act, const bf16* gu, int n, int I, cudaStream_t stream);
// The same over the padded layout (E * stride rows), only for rows e * stride + i with i < count_e
// (from offsets); padding rows of act are left as they were. I % 8 == 0.
cudaError_t LaunchSiluMulPadded(bf16* act, const bf16* gu, const int32_t* offsets, int E, int stride, int I,
                                cudaStream_t stream);

// ---- sample.cu ----
// out[r] = argmax_v logits[r, v] (first index on ties).
cudaError_t LaunchArgmax(const float* logits, int rows, int V, int32_t* out, cudaStream_t stream);

// Per row r: greedy when temperature[r] <= 0 or top_k[r] == 1; else a draw from softmax(logits /
// temperature) restricted to the top_k[r] largest logits (0: all), then to the highest-probability
// ones whose mass reaches top_p[r] of that (1: all), using a uniform from hash(seeds[r]).
cudaError_t LaunchSample(const float* logits, int rows, int V, const float* temperature, const int32_t* top_k,
                         const float* top_p, const uint64_t* seeds, int32_t* out, cudaStream_t stream);

// ---- random_init.cu ----
// w[i] = bf16(std * normal-ish(hash(seed, i))) (sum of 4 uniforms, scaled to `std`).
cudaError_t LaunchRandomFill(bf16* w, int64_t n, uint64_t seed, float std, cudaStream_t stream);
// w[i] = value.
cudaError_t LaunchFillF32(float* w, int64_t n, float value, cudaStream_t stream);

}  // namespace mixserve::cuda
