// Paged decode attention, "v2" (MIXSERVE_ATTN_V2, default on): one launch for tiles of at most 8
// queries (decode: the G query heads of one row), registers instead of shared-memory round trips,
// 16-byte K/V loads, splits sized from the context on the device, and the splits merged by the last
// block of each (tile, kv head) or, at one short tile, inside a thread-block cluster. LaunchPagedAttention
// (attention.cu) sends the tiles it applies to here; the split rule for both kernels lives here too.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "runtime/backend/cuda/common.cuh"
#include "runtime/backend/cuda/env_switch.h"
#include "runtime/backend/cuda/kernels.h"

namespace mixserve::cuda {
namespace {

// ---- one launch for decode tiles (nq = rows * G <= 8) ----
// A block takes one (tile, kv head, split). Its threads form groups of L = hd / 8 lanes; a group
// takes kKeys keys per round (4 or 8, MIXSERVE_ATTN_SHAPE), each lane holding 8 of the hd dims (16-byte loads of K and V, both
// issued before any use), the G query heads' scores reduced across the group's lanes by shuffles,
// and an online softmax with the accumulators in registers. The groups' states merge through shared
// memory at the end. With more than one active split each block writes its partial; the last block
// of the (tile, kv head) to finish (threadfence + atomic counter, reset by that block so CUDA graph
// replays start from zero) merges the splits in split order (deterministic) and writes the output.
constexpr int kV2MinChunk = 32;   // keys: by default a split never takes fewer (short contexts use fewer splits)
constexpr int kV2Counters = 1 << 16;
constexpr int kV2MaxMq = 8;
constexpr int kV2MaxSplits = 32;
__device__ unsigned int g_split_done[kV2Counters];

template <typename KV>
struct Vec8;
template <>
struct Vec8<bf16> {
  uint4 u;
  __device__ __forceinline__ void Load(const bf16* p) { u = *reinterpret_cast<const uint4*>(p); }
  __device__ __forceinline__ void Get(float* f) const { Unpack8(u, f); }
};
template <>
struct Vec8<float> {
  float4 a, b;
  __device__ __forceinline__ void Load(const float* p) {
    a = *reinterpret_cast<const float4*>(p);
    b = *reinterpret_cast<const float4*>(p + 4);
  }
  __device__ __forceinline__ void Get(float* f) const {
    f[0] = a.x, f[1] = a.y, f[2] = a.z, f[3] = a.w, f[4] = b.x, f[5] = b.y, f[6] = b.z, f[7] = b.w;
  }
};

// Keys [lo, hi) of a tile, the chunk per split and how many splits have keys.
struct SplitRange {
  int lo, hi, chunk, active;
};
__device__ __forceinline__ SplitRange V2Range(const AttnArgs& a, const AttnTile& tile) {
  SplitRange r;
  const int pos_first = a.pos[tile.row_begin], pos_last = a.pos[tile.row_begin + tile.n_rows - 1];
  r.lo = a.window > 0 ? max(0, pos_first - a.window + 1) : 0;
  r.hi = pos_last + 1;
  const int span = r.hi - r.lo;
  const int cap = a.max_active > 0 && a.max_active < a.splits ? a.max_active : a.splits;
  r.chunk = max(a.min_chunk > 0 ? a.min_chunk : kV2MinChunk, (span + cap - 1) / cap);
  r.active = max(1, (span + r.chunk - 1) / r.chunk);
  return r;
}

// kKeys keys per lane group and round, kTh threads (MIXSERVE_ATTN_SHAPE; default 4 x 128), at least
// kMinBlocks resident blocks an SM (a register cap).
// kCluster: the splits of one (tile, kv head) are one thread-block cluster (grid z = cluster size <=
// kClusterMax, rank = split); each CTA leaves its partial in its own shared memory and, after a cluster
// barrier, CTA rank c merges items [c * per, (c + 1) * per) from all ranks' shared memory (splits in
// order): no global partials, fence, atomic or reload. Idle splits (no keys) still join both barriers.
constexpr int kClusterMax = 8;

template <int MQ, typename KV, int kKeys, int kTh, int kMinBlocks = 1, bool kCluster = false>
__global__ void __launch_bounds__(kTh, kMinBlocks) DecodeAttentionKernel(AttnArgs a) {
  __shared__ __align__(16) float acc_s[kTh * 8 * MQ];
  __shared__ float m_s[kTh * MQ], l_s[kTh * MQ];
  __shared__ bool last_s;
  __shared__ float cnum_s[kCluster ? MQ * 256 : 1], cm_s[MQ], cl_s[MQ];  // kCluster: this split's partial
  // Step metadata (positions, tiles, block tables) is uploaded before the step's first kernel, so
  // it is read before the PDL wait; q and the KV cache only after it.
  const AttnTile tile = a.tiles[blockIdx.x];
  const int g = blockIdx.y, split = blockIdx.z, tid = threadIdx.x;
  const int hd = a.hd, G = a.nh / a.nkv, nq = tile.n_rows * G;
  const int lanes = hd / 8, groups = kTh / lanes, grp = tid / lanes, sub = tid - grp * lanes;
  const SplitRange sr = V2Range(a, tile);
  // kCluster: merge every rank's partial for this CTA's share of the outputs, then leave together.
  auto cluster_merge = [&] {
    ClusterBarrier();
    const int C = gridDim.z, items = nq * hd, per = (items + C - 1) / C;
    for (int idx = split * per + tid; idx < min(items, (split + 1) * per); idx += kTh) {
      const int qi = idx / hd, d = idx - qi * hd;
      float mr[kClusterMax], lr[kClusterMax], nr[kClusterMax];
#pragma unroll
      for (int c = 0; c < kClusterMax; ++c) {
        if (c >= C) break;
        mr[c] = ClusterLoad(&cm_s[qi], c);
        lr[c] = ClusterLoad(&cl_s[qi], c);
        nr[c] = ClusterLoad(&cnum_s[idx], c);
      }
      float mx = -INFINITY;
#pragma unroll
      for (int c = 0; c < kClusterMax; ++c) {
        if (c < C && lr[c] > 0.0f) mx = fmaxf(mx, mr[c]);
      }
      float num = 0.0f, den = 0.0f;
#pragma unroll
      for (int c = 0; c < kClusterMax; ++c) {
        if (c >= C || !(lr[c] > 0.0f)) continue;
        const float w = expf(mr[c] - mx);
        num += w * nr[c];
        den += w * lr[c];
      }
      const float v = den > 0.0f ? num / den : 0.0f;
      const int r = tile.row_begin + qi / G, h = g * G + qi % G;
      const int64_t o = (static_cast<int64_t>(r) * a.nh + h) * hd + d;
      if (a.out_f) a.out_f[o] = v;
      if (a.out_b) a.out_b[o] = __float2bfloat16(v);
    }
    ClusterBarrier();  // no CTA leaves while another still reads its shared memory
  };
  if (split >= sr.active) {
    if constexpr (kCluster) {
      GridDepWait();
      GridDepLaunch(a.early);
      if (tid < MQ) cm_s[tid] = -INFINITY, cl_s[tid] = 0.0f;
      cluster_merge();
    }
    return;
  }
  const int s_lo = sr.lo + split * sr.chunk, s_hi = min(sr.hi, s_lo + sr.chunk);
  const int32_t* bt_row = a.block_tables + static_cast<int64_t>(tile.seq) * a.max_blocks;
  int qp[MQ];
#pragma unroll
  for (int qi = 0; qi < MQ; ++qi) qp[qi] = qi < nq ? a.pos[tile.row_begin + qi / G] : -1;
  const int stride = groups * kKeys;
  int64_t slot[kKeys];
  auto slots_for = [&](int base) {
#pragma unroll
    for (int j = 0; j < kKeys; ++j) {
      const int kk = base + j;
      slot[j] = kk < s_hi ? static_cast<int64_t>(bt_row[kk / a.block_tokens]) * a.block_tokens + kk % a.block_tokens : -1;
    }
  };
  // Rounds are uniform across the block (the shuffles need whole warps); a group's keys past s_hi are masked.
  slots_for(s_lo + grp * kKeys);
  // The first round's K/V: keys of earlier steps load before the PDL wait (old_keys_early), the rest
  // (this step's key) in the round itself. Only in the 256-thread shape (1-2 tiles): the 128-thread
  // one is register-capped for large batches and keeps its loads in the loop.
  constexpr bool kEarlyKeys = kTh == 256;
  Vec8<KV> kv[kKeys], vv[kKeys];
  bool live[kKeys], loaded[kKeys];
  if constexpr (kEarlyKeys) {
    const int early_hi = a.old_keys_early && tile.n_rows == 1 ? min(qp[0], s_hi) : s_lo;
#pragma unroll
    for (int j = 0; j < kKeys; ++j) {
      live[j] = slot[j] >= 0;
      loaded[j] = live[j] && s_lo + grp * kKeys + j < early_hi;
      if (loaded[j]) {
        const int64_t off = (slot[j] * a.nkv + g) * hd + sub * 8;
        kv[j].Load(static_cast<const KV*>(a.k_cache) + off);
        vv[j].Load(static_cast<const KV*>(a.v_cache) + off);
      }
    }
  }

  GridDepWait();
  GridDepLaunch(a.early);
  const KV* k_cache = static_cast<const KV*>(a.k_cache);
  const KV* v_cache = static_cast<const KV*>(a.v_cache);
  const float scale = rsqrtf(static_cast<float>(hd));
  float q[MQ][8], acc[MQ][8], m[MQ], l[MQ];
#pragma unroll
  for (int qi = 0; qi < MQ; ++qi) {
    const float* src = a.q + static_cast<int64_t>(tile.row_begin + qi / G) * a.ldq + (g * G + qi % G) * hd + sub * 8;
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      q[qi][e] = qi < nq ? src[e] * scale : 0.0f;
      acc[qi][e] = 0.0f;
    }
    m[qi] = -INFINITY;
    l[qi] = 0.0f;
  }

