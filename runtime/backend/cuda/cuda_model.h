// CudaModel: the CUDA backend. Runs Mixtral (MoE) and Mistral (dense) on one GPU with bf16
// weights and fp32 accumulation, against the same Backend interface as the CPU oracle.
//
// Per layer: RMSNorm fused with the residual add (and the MoE combine), QKV projection, RoPE fused
// with the paged KV-cache write, paged flash-decoding attention, O projection accumulated into the
// residual, fused router, and the MoE: a skinny kernel that streams each selected expert's weights
// once for all its tokens (small batches), or expert-grouped cuBLASLt GEMMs (large batches).
// Decode steps whose batch fits a bucket (1, 2, 4, ... 64) replay a CUDA graph captured once.
#pragma once

#include <cuda_runtime_api.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/backend/backend.h"
#include "runtime/backend/cuda/cuda_weights.h"
#include "runtime/backend/cuda/lt_gemm.h"
#include "runtime/backend/cuda/model_config.h"
#include "runtime/backend/cuda/moe_experts.h"
#include "runtime/base/status.h"

namespace mixserve::cuda {

// How CudaModel sizes its KV cache and scratch, and which kernel path each batch size takes.
struct CudaModelOptions {
  // H200, 32 layers (session 15): the thin kernel for the dense projections of 3-16 rows and the padded
  // MoE from 9 pairs took bs4 204 -> 212, bs8 262 -> 329, bs16 557 -> 648 tok/s; cuBLASLt stays ahead
  // from 24 rows (bs24 976 vs 961, bs32 1,300 vs 1,282).
  static constexpr int kDefaultSkinnyMaxRows = 2;
  static constexpr int kDefaultSkinnyMaxPairs = 8;
  static constexpr int kDefaultThinMaxRows = 16;

  int kv_block_tokens = 16;
  int num_kv_blocks = 0;       // 0: what kv_memory_fraction of the free memory holds
  double kv_memory_fraction = 0.9;
  int max_model_len = 4096;    // positions one sequence may reach
  int max_batch_tokens = 4096; // rows (tokens) per forward step
  int max_seqs = 256;          // sequences per forward step
  int max_logit_rows = 512;    // logits rows per step
  bool use_graphs = true;
  // -1 (the default): kDefault* below, or the MIXSERVE_SKINNY_MAX_ROWS / _PAIRS / MIXSERVE_THIN_MAX_ROWS
  // environment switches where set (experiments); tests set explicit values.
  int skinny_max_rows = -1;    // dense projections use the skinny kernel up to this many rows
  int skinny_max_pairs = -1;   // the MoE uses it up to this many (token, expert) pairs
  int thin_max_rows = -1;      // above skinny_max_rows, up to this many (<= 64): the thin kernel (ThinGemmEnabled)
  int padded_max_rows = 64;    // above that, up to this many rows: per-expert GEMMs over padded rows
                               // (no host sync, so graphs); beyond: compact groups (host sync)
  // From thin_grouped_min_rows to thin_grouped_max_rows rows (and past the skinny MoE), ahead of the
  // padded path: the compact groups on the grouped thin kernel, which finds the group sizes on the
  // device (no host sync, so graphs; Hopper). -1: MIXSERVE_THIN_GROUPED_MIN / _MAX, by default
  // padded_max_rows + 1 to 128 (H200 bs128: 4,486.8 tok/s graphed vs 4,309.5 on per-expert cuBLASLt;
  // bs256 5,995 vs 7,694 and bs16-64 20-30% under the padded path, 2026-11-27, so not there).
  int thin_grouped_min_rows = -1;
  int thin_grouped_max_rows = -1;
  bool programmatic_launch = true;  // PDL between kernels (sm_90); off: plain stream order
  bool kv_f32 = false;         // fp32 KV cache (exactness for tests); bf16 otherwise
  // Prompts from position 0 at least this long use the tensor-core attention (DensePrefill); 0 keeps
  // the paged kernel. Off with kv_f32, and for prompts longer than a sliding window (NOTES.md).
  int dense_prefill_min_tokens = 64;
  int dense_prefill_chunk = 1024;     // query rows per score GEMM there
  int load_threads = 4;
  bool random_weights = false;
  uint64_t seed = 1;
};

class CudaModel : public Backend {
 public:
  // Loads `model_dir` (safetensors) or, with options.random_weights, fills random weights of
  // config's shape. Errors are one line: no GPU, a too-old driver, not enough memory (needed vs free).
  static Result<std::unique_ptr<CudaModel>> Create(const CudaModelConfig& config, const std::string& model_dir,
                                                   const CudaModelOptions& options);
  ~CudaModel() override;

  int vocab_size() const override { return config_.shape.vocab_size; }
  int kv_block_tokens() const override { return options_.kv_block_tokens; }
  int num_kv_blocks() const override { return options_.num_kv_blocks; }
  Status Forward(const ForwardBatch& batch, ForwardOutput* out) override;

  // Forward then greedy argmax on the GPU: one token per logits row, no logits copied out.
  Status ForwardGreedy(const ForwardBatch& batch, std::vector<int32_t>* next_tokens);

  const CudaModelConfig& config() const { return config_; }
  const DeviceWeights& weights() const { return weights_; }
  double load_gbps() const { return load_gbps_; }
  double last_host_ms() const { return last_host_ms_; }  // host time of the last step before it waited
  bool last_used_graph() const { return last_used_graph_; }
  cudaStream_t stream() const { return stream_; }
  // Distinct experts used, summed over layers and steps since the last reset.
  Result<int64_t> ExpertsTouched();
  Status ResetExpertsTouched();

