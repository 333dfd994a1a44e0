// Embedding lookup and RMSNorm fused with the residual add (and the MoE combine).
#include <atomic>
#include <cstdlib>

#include "runtime/backend/cuda/common.cuh"
#include "runtime/backend/cuda/kernels.h"

namespace mixserve::cuda {

namespace {
std::atomic<bool> g_programmatic_launch{true};
}  // namespace

// MIXSERVE_NO_PDL=1 in the environment turns it off whatever the options say (for bisecting).
bool ProgrammaticLaunchEnabled() {
  static const bool env_off = std::getenv("MIXSERVE_NO_PDL") != nullptr;
  return !env_off && g_programmatic_launch.load(std::memory_order_relaxed);
}
void SetProgrammaticLaunch(bool on) { g_programmatic_launch.store(on); }

int DeviceSms() {
  static const int sms = [] {
    int device = 0, n = 0;
    if (cudaGetDevice(&device) != cudaSuccess || cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
      return 1;
    }
    return n;
  }();
  return sms;
}

// MIXSERVE_PDL_EARLY=1: every launch; =2 (default): the launches of steps of at most 2 rows (SetStepRows);
// =0: none. Every launch measured neutral at batch 1 and -1.9% at batch 64 on H100 (16 layers); on H200
// with the session-12 kernels, steps of 1-2 rows: bs1 +0.5% (142.5 / 142.8 vs 141.8 / 142.0 tok/s),
// bs64 and prefill unchanged.
namespace {
thread_local int g_step_rows = 0;
}  // namespace
void SetStepRows(int rows) { g_step_rows = rows; }
bool EarlyTriggerEnabled() {
  static const int mode = [] {
    const char* v = std::getenv("MIXSERVE_PDL_EARLY");
    return v == nullptr ? 2 : std::atoi(v);
  }();
  return mode == 1 || (mode == 2 && g_step_rows >= 1 && g_step_rows <= 2);
}

namespace {

__global__ void EmbedKernel(float* x, const bf16* embed, const int32_t* tokens, int H, bool early) {
  GridDepWait();
  GridDepLaunch(early);
  const int t = blockIdx.x;
  const bf16* src = embed + static_cast<int64_t>(tokens[t]) * H;
  float* dst = x + static_cast<int64_t>(t) * H;
  for (int c = threadIdx.x; c < H; c += blockDim.x) dst[c] = __bfloat162float(src[c]);
}

// One block per output row.
__global__ void ResidualNormKernel(float* x, const int32_t* rows, int H, const float* moe_out,
                                   const int32_t* pos_of_pair, const float* topk_w, int k, const float* weight,
                                   float eps, float* out_f, bf16* out_b, bool early) {
  GridDepWait();
  GridDepLaunch(early);
  __shared__ float scratch[32];
  const int i = blockIdx.x;
  const int src = rows ? rows[i] : i;
  float* xr = x + static_cast<int64_t>(src) * H;
  float ss = 0.0f;
  for (int c = threadIdx.x; c < H; c += blockDim.x) {
    float v = xr[c];
    if (moe_out) {
      for (int j = 0; j < k; ++j) {
        int pair = src * k + j;
        v += topk_w[pair] * moe_out[static_cast<int64_t>(pos_of_pair[pair]) * H + c];
      }
      xr[c] = v;
    }
    ss += v * v;
  }
  ss = BlockSum(ss, scratch);
  const float inv_rms = 1.0f / sqrtf(ss / H + eps);
  for (int c = threadIdx.x; c < H; c += blockDim.x) {
    float y = weight[c] * (xr[c] * inv_rms);
    if (out_f) out_f[static_cast<int64_t>(i) * H + c] = y;
    if (out_b) out_b[static_cast<int64_t>(i) * H + c] = __float2bfloat16(y);
  }
}

}  // namespace

cudaError_t LaunchEmbed(float* x, const bf16* embed, const int32_t* tokens, int T, int H, cudaStream_t stream) {
  if (T == 0) return cudaSuccess;
  LaunchKernel(EmbedKernel, dim3(T), dim3(256), 0, stream, x, embed, tokens, H, EarlyTriggerEnabled());
  return cudaGetLastError();
}

cudaError_t LaunchResidualNorm(float* x, int n_rows, const int32_t* rows, int H, const float* moe_out,
                               const int32_t* pos_of_pair, const float* topk_w, int k, const float* weight, float eps,
                               float* out_f, bf16* out_b, cudaStream_t stream) {
  if (n_rows == 0) return cudaSuccess;
  int threads = H >= 1024 ? 1024 : ((H + 31) / 32) * 32;
  LaunchKernel(ResidualNormKernel, dim3(n_rows), dim3(threads), 0, stream, x, rows, H, moe_out, pos_of_pair, topk_w, k, weight, eps, out_f,
               out_b, EarlyTriggerEnabled());
  return cudaGetLastError();
}

}  // namespace mixserve::cuda
