// Decode-step fusions for 1-2 activation rows (batch-1/2 decode), where every kernel of a layer is
// latency-bound except the weight streams:
//   FusedQkvKernel: previous layer's MoE combine + residual add + input RMSNorm + QKV GEMV + RoPE +
//     paged KV-cache write, one kernel (was norm, qkv, rope).
//   FusedOutNormKernel: O-projection GEMV accumulated into the residual, then the post-attention
//     RMSNorm done by the grid's last block (was o_proj, post norm).
// Each warp streams two weight rows with 16-byte loads and reads the fp32 activations from L1/L2
// (FusedQkvSmemKernel, MIXSERVE_QKV_SMEM=1: from the block's shared-memory copy of the normed rows).
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "runtime/backend/cuda/common.cuh"
#include "runtime/backend/cuda/decode_dot.cuh"
#include "runtime/backend/cuda/env_switch.h"
#include "runtime/backend/cuda/kernels.h"

namespace mixserve::cuda {
namespace {

constexpr int kMaxK = 2;     // experts per token the fused combine handles (Mixtral: 2)
constexpr int kNormVec = 8;  // float4 per thread the last block's norm keeps in registers
// Batch 1 with 4 loads in flight (TT = 1, U = 4): at most 80 registers, so 6 blocks of 4 warps fit an
// SM and the QKV grid (768 blocks) is resident in one wave on 132 SMs. Otherwise 128 (no big spills).
#define MIXSERVE_FUSED_BOUNDS __launch_bounds__(256, (TT == 1 && U == 4) ? 3 : 2)

// g * (x + sum_j tw_j * moe_j) for each row, accumulating the row's sum of squares of the residual;
// the writer warp also stores the combined residual (exactly once per element in the grid).
template <int TT>
struct NormedInput {
  const float* x[TT];
  const float* mo[TT][kMaxK];
  float tw[TT][kMaxK];
  float* x_out[TT];
  const float* g;
  int nk;
  bool writer;
  float ss[TT];

