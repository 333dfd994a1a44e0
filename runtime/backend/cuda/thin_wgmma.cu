// Thin GEMM on Hopper's warpgroup MMA, for 17-64 activation rows: y (M, N) (+)= x (M, K) . W (N, K)^T.
// The mma.sync kernel (thin_gemm.cu) keeps W in registers, which caps its loads in flight once the
// accumulators of 64 rows take half the register file; here both operands stream through a
// shared-memory ring by cp.async (W 16 KiB and x 8 KiB a stage, 3 stages in flight) and
// wgmma.m64n128k16 reads them from there, with the 64 x 128 fp32 accumulator tile in registers
// (64 a thread). x rows past M repeat row M - 1 (their outputs are never stored). Split K as in
// thin_gemm.cu: the slices of a column tile form a cluster and add over distributed shared memory.
// Grouped rows (ThinGemmArgs::group_offsets, the MoE experts' compact rows): grid z walks the groups'
// 64-row tiles, each CTA finding its group on the device, so the host never reads the group sizes.
#include <atomic>

#include "runtime/backend/cuda/common.cuh"
#include "runtime/backend/cuda/env_switch.h"
#include "runtime/backend/cuda/kernels.h"
#include "runtime/backend/cuda/thin_gemm.cuh"

namespace mixserve::cuda {
namespace {

using namespace thin;  // tile sizes, the swizzle, cp.async and the stores shared by both thin kernels

constexpr int kStages = 4;
constexpr int kStageW = kBN * kKC * 2;    // bytes: 16 KiB
constexpr int kStageX = kMaxM * kKC * 2;  // bytes: 8 KiB
constexpr int kRingBytes = kStages * (kStageW + kStageX);
// + 1 KiB to align the ring to the 1,024-byte swizzle atom.
constexpr int kSmemBytes = (kRingBytes > kPartBytes ? kRingBytes : kPartBytes) + 1024;

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
// Shared-memory matrix descriptor of a K-major, 128-byte-swizzled operand tile at `addr` (1,024-byte
// aligned rows of 64 bf16, 8-row atoms 1,024 bytes apart), advanced by `k_bytes` along K.
__device__ __forceinline__ uint64_t Desc(uint32_t addr, uint32_t k_bytes) {
  const uint64_t start = ((addr + k_bytes) & 0x3FFFF) >> 4;
  const uint64_t lead = 16 >> 4;     // unused by swizzled K-major layouts
  const uint64_t stride = 1024 >> 4;  // next 8-row atom
  return start | (lead << 16) | (stride << 32) | (uint64_t{1} << 62);  // 1 << 62: 128-byte swizzle
}

// d (64 x 128 fp32, wgmma accumulator layout) += A (64 x 16, desc a) . B^T (128 x 16, desc b).
__device__ __forceinline__ void Wgmma64x128(float (&d)[64], uint64_t a, uint64_t b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
      "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,"
      "%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,"
      "%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]),
        "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]),
        "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]),
        "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]),
        "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]),
        "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]),
        "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]),
        "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(a), "l"(b), "r"(1));
}
#endif

template <typename OutT>
__global__ void __launch_bounds__(kThreads, 2) ThinWgmmaKernel(ThinGemmArgs a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  extern __shared__ unsigned char smem_raw[];
  unsigned char* ring = smem_raw + ((1024 - (SmemAddr(smem_raw) & 1023)) & 1023);
  bf16* ws = reinterpret_cast<bf16*>(ring);                            // [kStages][kBN][kKC]
  bf16* xs = reinterpret_cast<bf16*>(ring + kStages * kStageW);        // [kStages][kMaxM][kKC]
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int tile = blockIdx.x, slice = blockIdx.y, b = blockIdx.z;
  const int k_len = a.K / a.splits, k0 = slice * k_len, nk = k_len / kKC, n_base = tile * kBN;
  const bf16* w = a.w + b * a.stride_w + k0;
  const bf16* x = a.x + b * a.stride_x + k0;
  OutT* y = reinterpret_cast<OutT*>(a.y) + b * a.stride_y;
  int M = a.M;
  if (a.group_offsets != nullptr) {
    // Tile b of the groups' 64-row tiles, in group order. The offsets come from an earlier kernel, so
    // wait for it first. A cluster's CTAs share b: past the last tile the whole cluster leaves at once.
    GridDepWait();
    int g = 0, t = b, r0 = 0;
    for (; g < a.groups; ++g) {
      const int lo = a.group_offsets[g], hi = a.group_offsets[g + 1];
      const int tiles = (hi - lo + kMaxM - 1) / kMaxM;
      if (t < tiles) {
        r0 = lo + t * kMaxM;
        M = min(kMaxM, hi - r0);
        break;
      }
      t -= tiles;
    }
    if (g == a.groups) return;
    w = a.w + g * a.stride_w + k0;
    x = a.x + static_cast<int64_t>(r0) * a.ldx + k0;
    y = reinterpret_cast<OutT*>(a.y) + static_cast<int64_t>(r0) * a.ldy;
  }

  auto load_w = [&](int kt) {
    bf16* dst = ws + (kt % kStages) * (kStageW / 2);
#pragma unroll
    for (int i = 0; i < kBN * 8 / kThreads; ++i) {
      const int c = tid + i * kThreads, r = c >> 3, ch = c & 7;
      const int n = min(n_base + r, a.N - 1);
      CpAsync(dst + Swz(r, ch), w + static_cast<int64_t>(n) * a.ldw + kt * kKC + ch * 8);
    }
  };
  auto load_x = [&](int kt) {
    bf16* dst = xs + (kt % kStages) * (kStageX / 2);
#pragma unroll
    for (int i = 0; i < kMaxM * 8 / kThreads; ++i) {
      const int c = tid + i * kThreads, r = c >> 3, ch = c & 7;
      const int m = min(r, M - 1);
      CpAsync(dst + Swz(r, ch), x + static_cast<int64_t>(m) * a.ldx + kt * kKC + ch * 8);
    }
  };

  // Groups W_0..W_{S-2}, then x_0..x_{S-2}, then one (W, x) group per stage: before stage kt the group
  // holding x_kt is followed by exactly kStages - 2 newer ones (as in thin_gemm.cu).
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < nk) load_w(s);
    CpAsyncCommit();
  }
  GridDepWait();
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < nk) load_x(s);
    CpAsyncCommit();
  }

  float d[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) d[i] = 0.0f;
  for (int kt = 0; kt < nk; ++kt) {
    CpAsyncWait<kStages - 2>();
    // The cp.async writes are the generic proxy's; wgmma reads through the async proxy.
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
    __syncthreads();  // stage kt landed for every thread; stage kt - 1's slot is free (its wgmma waited)
    if (kt + kStages - 1 < nk) {
      load_w(kt + kStages - 1);
      load_x(kt + kStages - 1);
    }
    CpAsyncCommit();
    const uint32_t wa = SmemAddr(ws + (kt % kStages) * (kStageW / 2));
    const uint32_t xa = SmemAddr(xs + (kt % kStages) * (kStageX / 2));
    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#pragma unroll
    for (int kk = 0; kk < kKC / 16; ++kk) Wgmma64x128(d, Desc(xa, kk * 32), Desc(wa, kk * 32));
    asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
    asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
  }
  CpAsyncWait<0>();

  // Accumulator layout: warp w holds rows 16w + lane/4 (d[4j], d[4j+1]) and + 8 (d[4j+2], d[4j+3]) of
  // columns 8j + 2 * (lane % 4) (+1), j < 16.
  const int r0 = warp * 16 + (lane >> 2), c0 = 2 * (lane & 3);
  if (a.splits == 1) {
#pragma unroll
    for (int j = 0; j < 16; ++j)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int m = r0 + (i >= 2 ? 8 : 0), n = n_base + 8 * j + c0 + (i & 1);
        if (m < M && n < a.N) Store(y + static_cast<int64_t>(m) * a.ldy + n, d[4 * j + i], a.accumulate);
      }
    return;
  }
  __syncthreads();  // the ring is done: the partial tile goes over it
  float* part = reinterpret_cast<float*>(ring);
