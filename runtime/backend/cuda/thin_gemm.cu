// Thin GEMM: y (M, N) (+)= x (M, K) . W (N, K)^T for a few dozen activation rows (M <= 64), on
// tensor cores. At these M cuBLASLt's tiles leave most SMs idle for the attention projections
// (N = 4,096-6,144: a few dozen output tiles), so a batch-64 step streamed W_qkv well below the copy
// bandwidth. Here a CTA owns 128 weight rows and one K slice:
// - W goes from global memory straight into mma B fragments: the k order inside each 32-column
//   block is permuted (the same way for x), so every lane's fragments are one 16-byte load per
//   weight row and block; 2-3 64-column stages are in flight, the first issued before the PDL wait.
// - x (re-read by every column tile, so from L2) goes through a cp.async ring in shared memory.
// - mma.sync m16n8k16, bf16 in, fp32 accumulate; each warp owns 32 weight rows and all M rows.
// - Split K: the S CTAs of a column tile form a thread-block cluster and add their fp32 tiles in
//   slice order over distributed shared memory (deterministic, no global workspace).
#include <algorithm>
#include <atomic>

#include "runtime/backend/cuda/common.cuh"
#include "runtime/backend/cuda/env_switch.h"
#include "runtime/backend/cuda/kernels.h"
#include "runtime/backend/cuda/thin_gemm.cuh"

namespace mixserve::cuda {
namespace {

using namespace thin;  // tile sizes, the swizzle, cp.async and the stores shared by both thin kernels

constexpr int kWarpN = 32;     // per warp: 4 n8 tiles
constexpr int kStages = 4;     // x ring depth
constexpr int kStageX = kMaxM * kKC;               // bf16 elements of one x stage
constexpr int kRingBytes = kStages * kStageX * 2;  // 32 KiB
constexpr int kSmemBytes = kRingBytes > kPartBytes ? kRingBytes : kPartBytes;

// c (16x8 fp32) += a (16x16 bf16) . b (16x8 bf16).
__device__ __forceinline__ void Mma16816(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                         uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// The k permutation: in each 32-column block, lane quad q (= lane % 4) holds columns 8q..8q+7 of its
// row as one uint4 {c0c1, c2c3, c4c5, c6c7}. The mma's logical k16 step s (0, 1) of the block takes
// the pairs (.x, .y) for s = 0 and (.z, .w) for s = 1 as its (k, k+8) halves, for A and B alike, so
// every column is multiplied with its own column exactly once.
//
// Grid (column tiles, K slices, batch); with slices > 1 the launch makes clusters of (1, slices, 1).
// MT: 16-row tiles of x (M <= 16 * MT). kDepth stages of W are in flight per warp: 4 where the
// accumulators leave room (MT == 1: 3), else 2.
template <int MT, typename OutT>
__global__ void __launch_bounds__(kThreads, 3) ThinGemmKernel(ThinGemmArgs a) {
  constexpr int kDepth = MT == 1 ? 3 : 2;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  bf16* xs = reinterpret_cast<bf16*>(smem_raw);  // [kStages][kMaxM][kKC], swizzled
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, quad = lane & 3, row8 = lane >> 2;
  const int tile = blockIdx.x, slice = blockIdx.y, b = blockIdx.z;
  const int k_len = a.K / a.splits, k0 = slice * k_len, nk = k_len / kKC;
  const bf16* x = a.x + b * a.stride_x + k0;

  // This lane's 4 weight rows (one per n8 tile; rows past N repeat row N - 1, never stored).
  const bf16* wrow[4];
#pragma unroll
  for (int t = 0; t < 4; ++t) {
    const int n = min(tile * kBN + warp * kWarpN + t * 8 + row8, a.N - 1);
    wrow[t] = a.w + b * a.stride_w + static_cast<int64_t>(n) * a.ldw + k0 + quad * 8;
  }
  // W of one stage: [block 0..1][n8 tile 0..3]; kDepth stages in registers.
  uint4 wv[kDepth][2][4];
  auto load_w = [&](uint4 (&dst)[2][4], int kt) {
#pragma unroll
    for (int blk = 0; blk < 2; ++blk)
#pragma unroll
      for (int t = 0; t < 4; ++t) dst[blk][t] = LoadStreaming(reinterpret_cast<const uint4*>(wrow[t] + kt * kKC + blk * 32));
  };
  auto load_x = [&](int kt) {
    bf16* dst = xs + (kt % kStages) * kStageX;
#pragma unroll
    for (int i = 0; i < MT * 16 * 8 / kThreads; ++i) {
      const int c = tid + i * kThreads, r = c >> 3, ch = c & 7;
      const int m = min(r, a.M - 1);
      CpAsync(dst + Swz(r, ch), x + static_cast<int64_t>(m) * a.ldx + kt * kKC + ch * 8);
    }
  };

#pragma unroll
  for (int d = 0; d < kDepth; ++d) {
    if (d < nk) load_w(wv[d], d);
  }
  GridDepWait();
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < nk) load_x(s);
    CpAsyncCommit();
  }