  __device__ __forceinline__ void operator()(int t, int k, float* v) {
    float xv[8];
    Load8(x[t] + k, xv);
#pragma unroll
    for (int j = 0; j < kMaxK; ++j) {
      if (j >= nk) break;
      float m[8];
      Load8(mo[t][j] + k, m);
#pragma unroll
      for (int e = 0; e < 8; ++e) xv[e] += tw[t][j] * m[e];
    }
    if (writer) {
      *reinterpret_cast<float4*>(x_out[t] + k) = make_float4(xv[0], xv[1], xv[2], xv[3]);
      *reinterpret_cast<float4*>(x_out[t] + k + 4) = make_float4(xv[4], xv[5], xv[6], xv[7]);
    }
    float gv[8];
    Load8(g + k, gv);
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      ss[t] += xv[e] * xv[e];
      v[e] = gv[e] * xv[e];
    }
  }
};

template <int TT>
struct PlainInput {
  const float* x[TT];
  __device__ __forceinline__ void operator()(int t, int k, float* v) { Load8(x[t] + k, v); }
};

__device__ __forceinline__ void Store(bf16* p, float v) { *p = __float2bfloat16(v); }
__device__ __forceinline__ void Store(float* p, float v) { *p = v; }

// The two weight rows of QKV warp unit `unit` (see FusedQkvKernel).
__device__ __forceinline__ void UnitRows(const FusedQkvArgs& a, int unit, int* r0, int* r1) {
  const int half = a.hd / 2, rot_units = (a.nh + a.nkv) * half;
  if (unit < rot_units) {
    const int head = unit / half, i = unit - head * half;
    *r0 = head * a.hd + i;
    *r1 = *r0 + half;
  } else {
    *r0 = (a.nh + a.nkv) * a.hd + 2 * (unit - rot_units);
    *r1 = *r0 + 1;
  }
}

// Warp unit `unit`'s outputs: y = inv_rms * acc (warp-summed), rotated for q/k rows, to qkv and the
// paged caches.
template <int TT, typename KV>
__device__ __forceinline__ void StoreQkv(const FusedQkvArgs& a, int unit, const float (&acc)[2][TT],
                                         const float (&inv_rms)[TT]) {
  const int lane = threadIdx.x & 31;
  const int hd = a.hd, half = hd / 2, nh = a.nh, nkv = a.nkv;
  const int rot_units = (nh + nkv) * half;
  int r0, r1;
  UnitRows(a, unit, &r0, &r1);
  const int head = unit / half, i = unit - head * half;
  const int ld = (nh + 2 * nkv) * hd;
  KV* kc = static_cast<KV*>(a.k_cache);
  KV* vc = static_cast<KV*>(a.v_cache);
#pragma unroll
  for (int t = 0; t < TT; ++t) {
    const float y0 = WarpSum(acc[0][t]) * inv_rms[t], y1 = WarpSum(acc[1][t]) * inv_rms[t];
    if (lane != t) continue;
    float* row = a.qkv + static_cast<int64_t>(t) * ld;
    const int64_t cache_base = static_cast<int64_t>(a.slot[t]) * nkv * hd;
    if (unit < rot_units) {
      // The arithmetic of rope_kv.cu (and the CPU oracle / transformers' default rotary embedding).
      const float p = static_cast<float>(a.pos[t]);
      const float inv_freq = 1.0f / powf(a.theta, static_cast<float>(2 * i) / static_cast<float>(hd));
      const float angle = p * inv_freq;
      float s, c;
      sincosf(angle, &s, &c);
      const float ra = y0 * c - y1 * s, rb = y1 * c + y0 * s;
      row[r0] = ra;
      row[r1] = rb;
      if (head >= nh) {
        KV* dst = kc + cache_base + (head - nh) * hd;
        Store(dst + i, ra);
        Store(dst + i + half, rb);
      }
    } else {
      row[r0] = y0;
      row[r1] = y1;
      const int v0 = r0 - (nh + nkv) * hd;
      Store(vc + cache_base + v0, y0);
      Store(vc + cache_base + v0 + 1, y1);
    }
  }
}

// Warp unit u < (nh + nkv) * hd/2 owns the rotary pair (i, i + hd/2) of q/k head u / (hd/2); the
// rest own two adjacent v rows. y = inv_rms * (W . (g * x)) == W . rmsnorm(x) up to rounding.
template <int TT, int U, typename KV>
__global__ void MIXSERVE_FUSED_BOUNDS FusedQkvKernel(FusedQkvArgs a) {
  if (!a.prefetch) GridDepWait();
  const int lane = threadIdx.x & 31;
  const int unit = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  const int hd = a.hd, half = hd / 2, nh = a.nh, nkv = a.nkv, H = a.H;
  const int rot_units = (nh + nkv) * half;
  if (unit >= rot_units + nkv * half) return;
  int r0, r1;
  UnitRows(a, unit, &r0, &r1);
  const bf16* w0 = a.w + static_cast<int64_t>(r0) * H;
  const bf16* w1 = a.w + static_cast<int64_t>(r1) * H;
  uint4 wv[2][U];
  LoadW<U>(w0, w1, H, lane * 8, wv);
  if (a.prefetch) GridDepWait();
  GridDepLaunch(a.early);
  NormedInput<TT> in;
  in.g = a.norm_w;
  in.nk = a.moe_out ? a.k : 0;
  in.writer = unit == 0;
#pragma unroll
  for (int t = 0; t < TT; ++t) {
    in.x[t] = a.x_in + static_cast<int64_t>(t) * H;
    in.x_out[t] = a.x_out + static_cast<int64_t>(t) * H;
    in.ss[t] = 0.0f;
#pragma unroll
    for (int j = 0; j < kMaxK; ++j) {
      if (j < in.nk) {
        const int pair = t * a.k + j;
        in.mo[t][j] = a.moe_out + static_cast<int64_t>(a.sorted_w ? j : a.pos_of_pair[pair]) * H;
        in.tw[t][j] = a.sorted_w ? a.sorted_w[j] : a.topk_w[pair];
      } else {
        in.mo[t][j] = nullptr;
        in.tw[t][j] = 0.0f;
      }
    }
  }
  float acc[2][TT];
#pragma unroll
  for (int t = 0; t < TT; ++t) acc[0][t] = acc[1][t] = 0.0f;
  Dot2<TT, U>(w0, w1, H, in, acc, wv);
  float inv_rms[TT];
#pragma unroll
  for (int t = 0; t < TT; ++t) inv_rms[t] = 1.0f / sqrtf(WarpSum(in.ss[t]) / H + a.eps);
  StoreQkv<TT, KV>(a, unit, acc, inv_rms);
}

// The same contract with the block's normed input staged once in shared memory (TT * H floats,
// dynamic): every thread of the block does the combine and the sum of squares over a strided
// share of the row, so a warp's dot loop reads 2 float4 from shared memory per 8 weights (the
// kernel above: 8 float4 from L1/L2 plus the combine, once per warp). MIXSERVE_QKV_SMEM=1.
template <int TT, typename KV>
__global__ void __launch_bounds__(256, 3) FusedQkvSmemKernel(FusedQkvArgs a) {
  extern __shared__ float4 xs4[];
  float* xs = reinterpret_cast<float*>(xs4);
  __shared__ float scratch[32];
  if (!a.prefetch) GridDepWait();
  const int lane = threadIdx.x & 31;
  const int unit = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  const int H = a.H, half = a.hd / 2;
  const int units = (a.nh + 2 * a.nkv) * half;
  const bool active = unit < units;
  int r0, r1;
  UnitRows(a, active ? unit : 0, &r0, &r1);
  const bf16* w0 = a.w + static_cast<int64_t>(r0) * H;
  const bf16* w1 = a.w + static_cast<int64_t>(r1) * H;
  uint4 wv[2][4];
  if (active) LoadW<4>(w0, w1, H, lane * 8, wv);
  if (a.prefetch) GridDepWait();
  GridDepLaunch(a.early);
  const int nk = a.moe_out ? a.k : 0;
  const bool writer = blockIdx.x == 0;
  float inv_rms[TT];
#pragma unroll
  for (int t = 0; t < TT; ++t) {
    const float* x = a.x_in + static_cast<int64_t>(t) * H;
    const float* mo[kMaxK];
    float tw[kMaxK];
#pragma unroll
    for (int j = 0; j < kMaxK; ++j) {
      const int row = a.sorted_w ? j : (j < nk ? a.pos_of_pair[t * a.k + j] : 0);  // sorted_w: rows 0..k-1
      mo[j] = j < nk ? a.moe_out + static_cast<int64_t>(row) * H : nullptr;
      tw[j] = j < nk ? (a.sorted_w ? a.sorted_w[j] : a.topk_w[t * a.k + j]) : 0.0f;
    }
    float ss = 0.0f;
    // Two float4 columns per thread and pass, every load of a pass issued before any use (one L2
    // round trip per pass; the global store to x_out would otherwise keep the next loads behind it).
    const int step = blockDim.x * 4;
    for (int c0 = threadIdx.x * 4; c0 < H; c0 += 2 * step) {
      float4 v[2], m[kMaxK][2], g[2];
#pragma unroll
      for (int q = 0; q < 2; ++q) {
        const int c = c0 + q * step;
        const bool in = c < H;
        v[q] = in ? __ldg(reinterpret_cast<const float4*>(x + c)) : make_float4(0.f, 0.f, 0.f, 0.f);
        g[q] = in ? __ldg(reinterpret_cast<const float4*>(a.norm_w + c)) : make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
        for (int j = 0; j < kMaxK; ++j) {
          m[j][q] = in && j < nk ? __ldg(reinterpret_cast<const float4*>(mo[j] + c)) : make_float4(0.f, 0.f, 0.f, 0.f);
        }
      }
#pragma unroll
      for (int q = 0; q < 2; ++q) {
        const int c = c0 + q * step;
        if (c >= H) continue;
        float4 u = v[q];
#pragma unroll
        for (int j = 0; j < kMaxK; ++j) {
          if (j >= nk) continue;
          u.x += tw[j] * m[j][q].x;
          u.y += tw[j] * m[j][q].y;
          u.z += tw[j] * m[j][q].z;
          u.w += tw[j] * m[j][q].w;
        }
        if (writer) *reinterpret_cast<float4*>(a.x_out + static_cast<int64_t>(t) * H + c) = u;
        ss += u.x * u.x + u.y * u.y + u.z * u.z + u.w * u.w;
        *reinterpret_cast<float4*>(xs + t * H + c) = make_float4(g[q].x * u.x, g[q].y * u.y, g[q].z * u.z, g[q].w * u.w);
      }
    }
    inv_rms[t] = 1.0f / sqrtf(BlockSum(ss, scratch) / H + a.eps);
  }
  __syncthreads();
  if (!active) return;
  SmemInput<TT> in{xs, H};
  float acc[2][TT];
#pragma unroll
  for (int t = 0; t < TT; ++t) acc[0][t] = acc[1][t] = 0.0f;
  Dot2<TT, 4>(w0, w1, H, in, acc, wv);
  StoreQkv<TT, KV>(a, unit, acc, inv_rms);
}

// x[t, n] += W[n] . att[t] for n < N; then (unless a.no_norm) the last block to finish computes
// out[t] = rmsnorm(x[t]) * g (the counter goes back to 0 for the next launch).
template <int TT, int U>
__global__ void MIXSERVE_FUSED_BOUNDS FusedOutNormKernel(FusedOutNormArgs a) {
  if (!a.prefetch) GridDepWait();
  __shared__ float scratch[32];
  __shared__ bool last;
  const int lane = threadIdx.x & 31;
  const int unit = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  const int N = a.N, K = a.K, H = a.N;
  const int n0 = 2 * unit, n1 = 2 * unit + 1;
  const bf16* w0 = a.w + static_cast<int64_t>(n0 < N ? n0 : 0) * K;
  const bf16* w1 = a.w + static_cast<int64_t>(n1 < N ? n1 : 0) * K;
  uint4 wv[2][U];
  if (n0 < N) LoadW<U>(w0, w1, K, lane * 8, wv);
  if (a.prefetch) GridDepWait();
  GridDepLaunch(a.early);
  if (n0 < N) {
    PlainInput<TT> in;
#pragma unroll
    for (int t = 0; t < TT; ++t) in.x[t] = a.att + static_cast<int64_t>(t) * a.ld_att;
    float acc[2][TT];
#pragma unroll
    for (int t = 0; t < TT; ++t) acc[0][t] = acc[1][t] = 0.0f;
    Dot2<TT, U>(w0, w1, K, in, acc, wv);
#pragma unroll
    for (int t = 0; t < TT; ++t) {
      const float y0 = WarpSum(acc[0][t]), y1 = WarpSum(acc[1][t]);
      if (lane != t) continue;
      float* xr = a.x + static_cast<int64_t>(t) * H;
      xr[n0] += y0;
      if (n1 < N) xr[n1] += y1;
    }
  }
  if (a.no_norm) return;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(a.counter, 1) == static_cast<int>(gridDim.x) - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();
  const int n4 = H / 4;
  for (int t = 0; t < TT; ++t) {
    const float* xr = a.x + static_cast<int64_t>(t) * H;
    float* of = a.out_f ? a.out_f + static_cast<int64_t>(t) * H : nullptr;
    bf16* ob = a.out_b ? a.out_b + static_cast<int64_t>(t) * H : nullptr;
    if (H % 4 == 0 && n4 <= kNormVec * static_cast<int>(blockDim.x)) {
      // The row in registers, all loads in flight at once (the L2 latency is paid once, not per element).
      float4 v[kNormVec];
      float ss = 0.0f;
#pragma unroll
      for (int j = 0; j < kNormVec; ++j) {
        const int c = threadIdx.x + j * blockDim.x;
        v[j] = c < n4 ? __ldcg(reinterpret_cast<const float4*>(xr) + c) : make_float4(0.f, 0.f, 0.f, 0.f);
      }
#pragma unroll
      for (int j = 0; j < kNormVec; ++j) {
        ss += v[j].x * v[j].x;
        ss += v[j].y * v[j].y;
        ss += v[j].z * v[j].z;
        ss += v[j].w * v[j].w;
      }
      ss = BlockSum(ss, scratch);
      const float inv_rms = 1.0f / sqrtf(ss / H + a.eps);
#pragma unroll
      for (int j = 0; j < kNormVec; ++j) {
        const int c = threadIdx.x + j * blockDim.x;
        if (c >= n4) break;
        const float4 g = __ldg(reinterpret_cast<const float4*>(a.norm_w) + c);
        const float4 y = make_float4(g.x * (v[j].x * inv_rms), g.y * (v[j].y * inv_rms), g.z * (v[j].z * inv_rms),
                                     g.w * (v[j].w * inv_rms));
        if (of) reinterpret_cast<float4*>(of)[c] = y;
        if (ob) {
          reinterpret_cast<__nv_bfloat162*>(ob)[2 * c] = __floats2bfloat162_rn(y.x, y.y);
          reinterpret_cast<__nv_bfloat162*>(ob)[2 * c + 1] = __floats2bfloat162_rn(y.z, y.w);
        }
      }
      continue;
    }
    float ss = 0.0f;
    for (int c = threadIdx.x; c < H; c += blockDim.x) {
      const float v = __ldcg(xr + c);
      ss += v * v;
    }
    ss = BlockSum(ss, scratch);
    const float inv_rms = 1.0f / sqrtf(ss / H + a.eps);
    for (int c = threadIdx.x; c < H; c += blockDim.x) {
      const float y = a.norm_w[c] * (__ldcg(xr + c) * inv_rms);
      if (of) of[c] = y;
      if (ob) ob[c] = __float2bfloat16(y);
    }
  }
  if (threadIdx.x == 0) *a.counter = 0;
}

// MIXSERVE_GEMV_VARIANT: a = 4 warps a block, 4 loads in flight per weight row and lane (default);
// b = 8 warps a block, 4 loads; c = 4 warps a block, 8 loads.
struct Variant {
  int warps;
  int unroll;
};
Variant GetVariant() {
  static const Variant v = [] {
    const char* e = std::getenv("MIXSERVE_GEMV_VARIANT");
    if (e != nullptr && std::strcmp(e, "b") == 0) return Variant{8, 4};
    if (e != nullptr && std::strcmp(e, "c") == 0) return Variant{4, 8};
    return Variant{4, 4};
  }();
  return v;
}

cudaError_t LaunchOutNorm(const FusedOutNormArgs& a, int unroll, dim3 grid, dim3 block, cudaStream_t stream) {
  if (a.rows == 1) {
    return unroll == 8 ? LaunchKernel(FusedOutNormKernel<1, 8>, grid, block, 0, stream, a)
                       : LaunchKernel(FusedOutNormKernel<1, 4>, grid, block, 0, stream, a);
  }
  return unroll == 8 ? LaunchKernel(FusedOutNormKernel<2, 8>, grid, block, 0, stream, a)
                     : LaunchKernel(FusedOutNormKernel<2, 4>, grid, block, 0, stream, a);
}

template <int TT>
cudaError_t LaunchQkvSmem(const FusedQkvArgs& a, cudaStream_t stream) {
  const int units = (a.nh + 2 * a.nkv) * a.hd / 2;
  const dim3 grid((units + 7) / 8), block(256);
  const size_t smem = static_cast<size_t>(TT) * a.H * sizeof(float);
  if (a.kv_f32) return LaunchKernel(FusedQkvSmemKernel<TT, float>, grid, block, smem, stream, a);
  return LaunchKernel(FusedQkvSmemKernel<TT, bf16>, grid, block, smem, stream, a);
}

template <int TT, int U>
cudaError_t LaunchQkv(const FusedQkvArgs& a, dim3 grid, dim3 block, cudaStream_t stream) {
  if (a.kv_f32) return LaunchKernel(FusedQkvKernel<TT, U, float>, grid, block, 0, stream, a);
  return LaunchKernel(FusedQkvKernel<TT, U, bf16>, grid, block, 0, stream, a);
}

std::atomic<int> g_qkv_smem{-1};

// MIXSERVE_QKV_SMEM (default 1): the fused QKV kernel with the normed input staged in shared memory
// (H200, 32 layers, 2026-11-27: bs1 129.2 -> 134.4 tok/s); 0 keeps the per-warp
// kernel; SetFusedQkvSmem overrides it.
bool QkvSmemEnabled() {
  const int forced = g_qkv_smem.load(std::memory_order_relaxed);
  if (forced >= 0) return forced == 1;
  static const bool on = EnvSwitch("MIXSERVE_QKV_SMEM", true);
  return on;
}

}  // namespace