 private:
  struct Plan;  // one step's host-side metadata (cuda_forward.cc)
  struct Dims {
    int rows = 0, logit_rows = 0, n_tiles = 0, tile_rows = 1, splits = 1;
    bool decode_only = false;  // every sequence brings one token (attention's old_keys_early)
    int max_span = 0;          // the longest key range of any attention tile (AttnArgs::max_span)
    std::vector<std::pair<int, int>> dense;  // (first row, tokens) of prompts for DensePrefill
  };

  CudaModel(CudaModelConfig config, CudaModelOptions options) : config_(std::move(config)), options_(options) {}
  Status Init(const std::string& model_dir);
  Status AllocateScratch();
  Status Validate(const ForwardBatch& batch, int* rows, int* logit_rows) const;
  Status BuildPlan(const ForwardBatch& batch, int pad_rows, Plan* plan, Dims* dims) const;
  Status Upload(const Plan& plan);
  Status RunForward(const Dims& d);
  Status Project(const char* what, int rows, const bf16* w, int N, int K, const float* xf, const bf16* xb, float* y,
                 int ldy, bool acc);
  // The router, then the experts. With `unnormed` (the residual rows before the post-attention norm,
  // which the fused O kernel then skipped) the router norms them into xn_f_ / xn_b_ first.
  Status RunMoe(int layer, int rows, const float* unnormed = nullptr);
  // The experts after routing, skinny GEMMs (no router); without gate_up only the down projection.
  Status RunSkinnyExperts(int layer, int rows, bool gate_up = true);
  Status DensePrefill(int row0, int T, float* out_f, bf16* out_b);
  bool Padded(int rows) const;  // the padded-groups MoE path for this many rows
  bool ThinGrouped(int rows) const;  // the grouped thin kernel's MoE path for this many rows
  // Whether the MoE of `rows` rows (after the norm-router O kernel) runs on the routed gate/up kernel.
  bool Routed(int rows) const;
  int PaddedStride(int rows) const;
  Status Run(const ForwardBatch& batch, bool greedy);

  CudaModelConfig config_;
  CudaModelOptions options_;
  DeviceWeights weights_;
  LtGemm lt_;
  MoeLanes moe_lanes_;  // side streams of the grouped MoE's mode 2/3 (MIXSERVE_MOE_PREFILL)
  cudaStream_t stream_ = nullptr;
  double load_gbps_ = 0;
  double last_host_ms_ = 0;
  bool last_used_graph_ = false;
  int sms_ = 0;
  int max_blocks_per_seq_ = 0;
  int scratch_block_ = 0;  // KV block written by graph padding rows

  // Device memory: KV cache and scratch.
  std::vector<void*> allocations_;
  char* k_cache_ = nullptr;  // (layers, blocks + 1, block_tokens, nkv, hd) of bf16 or fp32
  char* v_cache_ = nullptr;
  int64_t layer_cache_elems_ = 0;
  int32_t* d_tokens_ = nullptr;
  int32_t* d_pos_ = nullptr;
  int32_t* d_slot_ = nullptr;
  int32_t* d_logit_rows_ = nullptr;
  int32_t* d_block_tables_ = nullptr;
  AttnTile* d_tiles_ = nullptr;
  float* x_ = nullptr;
  float* x2_ = nullptr;            // (2, H): the fused decode path's second residual (ping-pong)
  int* fused_counter_ = nullptr;  // FusedOutNorm's last-block counter (kept 0 between launches)
  float* xn_f_ = nullptr;
  bf16* xn_b_ = nullptr;
  float* qkv_ = nullptr;
  float* att_f_ = nullptr;
  bf16* att_b_ = nullptr;
  float* partials_ = nullptr;
  int64_t partial_elems_ = 0;
  int32_t* topk_ids_ = nullptr;
  float* topk_w_ = nullptr;
  float* sorted_w_ = nullptr;            // batch 1 on the routed gate/up kernel: weights in expert order
  int32_t* offsets_ = nullptr;
  int32_t* sorted_pairs_ = nullptr;
  int32_t* pos_of_pair_ = nullptr;
  int32_t* experts_touched_ = nullptr;  // (layers,)
  float* act_f_ = nullptr;              // (skinny_max_pairs, I)
  bf16* moe_xs_ = nullptr;              // (pairs, H)
  bf16* moe_gu_ = nullptr;              // (pairs, 2I)
  bf16* moe_act_b_ = nullptr;           // (pairs, I)
  float* moe_out_ = nullptr;            // (pairs, H)
  float* logits_ = nullptr;             // (max_logit_rows, V)
  int32_t* d_argmax_ = nullptr;
  int32_t* h_offsets_ = nullptr;        // pinned (E + 1)
  int32_t* h_argmax_ = nullptr;         // pinned (max_logit_rows)
  int32_t* h_meta_ = nullptr;           // pinned staging for Upload
  bf16* pf_q_ = nullptr;                // DensePrefill: (nh, chunk, hd)
  bf16* pf_k_ = nullptr;                // (nkv, max_batch_tokens + 8, hd)
  bf16* pf_v_ = nullptr;
  float* pf_s_ = nullptr;               // (nh, chunk, max_batch_tokens + 8)
  bf16* pf_p_ = nullptr;
  float* pf_o_ = nullptr;               // (nh, chunk, hd)

  std::map<int, cudaGraphExec_t> graphs_;  // 2 * decode bucket + (attention's cluster merge) -> graph
};

}  // namespace mixserve::cuda