  for (int rb = s_lo; rb < s_hi; rb += stride) {
    const int base = rb + grp * kKeys;
    // This round's keys (slot[] is refilled for the next round below); the first round's early loads
    // are in kv / vv already.
#pragma unroll
    for (int j = 0; j < kKeys; ++j) {
      if (!kEarlyKeys || rb != s_lo) {
        live[j] = slot[j] >= 0;
        loaded[j] = false;
      }
      if (live[j] && !loaded[j]) {
        const int64_t off = (slot[j] * a.nkv + g) * hd + sub * 8;
        kv[j].Load(k_cache + off);
        vv[j].Load(v_cache + off);
      }
    }
    slots_for(base + stride);  // the next round's block-table reads overlap this round's loads
    float s[kKeys][MQ];
#pragma unroll
    for (int j = 0; j < kKeys; ++j) {
      float kf[8];
      kv[j].Get(kf);
#pragma unroll
      for (int qi = 0; qi < MQ; ++qi) {
        float d = 0.0f;
#pragma unroll
        for (int e = 0; e < 8; ++e) d += q[qi][e] * kf[e];
        s[j][qi] = d;
      }
    }
    for (int o = lanes >> 1; o > 0; o >>= 1) {
#pragma unroll
      for (int j = 0; j < kKeys; ++j) {
#pragma unroll
        for (int qi = 0; qi < MQ; ++qi) s[j][qi] += __shfl_xor_sync(0xffffffffu, s[j][qi], o);
      }
    }
#pragma unroll
    for (int j = 0; j < kKeys; ++j) {
      const int kk = base + j;
#pragma unroll
      for (int qi = 0; qi < MQ; ++qi) {
        const bool ok = kk < s_hi && kk <= qp[qi] && (a.window <= 0 || kk > qp[qi] - a.window);
        if (!ok) s[j][qi] = -INFINITY;
      }
    }
#pragma unroll
    for (int qi = 0; qi < MQ; ++qi) {
      float mx = m[qi];
#pragma unroll
      for (int j = 0; j < kKeys; ++j) mx = fmaxf(mx, s[j][qi]);
      if (mx == -INFINITY) continue;  // no key of this query yet
      const float alpha = expf(m[qi] - mx);
      m[qi] = mx;
      l[qi] *= alpha;
#pragma unroll
      for (int e = 0; e < 8; ++e) acc[qi][e] *= alpha;
    }
#pragma unroll
    for (int j = 0; j < kKeys; ++j) {
      if (!live[j]) continue;
      float vf[8];
      vv[j].Get(vf);
#pragma unroll
      for (int qi = 0; qi < MQ; ++qi) {
        const float p = s[j][qi] == -INFINITY ? 0.0f : expf(s[j][qi] - m[qi]);
        l[qi] += p;
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[qi][e] += p * vf[e];
      }
    }
  }