  float acc[MT][4][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int t = 0; t < 4; ++t)
#pragma unroll
      for (int i = 0; i < 4; ++i) acc[mt][t][i] = 0.0f;

  // One stage: x from the ring, W from wv[buf]; then wv[buf] refills with stage kt + kDepth.
  auto stage = [&](int kt, uint4 (&w)[2][4]) {
    CpAsyncWait<kStages - 2>();
    __syncthreads();  // stage kt landed for every thread; stage kt - 1's slot is free again
    if (kt + kStages - 1 < nk) load_x(kt + kStages - 1);
    CpAsyncCommit();
    const bf16* xst = xs + (kt % kStages) * kStageX;
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
      for (int blk = 0; blk < 2; ++blk) {
        const int r = mt * 16 + row8, ch = blk * 4 + quad;
        const uint4 lo = *reinterpret_cast<const uint4*>(xst + Swz(r, ch));
        const uint4 hi = *reinterpret_cast<const uint4*>(xst + Swz(r + 8, ch));
#pragma unroll
        for (int t = 0; t < 4; ++t) {
          Mma16816(acc[mt][t], lo.x, hi.x, lo.y, hi.y, w[blk][t].x, w[blk][t].y);
          Mma16816(acc[mt][t], lo.z, hi.z, lo.w, hi.w, w[blk][t].z, w[blk][t].w);
        }
      }
    }
    if (kt + kDepth < nk) load_w(w, kt + kDepth);
  };
  for (int kt = 0; kt < nk; kt += kDepth) {
#pragma unroll
    for (int d = 0; d < kDepth; ++d) {
      if (kt + d < nk) stage(kt + d, wv[d]);
    }
  }
  CpAsyncWait<0>();

  // Thread's outputs: rows mt*16 + row8 (+8), columns warp*32 + t*8 + 2*quad (+1) of the tile.
  OutT* y = reinterpret_cast<OutT*>(a.y) + b * a.stride_y;
  const int n_base = tile * kBN;
  if (a.splits == 1) {
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int t = 0; t < 4; ++t)
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const int m = mt * 16 + row8 + (i >= 2 ? 8 : 0);
          const int n = n_base + warp * kWarpN + t * 8 + 2 * quad + (i & 1);
          if (m < a.M && n < a.N) Store(y + static_cast<int64_t>(m) * a.ldy + n, acc[mt][t][i], a.accumulate);
        }
    return;
  }
  // Split K: the partial tile to shared memory (the x ring is done), then the cluster's sum.
  __syncthreads();
  float* part = reinterpret_cast<float*>(smem_raw);
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int t = 0; t < 4; ++t)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int m = mt * 16 + row8 + h * 8, c = warp * kWarpN + t * 8 + 2 * quad;
        *reinterpret_cast<float2*>(part + m * kPartLd + c) = make_float2(acc[mt][t][2 * h], acc[mt][t][2 * h + 1]);
      }
  thin::ClusterSumStore(part, a, a.M, n_base, slice, y);
}
bool ClustersSupported() {
  static const bool ok = [] {
    int dev = 0, major = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    return major >= 9;
  }();
  return ok;
}