#pragma unroll
  for (int j = 0; j < 16; ++j)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int m = r0 + 8 * h, c = 8 * j + c0;
      *reinterpret_cast<float2*>(part + m * kPartLd + c) = make_float2(d[4 * j + 2 * h], d[4 * j + 2 * h + 1]);
    }
  thin::ClusterSumStore(part, a, M, n_base, slice, y);
#endif
}

template <typename OutT>
cudaError_t LaunchOut(const ThinGemmArgs& a, cudaStream_t stream) {
  static const cudaError_t attr =
      cudaFuncSetAttribute(ThinWgmmaKernel<OutT>, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes);
  if (attr != cudaSuccess) return attr;
  return thin::Launch(ThinWgmmaKernel<OutT>, a, kSmemBytes, stream);
}

}  // namespace

namespace {
std::atomic<int> g_wgmma{-1};
}  // namespace

void SetThinWgmma(int on) { g_wgmma.store(on == 0 || on == 1 ? on : -1); }

bool ThinWgmmaEnabled() {
  const int forced = g_wgmma.load(std::memory_order_relaxed);
  if (forced >= 0) return forced == 1;
  static const bool on = EnvSwitch("MIXSERVE_THIN_WGMMA", false);
  return on;
}

cudaError_t LaunchThinWgmma(const ThinGemmArgs& a, cudaStream_t stream) {
  return a.y_f32 ? LaunchOut<float>(a, stream) : LaunchOut<bf16>(a, stream);
}

}  // namespace mixserve::cuda