  // Merge the groups: (m, l, acc) per group and query in shared memory, then one thread per
  // (query, dim) walks the groups in order.
#pragma unroll
  for (int qi = 0; qi < MQ; ++qi) {
    if (sub == 0) {
      m_s[grp * MQ + qi] = m[qi];
      l_s[grp * MQ + qi] = l[qi];
    }
    float4* dst = reinterpret_cast<float4*>(acc_s + (grp * MQ + qi) * hd + sub * 8);
    dst[0] = make_float4(acc[qi][0], acc[qi][1], acc[qi][2], acc[qi][3]);
    dst[1] = make_float4(acc[qi][4], acc[qi][5], acc[qi][6], acc[qi][7]);
  }
  __syncthreads();
  // Groups past the split's keys never had one (short splits leave the last groups empty).
  const int used = min(groups, (s_hi - s_lo + kKeys - 1) / kKeys);
  for (int idx = tid; idx < nq * hd; idx += kTh) {
    const int qi = idx / hd, d = idx - qi * hd;
    float mx = -INFINITY;
    for (int gi = 0; gi < used; ++gi) mx = fmaxf(mx, m_s[gi * MQ + qi]);
    float num = 0.0f, den = 0.0f;
    if (mx != -INFINITY) {
      for (int gi = 0; gi < used; ++gi) {
        const float mg = m_s[gi * MQ + qi];
        if (mg == -INFINITY) continue;
        const float w = expf(mg - mx);
        num += w * acc_s[(gi * MQ + qi) * hd + d];
        den += w * l_s[gi * MQ + qi];
      }
    }
    if constexpr (kCluster) {
      cnum_s[idx] = num;
      if (d == 0) cm_s[qi] = mx, cl_s[qi] = den;
      continue;
    }
    const int r = tile.row_begin + qi / G, h = g * G + qi % G;
    if (sr.active == 1) {
      const float v = den > 0.0f ? num / den : 0.0f;
      const int64_t o = (static_cast<int64_t>(r) * a.nh + h) * hd + d;
      if (a.out_f) a.out_f[o] = v;
      if (a.out_b) a.out_b[o] = __float2bfloat16(v);
    } else {
      float* out = a.partials + ((static_cast<int64_t>(r) * a.nh + h) * a.splits + split) * (hd + 2);
      out[d] = num;
      if (d == 0) {
        out[hd] = mx;
        out[hd + 1] = den;
      }
    }
  }
  if constexpr (kCluster) {
    cluster_merge();
    return;
  }
  if (sr.active == 1) return;
  // Publish the partial; the last block of this (tile, kv head) merges.
  __threadfence();
  __syncthreads();
  unsigned int* done = &g_split_done[blockIdx.x * a.nkv + g];
  if (tid == 0) last_s = atomicAdd(done, 1u) == static_cast<unsigned int>(sr.active - 1);
  __syncthreads();
  if (!last_s) return;
  __threadfence();
  // The 256-thread shape (at most 16 active splits, two items a thread at hd 128): every split's value
  // of this thread's items loads now, with the weights' inputs below (one L2 round trip, not two).
  constexpr int kPreItems = kTh == 256 ? 2 : 1, kPreSplits = kTh == 256 ? 16 : 1;
  const bool pre = kTh == 256 && a.merge_preload && nq * hd <= kPreItems * kTh && sr.active <= kPreSplits;
  float pv[kPreItems][kPreSplits];
  if (pre) {
#pragma unroll
    for (int it = 0; it < kPreItems; ++it) {
      const int idx = tid + it * kTh, qi = idx / hd, d = idx - qi * hd;
      const int r = tile.row_begin + qi / G, h = g * G + qi % G;
      const float* base_p = a.partials + (static_cast<int64_t>(r) * a.nh + h) * a.splits * (hd + 2) + d;
#pragma unroll
      for (int sp = 0; sp < kPreSplits; ++sp) {
        pv[it][sp] = idx < nq * hd && sp < sr.active ? __ldcg(base_p + sp * (hd + 2)) : 0.0f;
      }
    }
  }
  // Merge weights per (query, split) first (all loads in parallel), then the accumulators.
  __shared__ float w_s[kV2MaxMq][kV2MaxSplits];
  for (int i = tid; i < nq * sr.active; i += kTh) {
    const int qi = i / sr.active, sp = i - qi * sr.active;
    const int r = tile.row_begin + qi / G, h = g * G + qi % G;
    const float* p = a.partials + ((static_cast<int64_t>(r) * a.nh + h) * a.splits + sp) * (hd + 2);
    const float ls = __ldcg(p + hd + 1);
    m_s[qi * kV2MaxSplits + sp] = ls > 0.0f ? __ldcg(p + hd) : -INFINITY;
    l_s[qi * kV2MaxSplits + sp] = ls;
  }
  __syncthreads();
  for (int j = tid; j < nq * sr.active; j += kTh) {
    const int qi = j / sr.active, sp = j - qi * sr.active;
    float mx = -INFINITY;
    for (int i = 0; i < sr.active; ++i) mx = fmaxf(mx, m_s[qi * kV2MaxSplits + i]);
    float den = 0.0f;
    for (int i = 0; i < sr.active; ++i) {
      const float mi = m_s[qi * kV2MaxSplits + i];
      if (mi != -INFINITY) den += expf(mi - mx) * l_s[qi * kV2MaxSplits + i];
    }
    const float mine = m_s[qi * kV2MaxSplits + sp];
    w_s[qi][sp] = mine == -INFINITY || !(den > 0.0f) ? 0.0f : expf(mine - mx) / den;
  }
  __syncthreads();
  for (int idx = tid, item = 0; idx < nq * hd; idx += kTh, ++item) {
    const int qi = idx / hd, d = idx - qi * hd;
    const int r = tile.row_begin + qi / G, h = g * G + qi % G;
    float v = 0.0f;
    if (pre) {
#pragma unroll
      for (int it = 0; it < kPreItems; ++it) {
        if (it != item) continue;
#pragma unroll
        for (int sp = 0; sp < kPreSplits; ++sp) {
          const float w = sp < sr.active ? w_s[qi][sp] : 0.0f;
          if (w != 0.0f) v += w * pv[it][sp];
        }
      }
    } else {
      const float* base_p = a.partials + (static_cast<int64_t>(r) * a.nh + h) * a.splits * (hd + 2) + d;
      float part[kV2MaxSplits];  // every split's value in flight at once (one L2 round trip), then added in order
#pragma unroll
      for (int sp = 0; sp < kV2MaxSplits; ++sp) part[sp] = sp < sr.active ? __ldcg(base_p + sp * (hd + 2)) : 0.0f;
#pragma unroll
      for (int sp = 0; sp < kV2MaxSplits; ++sp) {
        const float w = sp < sr.active ? w_s[qi][sp] : 0.0f;
        if (w != 0.0f) v += w * part[sp];
      }
    }
    const int64_t o = (static_cast<int64_t>(r) * a.nh + h) * hd + d;
    if (a.out_f) a.out_f[o] = v;
    if (a.out_b) a.out_b[o] = __float2bfloat16(v);
  }
  if (tid == 0) *done = 0u;  // ready for the next launch (graph replays included)
}

bool V2FromEnv() {
  static const bool on = EnvSwitch("MIXSERVE_ATTN_V2", true);
  return on;
}

// MIXSERVE_ATTN_EARLY=1: the v2 kernel lets the next kernel launch right after its own PDL wait
// (the fused O projection then prefetches its weights while attention runs). Default off.
bool V2EarlyFromEnv() {
  static const bool on = EnvSwitch("MIXSERVE_ATTN_EARLY", false);
  return on;
}

// Whether the v2 kernel takes these arguments.
bool V2Applies(const AttnArgs& a, int nq) {
  if (a.version == 1 || (a.version == 0 && !V2FromEnv())) return false;
  const int lanes = a.hd / 8;
  if (a.hd % 8 != 0 || lanes > 32 || (lanes & (lanes - 1)) != 0) return false;
  if (nq > kV2MaxMq || a.splits > kV2MaxSplits) return false;
  return a.splits == 1 || static_cast<int64_t>(a.n_tiles) * a.nkv <= kV2Counters;
}

// The v2 kernel's shape: keys per lane group and round, threads per block, least keys per split.
struct V2Shape {
  int keys = 4, threads = 0, min_chunk = kV2MinChunk;  // threads 0: 256 for 1-2 tiles, else 128
};
std::atomic<bool> g_shape_forced{false};
V2Shape g_shape_forced_value;

// MIXSERVE_ATTN_SHAPE=KEYSxTHREADS[:MINCHUNK] (KEYS 4 or 8, THREADS 128 or 256; default 4 keys, 32 keys
// a split at least, 256 threads for 1-2 tiles and 128 above: H200, 32 layers, bs1 134.0 -> 136.0 tok/s
// with 256, one launch at ctx 128 14.6 -> 11.7 us, but 33.2 -> 42.0 us at bs64); SetDecodeAttentionShape
// overrides it.
V2Shape GetV2Shape() {
  if (g_shape_forced.load(std::memory_order_acquire)) return g_shape_forced_value;
  static const V2Shape env = [] {
    V2Shape v;
    const char* e = std::getenv("MIXSERVE_ATTN_SHAPE");
    int keys = 0, threads = 0, chunk = 0;
    if (e != nullptr && std::sscanf(e, "%dx%d:%d", &keys, &threads, &chunk) >= 2) {
      if ((keys == 4 || keys == 8) && (threads == 128 || threads == 256)) v.keys = keys, v.threads = threads;
      if (chunk > 0) v.min_chunk = chunk;
    }
    return v;
  }();
  return env;
}

// kMinBlocks caps the registers of the 4-query kernel only (the 8-query one already spills at 255).
template <typename KV, int kKeys, int kTh, int kMinBlocks = 1>
void DispatchV2Shape(int nq, dim3 grid, const AttnArgs& a, cudaStream_t stream) {
  if (nq <= 4) {
    LaunchKernel(DecodeAttentionKernel<4, KV, kKeys, kTh, kMinBlocks>, grid, dim3(kTh), 0, stream, a);
  } else {  // 8 queries keep 128 threads: the merge buffers of 256 would pass the static shared-memory limit
    LaunchKernel(DecodeAttentionKernel<8, KV, kKeys, 128>, grid, dim3(128), 0, stream, a);
  }
}

// The 256-thread 4-query kernel merging its splits inside a thread-block cluster of kClusterMax CTAs
// (at most that many splits) instead of through global memory: by default for one tile whose keys fit
// one 64-key round per split (batch-1 decode; H200, 32 layers, session 19, alternating: bs1 at ctx 128
// 150.0-151.1 tok/s vs 148.1-148.3, ctx 500 +0.3%; ctx 1000 -0.4%, ctx 4000 -5% with 8 long splits
// against 16; at two tiles -0.9%). MIXSERVE_ATTN_CLUSTER=0: never, 1: also at two tiles and any span.
std::atomic<int> g_cluster_forced{-1};
constexpr int kClusterMaxSpan = kClusterMax * 64;
int ClusterMode() {
  const int forced = g_cluster_forced.load(std::memory_order_relaxed);
  if (forced >= 0) return forced;
  static const int env = EnvInt("MIXSERVE_ATTN_CLUSTER", -1);
  return env;
}

template <typename KV>
void DispatchV2(int nq, dim3 grid, const AttnArgs& a, cudaStream_t stream) {
  const V2Shape sh = GetV2Shape();
  const int threads = sh.threads > 0 ? sh.threads : (a.n_tiles <= 2 ? 256 : 128);
  if (threads == 256 && sh.keys == 4 && nq <= 4 && DecodeAttentionClusters(a.n_tiles, a.max_span)) {
    AttnArgs c = a;
    c.splits = c.max_active = kClusterMax;
    LaunchKernelInClusters(DecodeAttentionKernel<4, KV, 4, 256, 1, true>, dim3(grid.x, grid.y, kClusterMax), dim3(256),
                           0, stream, dim3(1, 1, kClusterMax), c);
    return;
  }
  // 256 threads take 64 keys a round: long contexts go in at most 16 splits (bs1, ctx 4000 on H200:
  // 129.1 -> 133.2 tok/s with 16 splits of 250 keys instead of 32 of 125; the merge is the cost).
  AttnArgs b = a;
  if (threads == 256 && b.max_active <= 0) b.max_active = 16;
  if (sh.keys == 8) {
    if (threads == 256) return DispatchV2Shape<KV, 8, 256>(nq, grid, b, stream);
    return DispatchV2Shape<KV, 8, 128>(nq, grid, b, stream);
  }
  if (threads == 256) return DispatchV2Shape<KV, 4, 256>(nq, grid, b, stream);
  // The 128-thread kernel (3+ tiles: batches of 3 and more) capped at 128 registers, so 4 blocks fit
  // an SM: bs 64's 512 blocks in one wave instead of 3 a SM at 168 registers (H200, 32 layers: bs 64
  // 2,437.8 / 2,428.9 / 2,442.8 tok/s vs 2,409.7 / 2,409.7 / 2,413.1, bs 32 +0.5%, ctx 1,000 even; a
  // few bytes spill). MIXSERVE_ATTN_OCC=1: the uncapped kernel.
  static const bool occ4 = EnvInt("MIXSERVE_ATTN_OCC", 4) == 4;
  if (occ4) return DispatchV2Shape<KV, 4, 128, 4>(nq, grid, b, stream);
  DispatchV2Shape<KV, 4, 128>(nq, grid, b, stream);
}

}  // namespace