template <int MT, typename OutT>
cudaError_t LaunchMT(const ThinGemmArgs& a, cudaStream_t stream) {
  static const cudaError_t attr = cudaFuncSetAttribute(ThinGemmKernel<MT, OutT>,
                                                       cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes);
  if (attr != cudaSuccess) return attr;
  return thin::Launch(ThinGemmKernel<MT, OutT>, a, kSmemBytes, stream);
}

template <typename OutT>
cudaError_t LaunchOut(const ThinGemmArgs& a, cudaStream_t stream) {
  switch ((a.M + 15) / 16) {
    case 1: return LaunchMT<1, OutT>(a, stream);
    case 2: return LaunchMT<2, OutT>(a, stream);
    case 3: return LaunchMT<3, OutT>(a, stream);
    default: return LaunchMT<4, OutT>(a, stream);
  }
}

bool Aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

std::atomic<int> g_thin_mode{-1};

}  // namespace

bool ThinGroupedSupported() { return ClustersSupported(); }

void SetThinGemm(int on) { g_thin_mode.store(on == 0 || on == 1 ? on : -1); }

bool ThinGemmEnabled() {
  const int forced = g_thin_mode.load(std::memory_order_relaxed);
  if (forced >= 0) return forced == 1;
  static const bool on = EnvSwitch("MIXSERVE_THIN_GEMM", true);
  return on;
}

bool ThinGemmApplies(int M, int K, const void* x, int64_t ldx, const void* w, int64_t ldw) {
  return M >= 1 && M <= kMaxM && K > 0 && K % kKC == 0 && ldx % 8 == 0 && ldw % 8 == 0 && Aligned16(x) &&
         Aligned16(w);
}

int ThinGemmSplits(int N, int K, int batch, int sms) {
  // MIXSERVE_THIN_SPLITS=S (experiments): S slices wherever K allows it.
  static const int forced = EnvInt("MIXSERVE_THIN_SPLITS", 0);
  if ((forced == 1 || forced == 2 || forced == 4 || forced == 8) && K % (forced * kKC) == 0) return forced;
  const int64_t tiles = static_cast<int64_t>((N + kBN - 1) / kBN) * batch;
  const int64_t slots = static_cast<int64_t>(std::max(sms, 1)) * 3;  // resident CTAs (register-bound)
  int best = 1;
  for (int s : {2, 4, 8}) {
    // Split only while the tiles cannot fill the resident slots, and keep >= 4 stages a slice.
    if (tiles * (s / 2) >= slots || K % (s * kKC) != 0 || K / s < 4 * kKC) break;
    best = s;
  }
  return best;
}

cudaError_t LaunchThinGemm(const ThinGemmArgs& args, cudaStream_t stream) {
  ThinGemmArgs a = args;
  if (!ThinGemmApplies(a.group_offsets ? kMaxM : a.M, a.K, a.x, a.ldx, a.w, a.ldw) || a.N < 1 || a.batch < 1 ||
      (a.splits != 1 && a.splits != 2 && a.splits != 4 && a.splits != 8) || a.K % (a.splits * kKC) != 0) {
    return cudaErrorInvalidValue;
  }
  if (a.group_offsets != nullptr) {
    // Grouped rows: 64-row tiles, only on the wgmma kernel (Hopper).
    if (a.groups < 1 || !ClustersSupported()) return cudaErrorInvalidValue;
    return LaunchThinWgmma(a, stream);
  }
  if (!ClustersSupported()) a.splits = 1;  // before Hopper: no clusters, one slice
  else if (a.M > 16 && ThinWgmmaEnabled()) return LaunchThinWgmma(a, stream);
  return a.y_f32 ? LaunchOut<float>(a, stream) : LaunchOut<bf16>(a, stream);
}

}  // namespace mixserve::cuda
