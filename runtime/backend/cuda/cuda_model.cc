#include "runtime/backend/cuda/cuda_model.h"

#include "runtime/backend/cuda/device_info.h"
#include "runtime/backend/cuda/env_switch.h"
#include "runtime/backend/cuda/kernel_timer.h"
#include "runtime/backend/cuda/moe_experts.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>

namespace mixserve::cuda {
namespace {

std::string GiB(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f GiB", bytes / (1 << 30));
  return buf;
}

}  // namespace

Result<std::unique_ptr<CudaModel>> CudaModel::Create(const CudaModelConfig& config, const std::string& model_dir,
                                                     const CudaModelOptions& options) {
  const cpu::ModelShape& s = config.shape;
  if (s.num_heads % s.num_kv_heads != 0 || s.head_dim % 8 != 0 || s.head_dim > 128 || 128 % s.head_dim != 0 ||
      s.hidden_size % 8 != 0 || s.intermediate_size % 8 != 0 || s.num_experts > 16) {
    return Status::InvalidArgument("model shape not supported by the CUDA backend (head_dim must divide 128, "
                                   "hidden and intermediate sizes be multiples of 8, at most 16 experts)");
  }
  if (std::string problem = NoGpuReason(); !problem.empty()) return Status::Unavailable(problem);
  std::unique_ptr<CudaModel> m(new CudaModel(config, options));
  if (Status st = m->Init(model_dir); !st.ok()) return st;
  return m;
}

CudaModel::~CudaModel() {
  if (KernelTimer* t = KernelTimer::Get()) t->Print();
  for (auto& [bucket, exec] : graphs_) cudaGraphExecDestroy(exec);
  for (void* p : allocations_) cudaFree(p);
  if (h_offsets_) cudaFreeHost(h_offsets_);
  if (h_argmax_) cudaFreeHost(h_argmax_);
  if (h_meta_) cudaFreeHost(h_meta_);
  if (stream_) cudaStreamDestroy(stream_);
}

Status CudaModel::Init(const std::string& model_dir) {
  cudaSetDevice(0);
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  SetProgrammaticLaunch(options_.programmatic_launch && prop.major >= 9);
  sms_ = prop.multiProcessorCount;
  if (prop.major < 8) {
    return Status::Unavailable(std::string("GPU ") + prop.name + " (compute capability " + std::to_string(prop.major) +
                               "." + std::to_string(prop.minor) + ") is too old: bf16 needs 8.0 or newer");
  }
  // Where the skinny kernels hand over to the thin kernel / the padded MoE: the caller's values, else
  // the defaults, which the environment may override for experiments (NOTES.md).
  if (options_.skinny_max_rows < 0) {
    options_.skinny_max_rows = EnvInt("MIXSERVE_SKINNY_MAX_ROWS", CudaModelOptions::kDefaultSkinnyMaxRows);
  }
  if (options_.skinny_max_pairs < 0) {
    options_.skinny_max_pairs = EnvInt("MIXSERVE_SKINNY_MAX_PAIRS", CudaModelOptions::kDefaultSkinnyMaxPairs);
  }
  if (options_.thin_max_rows < 0) {
    options_.thin_max_rows = std::min(EnvInt("MIXSERVE_THIN_MAX_ROWS", CudaModelOptions::kDefaultThinMaxRows),
                                      kThinGemmMaxRows);
  }
  if (options_.thin_grouped_min_rows < 0) {
    options_.thin_grouped_min_rows = EnvInt("MIXSERVE_THIN_GROUPED_MIN", options_.padded_max_rows + 1);
  }
  if (options_.thin_grouped_max_rows < 0) options_.thin_grouped_max_rows = EnvInt("MIXSERVE_THIN_GROUPED_MAX", 128);
  if (Status st = weights_.Allocate(config_); !st.ok()) return st;
  if (options_.random_weights) {
    if (Status st = weights_.FillRandom(options_.seed); !st.ok()) return st;
  } else {
    if (Status st = weights_.Load(model_dir, options_.load_threads, &load_gbps_); !st.ok()) return st;
  }
  if (Status st = lt_.Init(); !st.ok()) return st;
  if (cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking) != cudaSuccess) {
    return Status::Internal("cudaStreamCreate failed");
  }
  return AllocateScratch();
}