bool DecodeAttentionApplies(const AttnArgs& a, int nq) { return V2Applies(a, nq); }

cudaError_t LaunchDecodeAttention(const AttnArgs& args, int nq, cudaStream_t stream) {
  AttnArgs a = args;
  a.early = a.early || V2EarlyFromEnv();
  static const bool kv_early = EnvSwitch("MIXSERVE_ATTN_KV_EARLY", true);
  a.old_keys_early = a.old_keys_early && kv_early && a.tile_rows == 1;
  static const bool merge_preload = EnvSwitch("MIXSERVE_ATTN_MERGE_PRELOAD", true);
  a.merge_preload = merge_preload;
  if (a.min_chunk <= 0) a.min_chunk = GetV2Shape().min_chunk;
  const dim3 grid(a.n_tiles, a.nkv, a.splits);
  if (a.kv_f32) {
    DispatchV2<float>(nq, grid, a, stream);
  } else {
    DispatchV2<bf16>(nq, grid, a, stream);
  }
  return cudaGetLastError();
}

void SetDecodeAttentionCluster(int mode) { g_cluster_forced.store(mode == 0 || mode == 1 ? mode : -1); }

bool DecodeAttentionClusters(int n_tiles, int max_span) {
  const int mode = ClusterMode();
  return mode == 1 || (mode < 0 && n_tiles == 1 && max_span > 0 && max_span <= kClusterMaxSpan);
}

void SetDecodeAttentionShape(int keys, int threads, int min_chunk) {
  if (keys <= 0) {
    g_shape_forced.store(false, std::memory_order_release);
    return;
  }
  g_shape_forced_value = V2Shape{keys == 8 ? 8 : 4, threads == 256 || threads == 128 ? threads : 0,
                                 min_chunk > 0 ? min_chunk : kV2MinChunk};
  g_shape_forced.store(true, std::memory_order_release);
}

int PagedAttentionSplits(int sms, int n_tiles, int nkv, int max_span, bool fixed_for_graph, int64_t per_split,
                         int64_t partial_elems) {
  const int base_blocks = std::max(1, n_tiles * nkv);
  int splits = std::clamp((2 * sms + base_blocks - 1) / base_blocks, 1, 32);
  // v2 gives each split at least kV2MinChunk keys on its own; the old kernel wants ~64 keys a split.
  const int min_keys = V2FromEnv() ? GetV2Shape().min_chunk : 64;
  if (!fixed_for_graph) splits = std::min(splits, std::max(1, (max_span + min_keys - 1) / min_keys));
  if (per_split > 0) splits = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(splits, partial_elems / per_split)));
  return splits;
}

}  // namespace mixserve::cuda
