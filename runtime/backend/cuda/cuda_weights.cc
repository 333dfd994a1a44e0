#include "runtime/backend/cuda/cuda_weights.h"

#include <cuda_runtime.h>

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "runtime/model/weights.h"

namespace mixserve::cuda {
namespace {

constexpr int64_t kAlign = 256;
constexpr size_t kStagingBytes = size_t{32} << 20;
// What must stay free beside the weights: the smallest KV cache and activations worth starting with.
constexpr int64_t kMinHeadroom = int64_t{1} << 30;

int64_t AlignUp(int64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

std::string GiB(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f GiB", static_cast<double>(bytes) / (1 << 30));
  return buf;
}

uint16_t F32ToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if (std::isnan(f)) return 0x7fc0;
  u += 0x7fff + ((u >> 16) & 1);
  return static_cast<uint16_t>(u >> 16);
}

// Sizes in elements of every tensor of the layout, in allocation order.
struct Sizes {
  int64_t qkv, wo, norm, router, w13, w2, embed, lm_head;
};

Sizes SizesOf(const CudaModelConfig& c) {
  const cpu::ModelShape& s = c.shape;
  const int64_t H = s.hidden_size, I = s.intermediate_size, hd = s.head_dim;
  const int64_t E = s.num_experts > 0 ? s.num_experts : 1;
  Sizes z;
  z.qkv = (s.num_heads + 2 * s.num_kv_heads) * hd * H;
  z.wo = H * s.num_heads * hd;
  z.norm = H;
  z.router = s.num_experts > 0 ? E * H : 0;
  z.w13 = E * 2 * I * H;
  z.w2 = E * H * I;
  z.embed = static_cast<int64_t>(s.vocab_size) * H;
  z.lm_head = c.tie_word_embeddings ? 0 : z.embed;
  return z;
}

// One host-to-device copy: `n` elements of `src` (any dtype) into bf16 or fp32 at `dst`.
struct CopyJob {
  const uint8_t* src;
  model::DType dtype;
  int64_t n;
  void* dst;
  bool dst_f32;
};

// Asks the kernel to start reading a mapped tensor from disk now (readahead of the whole range), so
// the page faults of the copy loop find its pages already on their way. MIXSERVE_LOAD_WILLNEED=0: off.
void AdviseWillNeed(const uint8_t* src, int64_t bytes) {
  static const bool on = [] {
    const char* env = std::getenv("MIXSERVE_LOAD_WILLNEED");
    return env == nullptr || std::string(env) != "0";
  }();
  if (!on || bytes <= 0) return;
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(src) / page * page;
  const uintptr_t end = reinterpret_cast<uintptr_t>(src) + static_cast<uintptr_t>(bytes);
  madvise(reinterpret_cast<void*>(begin), end - begin, MADV_WILLNEED);  // advice only: errors do not matter
}

}  // namespace

DeviceWeights::~DeviceWeights() {
  if (base_) cudaFree(base_);
}

int64_t DeviceWeights::BytesNeeded(const CudaModelConfig& c) {
  Sizes z = SizesOf(c);
  int64_t per_layer = AlignUp(z.qkv * 2) + AlignUp(z.wo * 2) + 2 * AlignUp(z.norm * 4) + AlignUp(z.router * 2) +
                      AlignUp(z.w13 * 2) + AlignUp(z.w2 * 2);
  return per_layer * c.shape.num_layers + AlignUp(z.embed * 2) + AlignUp(z.lm_head * 2) + AlignUp(z.norm * 4);
}

Status DeviceWeights::Allocate(const CudaModelConfig& c) {
  config_ = c;
  bytes_ = BytesNeeded(c);
  size_t free_bytes = 0, total_bytes = 0;
  cudaMemGetInfo(&free_bytes, &total_bytes);
  // Checked before asking: a failed cudaMalloc of most of the card says only "out of memory".
  const bool fits = bytes_ + kMinHeadroom <= static_cast<int64_t>(free_bytes);
  if (!fits || cudaMalloc(&base_, bytes_) != cudaSuccess) {
    cudaGetLastError();
    base_ = nullptr;
    return Status::Unavailable("out of GPU memory for the weights of " + c.name + " (" +
                               std::to_string(c.shape.num_layers) + " layers, bf16): they need " + GiB(bytes_) +
                               " plus " + GiB(kMinHeadroom) + " for the KV cache and activations, the GPU has " +
                               GiB(static_cast<int64_t>(free_bytes)) + " free of " +
                               GiB(static_cast<int64_t>(total_bytes)) + " (try --layers N or more GPUs)");
  }
  Sizes z = SizesOf(c);
  char* p = static_cast<char*>(base_);
  auto take = [&p](int64_t bytes) {
    char* r = bytes > 0 ? p : nullptr;
    p += AlignUp(bytes);
    return r;
  };
  embed_ = reinterpret_cast<bf16*>(take(z.embed * 2));
  lm_head_ = c.tie_word_embeddings ? embed_ : reinterpret_cast<bf16*>(take(z.lm_head * 2));
  final_norm_ = reinterpret_cast<float*>(take(z.norm * 4));
  layers_.resize(c.shape.num_layers);
  for (DeviceLayer& l : layers_) {
    l.wqkv = reinterpret_cast<bf16*>(take(z.qkv * 2));
    l.wo = reinterpret_cast<bf16*>(take(z.wo * 2));
    l.input_norm = reinterpret_cast<float*>(take(z.norm * 4));
    l.post_norm = reinterpret_cast<float*>(take(z.norm * 4));
    l.router = reinterpret_cast<bf16*>(take(z.router * 2));
    l.w13 = reinterpret_cast<bf16*>(take(z.w13 * 2));
    l.w2 = reinterpret_cast<bf16*>(take(z.w2 * 2));
  }
  return Status::Ok();
}

Status DeviceWeights::FillRandom(uint64_t seed) {
  Sizes z = SizesOf(config_);
  uint64_t n = seed * 1000003;
  auto fill = [&n](bf16* w, int64_t count) { return LaunchRandomFill(w, count, ++n, 0.02f, nullptr); };
  cudaError_t err = fill(embed_, z.embed);
  if (!config_.tie_word_embeddings && err == cudaSuccess) err = fill(lm_head_, z.lm_head);
  if (err == cudaSuccess) err = LaunchFillF32(final_norm_, z.norm, 1.0f, nullptr);
  for (DeviceLayer& l : layers_) {
    for (auto [w, count] : {std::pair{l.wqkv, z.qkv}, {l.wo, z.wo}, {l.router, z.router}, {l.w13, z.w13}, {l.w2, z.w2}}) {
      if (err == cudaSuccess && w) err = fill(w, count);
    }
    if (err == cudaSuccess) err = LaunchFillF32(l.input_norm, z.norm, 1.0f, nullptr);
    if (err == cudaSuccess) err = LaunchFillF32(l.post_norm, z.norm, 1.0f, nullptr);
  }
  if (err == cudaSuccess) err = cudaDeviceSynchronize();
  if (err != cudaSuccess) return Status::Internal(std::string("random weights: ") + cudaGetErrorString(err));
  return Status::Ok();
}

int64_t DeviceWeights::attention_bytes_per_layer() const {
  Sizes z = SizesOf(config_);
  return (z.qkv + z.wo + z.router) * 2 + 2 * z.norm * 4;
}
int64_t DeviceWeights::expert_bytes() const {
  const int64_t E = config_.shape.num_experts > 0 ? config_.shape.num_experts : 1;
  Sizes z = SizesOf(config_);
  return (z.w13 + z.w2) / E * 2;
}
int64_t DeviceWeights::lm_head_bytes() const { return SizesOf(config_).embed * 2; }

Status DeviceWeights::Load(const std::string& model_dir, int threads, double* gbps) {
  auto opened = model::ModelWeights::Open(model_dir);
  if (!opened.ok()) return opened.status();
  const model::ModelWeights& mw = *opened;
  const cpu::ModelShape& s = config_.shape;
  const int64_t H = s.hidden_size, I = s.intermediate_size, hd = s.head_dim, V = s.vocab_size;
  const int64_t q_dim = s.num_heads * hd, kv_dim = s.num_kv_heads * hd;
  std::vector<CopyJob> jobs;
  Status status;
  auto add = [&](const std::string& name, const std::vector<int64_t>& shape, void* dst, bool f32) {
    if (!status.ok()) return;
    auto view = mw.Expect(name, shape);
    if (!view.ok()) {
      status = view.status();
      return;
    }
    jobs.push_back({view->data, view->dtype, view->numel(), dst, f32});
  };
  add("model.embed_tokens.weight", {V, H}, embed_, false);
  add("model.norm.weight", {H}, final_norm_, true);
  if (!config_.tie_word_embeddings) add("lm_head.weight", {V, H}, lm_head_, false);
  for (int i = 0; i < s.num_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    const DeviceLayer& l = layers_[i];
    add(p + "input_layernorm.weight", {H}, l.input_norm, true);
    add(p + "post_attention_layernorm.weight", {H}, l.post_norm, true);
    add(p + "self_attn.q_proj.weight", {q_dim, H}, l.wqkv, false);
    add(p + "self_attn.k_proj.weight", {kv_dim, H}, l.wqkv + q_dim * H, false);
    add(p + "self_attn.v_proj.weight", {kv_dim, H}, l.wqkv + (q_dim + kv_dim) * H, false);
    add(p + "self_attn.o_proj.weight", {H, q_dim}, l.wo, false);
    if (s.num_experts > 0) {
      add(p + "block_sparse_moe.gate.weight", {s.num_experts, H}, l.router, false);
      for (int e = 0; e < s.num_experts; ++e) {
        const std::string q = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
        bf16* w13 = l.w13 + e * 2 * I * H;
        add(q + "w1.weight", {I, H}, w13, false);
        add(q + "w3.weight", {I, H}, w13 + I * H, false);
        add(q + "w2.weight", {H, I}, l.w2 + e * H * I, false);
      }
    } else {
      add(p + "mlp.gate_proj.weight", {I, H}, l.w13, false);
      add(p + "mlp.up_proj.weight", {I, H}, l.w13 + I * H, false);
      add(p + "mlp.down_proj.weight", {H, I}, l.w2, false);
    }
  }
  if (!status.ok()) return status.WithContext(model_dir);

  // Reader threads: each stages pieces of its jobs in two pinned buffers and copies them on its own
  // stream, so reading the next piece overlaps the previous copy.
  auto start = std::chrono::steady_clock::now();
  std::atomic<size_t> next{0};
  std::atomic<int64_t> moved{0};
  std::mutex err_mu;
  std::string error;
  auto worker = [&]() {
    void* pinned[2] = {nullptr, nullptr};
    cudaEvent_t done[2] = {nullptr, nullptr};
    cudaStream_t stream = nullptr;
    auto fail = [&](const std::string& what) {
      std::lock_guard<std::mutex> lock(err_mu);
      if (error.empty()) error = what;
    };
    bool ok = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess;
    for (int b = 0; ok && b < 2; ++b) {
      ok = cudaHostAlloc(&pinned[b], kStagingBytes, cudaHostAllocDefault) == cudaSuccess &&
           cudaEventCreateWithFlags(&done[b], cudaEventDisableTiming) == cudaSuccess;
    }
    if (!ok) fail("weights upload: cannot allocate pinned staging buffers");
    int buf = 0;
    std::vector<float> f32;
    for (size_t j = next++; ok && j < jobs.size(); j = next++) {
      const CopyJob& job = jobs[j];
      const size_t out_size = job.dst_f32 ? 4 : 2;
      AdviseWillNeed(job.src, job.n * static_cast<int64_t>(model::DTypeSize(job.dtype)));
      const int64_t per_piece = kStagingBytes / std::max<size_t>(out_size, model::DTypeSize(job.dtype)) / 4;
      for (int64_t off = 0; ok && off < job.n; off += per_piece) {
        const int64_t n = std::min(per_piece, job.n - off);
        cudaEventSynchronize(done[buf]);
        uint8_t* dst = static_cast<uint8_t*>(pinned[buf]);
        const uint8_t* src = job.src + off * model::DTypeSize(job.dtype);
        if (!job.dst_f32 && job.dtype == model::DType::kBF16) {
          std::memcpy(dst, src, n * 2);
        } else {
          f32.resize(n);
          model::ConvertToF32(job.dtype, {src, static_cast<size_t>(n) * model::DTypeSize(job.dtype)}, f32);
          if (job.dst_f32) {
            std::memcpy(dst, f32.data(), n * 4);
          } else {
            uint16_t* d16 = reinterpret_cast<uint16_t*>(dst);
            for (int64_t i = 0; i < n; ++i) d16[i] = F32ToBf16(f32[i]);
          }
        }
        ok = cudaMemcpyAsync(static_cast<uint8_t*>(job.dst) + off * out_size, dst, n * out_size,
                             cudaMemcpyHostToDevice, stream) == cudaSuccess &&
             cudaEventRecord(done[buf], stream) == cudaSuccess;
        if (!ok) fail("weights upload: host-to-device copy failed");
        moved += n * static_cast<int64_t>(out_size);
        buf ^= 1;
      }
    }
    if (stream) cudaStreamSynchronize(stream);
    for (int b = 0; b < 2; ++b) {
      if (pinned[b]) cudaFreeHost(pinned[b]);
      if (done[b]) cudaEventDestroy(done[b]);
    }
    if (stream) cudaStreamDestroy(stream);
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < std::max(1, threads); ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  if (!error.empty()) return Status::Internal(error);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (gbps) *gbps = secs > 0 ? static_cast<double>(moved.load()) / secs / 1e9 : 0.0;
  return Status::Ok();
}

}  // namespace mixserve::cuda