Status CudaModel::AllocateScratch() {
  const cpu::ModelShape& s = config_.shape;
  const int64_t R = options_.max_batch_tokens, H = s.hidden_size, I = s.intermediate_size, V = s.vocab_size;
  const int64_t k = std::max(s.experts_per_token, 1), E = std::max(s.num_experts, 1);
  const int64_t kv_bytes = options_.kv_f32 ? 4 : 2;
  const int64_t P = MoeScratchRows(R, E, k, options_.padded_max_rows), qkv_dim = (s.num_heads + 2 * s.num_kv_heads) * s.head_dim;
  const int64_t nhhd = static_cast<int64_t>(s.num_heads) * s.head_dim;
  const int64_t L = options_.max_logit_rows, S = options_.max_seqs + 1;
  const int bt = options_.kv_block_tokens;
  max_blocks_per_seq_ = (options_.max_model_len + bt - 1) / bt;
  partial_elems_ = std::max<int64_t>(R, 1024) * s.num_heads * (s.head_dim + 2);
  const int64_t skinny_pairs = std::min<int64_t>(options_.skinny_max_pairs, P);

  struct Want {
    void** ptr;
    int64_t bytes;
  };
  std::vector<Want> wants = {
      {reinterpret_cast<void**>(&d_tokens_), R * 4},         {reinterpret_cast<void**>(&d_pos_), R * 4},
      {reinterpret_cast<void**>(&d_slot_), R * 4},           {reinterpret_cast<void**>(&d_logit_rows_), L * 4},
      {reinterpret_cast<void**>(&d_block_tables_), S * max_blocks_per_seq_ * 4},
      {reinterpret_cast<void**>(&d_tiles_), R * static_cast<int64_t>(sizeof(AttnTile))},
      {reinterpret_cast<void**>(&x_), R * H * 4},            {reinterpret_cast<void**>(&xn_f_), R * H * 4},
      {reinterpret_cast<void**>(&xn_b_), R * H * 2},         {reinterpret_cast<void**>(&qkv_), R * qkv_dim * 4},
      {reinterpret_cast<void**>(&att_f_), R * nhhd * 4},     {reinterpret_cast<void**>(&att_b_), R * nhhd * 2},
      {reinterpret_cast<void**>(&partials_), partial_elems_ * 4},
      {reinterpret_cast<void**>(&topk_ids_), P * 4},         {reinterpret_cast<void**>(&topk_w_), P * 4},
      {reinterpret_cast<void**>(&sorted_w_), P * 4},
      {reinterpret_cast<void**>(&offsets_), (E + 1) * 4},    {reinterpret_cast<void**>(&sorted_pairs_), P * 4},
      {reinterpret_cast<void**>(&pos_of_pair_), P * 4},      {reinterpret_cast<void**>(&experts_touched_), s.num_layers * 4},
      {reinterpret_cast<void**>(&act_f_), skinny_pairs * I * 4},
      {reinterpret_cast<void**>(&moe_xs_), P * H * 2},       {reinterpret_cast<void**>(&moe_gu_), P * 2 * I * 2},
      {reinterpret_cast<void**>(&moe_act_b_), P * I * 2},    {reinterpret_cast<void**>(&moe_out_), P * H * 4},
      {reinterpret_cast<void**>(&logits_), L * V * 4},       {reinterpret_cast<void**>(&d_argmax_), L * 4},
      {reinterpret_cast<void**>(&x2_), 2 * H * 4},          {reinterpret_cast<void**>(&fused_counter_), 256},
  };
  if (options_.dense_prefill_min_tokens > 0 && !options_.kv_f32) {
    const int64_t chunk = std::min<int64_t>(std::max(1, options_.dense_prefill_chunk), R), kv_rows = R + 8;
    const int64_t nh = s.num_heads, nkv = s.num_kv_heads, hd = s.head_dim;
    wants.push_back({reinterpret_cast<void**>(&pf_q_), nh * chunk * hd * 2});
    wants.push_back({reinterpret_cast<void**>(&pf_k_), nkv * kv_rows * hd * 2});
    wants.push_back({reinterpret_cast<void**>(&pf_v_), nkv * kv_rows * hd * 2});
    wants.push_back({reinterpret_cast<void**>(&pf_s_), nh * chunk * kv_rows * 4});
    wants.push_back({reinterpret_cast<void**>(&pf_p_), nh * chunk * kv_rows * 2});
    wants.push_back({reinterpret_cast<void**>(&pf_o_), nh * chunk * hd * 4});
  }
  int64_t scratch = 0;
  for (const Want& w : wants) scratch += w.bytes;
  size_t free_bytes = 0, total_bytes = 0;
  cudaMemGetInfo(&free_bytes, &total_bytes);
  const int64_t block_bytes = static_cast<int64_t>(s.num_layers) * bt * s.num_kv_heads * s.head_dim * kv_bytes * 2;
  const int64_t min_blocks = max_blocks_per_seq_;
  const int64_t avail = static_cast<int64_t>(free_bytes) - scratch - (int64_t{256} << 20);
  if (options_.num_kv_blocks <= 0) {
    options_.num_kv_blocks = static_cast<int>(std::max<int64_t>(0, avail) * options_.kv_memory_fraction / block_bytes);
  }
  if (options_.num_kv_blocks < min_blocks || (options_.num_kv_blocks + 1) * block_bytes > avail) {
    const int64_t one_seq = (min_blocks + 1) * block_bytes;
    const std::string free_after = GiB(static_cast<double>(std::max<int64_t>(0, avail))) +
                                   " free for it after the weights and " + GiB(static_cast<double>(scratch)) +
                                   " of activations";
    if (one_seq > avail) {
      return Status::Unavailable("out of GPU memory for the KV cache: one sequence of --max-model-len " +
                                 std::to_string(options_.max_model_len) + " tokens needs " +
                                 GiB(static_cast<double>(one_seq)) + ", " + free_after +
                                 " (lower --max-model-len or --layers, or use a larger GPU)");
    }
    if (options_.num_kv_blocks < min_blocks) {
      return Status::InvalidArgument("the KV cache of " + std::to_string(options_.num_kv_blocks) + " blocks (" +
                                     std::to_string(int64_t{options_.num_kv_blocks} * bt) +
                                     " tokens) cannot hold one sequence of --max-model-len " +
                                     std::to_string(options_.max_model_len) + " tokens (" +
                                     GiB(static_cast<double>(one_seq)) + "): raise --kv-cache-memory or lower --max-model-len");
    }
    return Status::Unavailable("out of GPU memory for the KV cache: " + std::to_string(options_.num_kv_blocks) +
                               " blocks need " +
                               GiB(static_cast<double>((int64_t{options_.num_kv_blocks} + 1) * block_bytes)) + ", " +
                               free_after + " (lower --kv-cache-memory)");
  }
  scratch_block_ = options_.num_kv_blocks;
  layer_cache_elems_ = static_cast<int64_t>(options_.num_kv_blocks + 1) * bt * s.num_kv_heads * s.head_dim;
  wants.push_back({reinterpret_cast<void**>(&k_cache_), layer_cache_elems_ * s.num_layers * kv_bytes});
  wants.push_back({reinterpret_cast<void**>(&v_cache_), layer_cache_elems_ * s.num_layers * kv_bytes});
  for (const Want& w : wants) {
    void* p = nullptr;
    if (cudaMalloc(&p, std::max<int64_t>(w.bytes, 256)) != cudaSuccess) {
      cudaGetLastError();
      return Status::Unavailable("out of GPU memory allocating " + GiB(static_cast<double>(w.bytes)) + " of scratch");
    }
    allocations_.push_back(p);
    *w.ptr = p;
  }
  cudaMemset(experts_touched_, 0, s.num_layers * 4);
  cudaMemset(fused_counter_, 0, 256);
  if (pf_k_) {  // rows past a prompt's end are read (times zero) by P.V: keep them finite
    cudaMemset(pf_k_, 0, static_cast<int64_t>(s.num_kv_heads) * (R + 8) * s.head_dim * 2);
    cudaMemset(pf_v_, 0, static_cast<int64_t>(s.num_kv_heads) * (R + 8) * s.head_dim * 2);
  }
  cudaMemset(k_cache_, 0, layer_cache_elems_ * s.num_layers * kv_bytes);
  cudaMemset(v_cache_, 0, layer_cache_elems_ * s.num_layers * kv_bytes);
  const int64_t meta = 3 * R + L + S * max_blocks_per_seq_ + R * 3;
  if (cudaHostAlloc(reinterpret_cast<void**>(&h_offsets_), (E + 1) * 4, cudaHostAllocDefault) != cudaSuccess ||
      cudaHostAlloc(reinterpret_cast<void**>(&h_argmax_), L * 4, cudaHostAllocDefault) != cudaSuccess ||
      cudaHostAlloc(reinterpret_cast<void**>(&h_meta_), meta * 4, cudaHostAllocDefault) != cudaSuccess) {
    return Status::Unavailable("cannot allocate pinned host memory");
  }
  cudaError_t err = cudaDeviceSynchronize();
  if (err != cudaSuccess) return Status::Internal(std::string("scratch setup: ") + cudaGetErrorString(err));
  return Status::Ok();
}

Result<int64_t> CudaModel::ExpertsTouched() {
  std::vector<int32_t> v(config_.shape.num_layers);
  cudaError_t err = cudaMemcpy(v.data(), experts_touched_, v.size() * 4, cudaMemcpyDeviceToHost);
  if (err != cudaSuccess) return Status::Internal(std::string("experts touched: ") + cudaGetErrorString(err));
  int64_t total = 0;
  for (int32_t n : v) total += n;
  return total;
}

Status CudaModel::ResetExpertsTouched() {
  cudaError_t err = cudaMemset(experts_touched_, 0, config_.shape.num_layers * 4);
  if (err != cudaSuccess) return Status::Internal(std::string("reset: ") + cudaGetErrorString(err));
  return Status::Ok();
}

}  // namespace mixserve::cuda