void SetFusedQkvSmem(int mode) { g_qkv_smem.store(mode == 0 || mode == 1 ? mode : -1); }

bool FusedQkvEnabled() {
  static const bool on = EnvSwitch("MIXSERVE_FUSED_QKV", true);
  return on;
}
bool FusedOutNormEnabled() {
  static const bool on = EnvSwitch("MIXSERVE_FUSED_ONORM", true);
  return on;
}

// MIXSERVE_PREFETCH=0: the fused kernels wait for the previous kernel before their first weight
// loads (default: loads first, so they overlap the previous kernel's tail when it triggers early).
bool DecodePrefetchEnabled() {
  static const bool on = EnvSwitch("MIXSERVE_PREFETCH", true);
  return on;
}

bool FusedQkvApplies(int rows, int H, int hd, int k) {
  return rows >= 1 && rows <= 2 && H % 8 == 0 && hd % 2 == 0 && k <= kMaxK;
}

cudaError_t LaunchFusedQkv(const FusedQkvArgs& args, cudaStream_t stream) {
  if (!FusedQkvApplies(args.rows, args.H, args.hd, args.moe_out ? args.k : 0)) return cudaErrorInvalidValue;
  if (args.sorted_w != nullptr && args.rows != 1) return cudaErrorInvalidValue;
  FusedQkvArgs a = args;
  a.early = EarlyTriggerEnabled();
  a.prefetch = DecodePrefetchEnabled();
  if (QkvSmemEnabled() && a.rows * a.H * sizeof(float) <= 48 * 1024) {
    const cudaError_t err = a.rows == 1 ? LaunchQkvSmem<1>(a, stream) : LaunchQkvSmem<2>(a, stream);
    return err != cudaSuccess ? err : cudaGetLastError();
  }
  const Variant v = GetVariant();
  const int units = (a.nh + 2 * a.nkv) * a.hd / 2;
  const dim3 grid((units + v.warps - 1) / v.warps), block(32 * v.warps);
  cudaError_t err;
  if (a.rows == 1) {
    err = v.unroll == 8 ? LaunchQkv<1, 8>(a, grid, block, stream) : LaunchQkv<1, 4>(a, grid, block, stream);
  } else {
    err = v.unroll == 8 ? LaunchQkv<2, 8>(a, grid, block, stream) : LaunchQkv<2, 4>(a, grid, block, stream);
  }
  return err != cudaSuccess ? err : cudaGetLastError();
}

cudaError_t LaunchFusedOutNorm(const FusedOutNormArgs& args, cudaStream_t stream) {
  if (args.rows < 1 || args.rows > 2 || args.K % 8 != 0 || args.ld_att % 4 != 0) return cudaErrorInvalidValue;
  FusedOutNormArgs a = args;
  a.early = EarlyTriggerEnabled();
  a.prefetch = DecodePrefetchEnabled();
  const Variant v = GetVariant();
  const int units = (a.N + 1) / 2;
  const dim3 grid((units + v.warps - 1) / v.warps), block(32 * v.warps);
  const cudaError_t err = LaunchOutNorm(a, v.unroll, grid, block, stream);
  return err != cudaSuccess ? err : cudaGetLastError();
}

}  // namespace mixserve::cuda
