// Paged attention for decode and prefill: flash-decoding over KV blocks.
//
// A CUDA block takes one tile (up to kAttnTileRows consecutive query rows of a sequence), one KV
// head and one split of the tile's key range; it holds the tile's G = nh / nkv query heads per row
// (GQA: they share every K/V load) and walks the keys 128 at a time with an online softmax. Each
// split writes (acc, max, sum) partials; a second kernel merges the splits.
//
// Tiles of at most 8 queries (decode) go to the one-launch kernel of attention_decode.cu instead
// (MIXSERVE_ATTN_V2, default on).
#include <cfloat>

#include "runtime/backend/cuda/common.cuh"
#include "runtime/backend/cuda/kernels.h"

namespace mixserve::cuda {
namespace {

constexpr int kThreads = 128;  // also the keys per tile
constexpr int kMaxHd = 128;

__device__ __forceinline__ void Load8(const bf16* p, float* f) { Unpack8(*reinterpret_cast<const uint4*>(p), f); }
__device__ __forceinline__ void Load8(const float* p, float* f) {
  const float4 a = *reinterpret_cast<const float4*>(p), b = *reinterpret_cast<const float4*>(p + 4);
  f[0] = a.x, f[1] = a.y, f[2] = a.z, f[3] = a.w, f[4] = b.x, f[5] = b.y, f[6] = b.z, f[7] = b.w;
}
__device__ __forceinline__ float ToF(bf16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float ToF(float v) { return v; }

template <int MQ, typename KV>
__global__ void __launch_bounds__(kThreads) AttentionKernel(AttnArgs a) {
  GridDepWait();
  GridDepLaunch(a.early);
  const KV* k_cache = static_cast<const KV*>(a.k_cache);
  const KV* v_cache = static_cast<const KV*>(a.v_cache);
  __shared__ __align__(16) float q_s[MQ * kMaxHd];
  __shared__ __align__(16) float p_s[MQ * kThreads];
  __shared__ float m_s[MQ], l_s[MQ], alpha_s[MQ];
  __shared__ int64_t slot_s[kThreads];

  const AttnTile tile = a.tiles[blockIdx.x];
  const int g = blockIdx.y, split = blockIdx.z, tid = threadIdx.x;
  const int hd = a.hd, G = a.nh / a.nkv;
  const int nq = tile.n_rows * G;
  const int32_t* bt_row = a.block_tables + static_cast<int64_t>(tile.seq) * a.max_blocks;
  const int pos_first = a.pos[tile.row_begin], pos_last = a.pos[tile.row_begin + tile.n_rows - 1];
  const int lo = a.window > 0 ? max(0, pos_first - a.window + 1) : 0;
  const int hi = pos_last + 1;
  const int chunk = (hi - lo + a.splits - 1) / a.splits;
  const int s_lo = lo + split * chunk;
  const int s_hi = min(hi, s_lo + chunk);
  const float scale = rsqrtf(static_cast<float>(hd));

  for (int idx = tid; idx < MQ * hd; idx += kThreads) {
    int qi = idx / hd, d = idx - qi * hd;
    float v = 0.0f;
    if (qi < nq) {
      int r = tile.row_begin + qi / G, h = g * G + qi % G;
      v = a.q[static_cast<int64_t>(r) * a.ldq + h * hd + d];
    }
    q_s[qi * hd + d] = v;
  }
  if (tid < MQ) {
    m_s[tid] = -FLT_MAX;
    l_s[tid] = 0.0f;
  }
  const int DP = kThreads / hd;  // key partitions in the P.V phase
  const int part = tid / hd, d = tid - part * hd;
  float acc[MQ];
#pragma unroll
  for (int qi = 0; qi < MQ; ++qi) acc[qi] = 0.0f;
  __syncthreads();

  for (int kt0 = s_lo; kt0 < s_hi; kt0 += kThreads) {
    // Phase 1: one key per thread, scores for every query of the tile.
    const int kp = kt0 + tid;
    float s[MQ];
#pragma unroll
    for (int qi = 0; qi < MQ; ++qi) s[qi] = 0.0f;
    if (kp < s_hi) {
      const int64_t slot = static_cast<int64_t>(bt_row[kp / a.block_tokens]) * a.block_tokens + kp % a.block_tokens;
      slot_s[tid] = slot;
      const KV* kptr = k_cache + (slot * a.nkv + g) * hd;
      for (int c = 0; c < hd; c += 8) {
        float kf[8];
        Load8(kptr + c, kf);
#pragma unroll
        for (int qi = 0; qi < MQ; ++qi) {
          const float4 q0 = *reinterpret_cast<const float4*>(q_s + qi * hd + c);
          const float4 q1 = *reinterpret_cast<const float4*>(q_s + qi * hd + c + 4);
          s[qi] += q0.x * kf[0] + q0.y * kf[1] + q0.z * kf[2] + q0.w * kf[3] + q1.x * kf[4] + q1.y * kf[5] +
                   q1.z * kf[6] + q1.w * kf[7];
        }
      }
    }
#pragma unroll
    for (int qi = 0; qi < MQ; ++qi) {
      bool ok = kp < s_hi && qi < nq;
      if (ok) {
        const int p = a.pos[tile.row_begin + qi / G];
        ok = kp <= p && (a.window <= 0 || kp > p - a.window);
      }
      p_s[qi * kThreads + tid] = qi < nq ? (ok ? s[qi] * scale : -INFINITY) : 0.0f;
    }
    __syncthreads();
    // Phase 2: online softmax, one warp per query.
    const int lane = tid & 31, warp = tid >> 5;
    for (int qi = warp; qi < nq; qi += kThreads / 32) {
      float v[kThreads / 32];
      float mx = -INFINITY;
#pragma unroll
      for (int i = 0; i < kThreads / 32; ++i) {
        v[i] = p_s[qi * kThreads + lane + 32 * i];
        mx = fmaxf(mx, v[i]);
      }
      mx = WarpMax(mx);
      const float m_old = m_s[qi];
      const float m_new = fmaxf(m_old, mx);
      float sum = 0.0f;
#pragma unroll
      for (int i = 0; i < kThreads / 32; ++i) {
        float e = v[i] == -INFINITY ? 0.0f : expf(v[i] - m_new);
        p_s[qi * kThreads + lane + 32 * i] = e;
        sum += e;
      }
      sum = WarpSum(sum);
      if (lane == 0) {
        const float alpha = expf(m_old - m_new);
        alpha_s[qi] = alpha;
        l_s[qi] = l_s[qi] * alpha + sum;
        m_s[qi] = m_new;
      }
    }
    __syncthreads();
    // Phase 3: acc += P . V; thread (part, d) takes keys part, part + DP, ...
#pragma unroll
    for (int qi = 0; qi < MQ; ++qi) acc[qi] *= (qi < nq ? alpha_s[qi] : 0.0f);
    const int n_keys = min(kThreads, s_hi - kt0);
    for (int j = part; j < n_keys; j += DP) {
      const float v = ToF(v_cache[(slot_s[j] * a.nkv + g) * hd + d]);
#pragma unroll
      for (int qi = 0; qi < MQ; ++qi) acc[qi] += p_s[qi * kThreads + j] * v;
    }
    __syncthreads();
  }

  // Reduce the key partitions (p_s is free now), then write this split's partials.
  if (DP > 1) {
#pragma unroll
    for (int qi = 0; qi < MQ; ++qi) p_s[(part * MQ + qi) * hd + d] = acc[qi];
    __syncthreads();
    if (part == 0) {
      for (int pp = 1; pp < DP; ++pp) {
#pragma unroll
        for (int qi = 0; qi < MQ; ++qi) acc[qi] += p_s[(pp * MQ + qi) * hd + d];
      }
    }
  }
  if (part == 0) {
#pragma unroll
    for (int qi = 0; qi < MQ; ++qi) {
      if (qi >= nq) break;
      const int r = tile.row_begin + qi / G, h = g * G + qi % G;
      float* out = a.partials + ((static_cast<int64_t>(r) * a.nh + h) * a.splits + split) * (hd + 2);
      out[d] = acc[qi];
      if (d == 0) {
        out[hd] = m_s[qi];
        out[hd + 1] = l_s[qi];
      }
    }
  }
}

// One block per (row, head), hd threads.
__global__ void CombineKernel(AttnArgs a) {
  GridDepWait();
  GridDepLaunch(a.early);
  const int r = blockIdx.x, h = blockIdx.y, d = threadIdx.x, hd = a.hd;
  const float* base = a.partials + (static_cast<int64_t>(r) * a.nh + h) * a.splits * (hd + 2);
  float mx = -FLT_MAX;
  for (int s = 0; s < a.splits; ++s) mx = fmaxf(mx, base[s * (hd + 2) + hd]);
  float num = 0.0f, den = 0.0f;
  for (int s = 0; s < a.splits; ++s) {
    const float* p = base + s * (hd + 2);
    if (p[hd + 1] == 0.0f) continue;
    const float w = expf(p[hd] - mx);
    num += w * p[d];
    den += w * p[hd + 1];
  }
  const float v = den > 0.0f ? num / den : 0.0f;
  const int64_t o = static_cast<int64_t>(r) * a.nh * hd + h * hd + d;
  if (a.out_f) a.out_f[o] = v;
  if (a.out_b) a.out_b[o] = __float2bfloat16(v);
}

template <typename KV>
void Dispatch(int nq, dim3 grid, const AttnArgs& a, cudaStream_t stream) {
  if (nq <= 4) {
    LaunchKernel(AttentionKernel<4, KV>, dim3(grid), dim3(kThreads), 0, stream, a);
  } else if (nq <= 8) {
    LaunchKernel(AttentionKernel<8, KV>, dim3(grid), dim3(kThreads), 0, stream, a);
  } else if (nq <= 16) {
    LaunchKernel(AttentionKernel<16, KV>, dim3(grid), dim3(kThreads), 0, stream, a);
  } else {
    LaunchKernel(AttentionKernel<32, KV>, dim3(grid), dim3(kThreads), 0, stream, a);
  }
}

}  // namespace

cudaError_t LaunchPagedAttention(const AttnArgs& args, cudaStream_t stream) {
  AttnArgs a = args;
  a.early = EarlyTriggerEnabled();
  if (a.n_tiles == 0) return cudaSuccess;
  if (a.hd % 8 != 0 || a.nh % a.nkv != 0 || a.splits < 1) return cudaErrorInvalidValue;
  if (a.tile_rows < 1 || a.tile_rows > kAttnTileRows) return cudaErrorInvalidValue;
  const int nq = a.tile_rows * (a.nh / a.nkv);
  if (DecodeAttentionApplies(a, nq)) return LaunchDecodeAttention(a, nq, stream);
  const dim3 grid(a.n_tiles, a.nkv, a.splits);
  if (a.hd > kMaxHd || kThreads % a.hd != 0 || nq > 32) return cudaErrorInvalidValue;
  if (a.kv_f32) {
    Dispatch<float>(nq, grid, a, stream);
  } else {
    Dispatch<bf16>(nq, grid, a, stream);
  }
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  LaunchKernel(CombineKernel, dim3(dim3(a.n_rows, a.nh)), dim3(a.hd), 0, stream, a);
  return cudaGetLastError();
}

}  // namespace mixserve::cuda
