// Sampling on the GPU without copying the vocabulary out: greedy argmax, and temperature / top-k /
// top-p sampling (thresholds found by bisection over the logit values, then one prefix walk).
#include <cfloat>

#include "runtime/backend/cuda/common.cuh"
#include "runtime/backend/cuda/kernels.h"

namespace mixserve::cuda {
namespace {

__global__ void ArgmaxKernel(const float* logits, int V, int32_t* out, bool early) {
  GridDepWait();
  GridDepLaunch(early);
  __shared__ float best_v[32];
  __shared__ int best_i[32];
  const float* row = logits + static_cast<int64_t>(blockIdx.x) * V;
  float bv = -INFINITY;
  int bi = V;
  for (int v = threadIdx.x; v < V; v += blockDim.x) {
    float x = row[v];
    if (x > bv) {  // strided walk: the first hit per thread is its lowest index
      bv = x;
      bi = v;
    }
  }
  for (int o = 16; o > 0; o >>= 1) {
    float ov = __shfl_xor_sync(0xffffffffu, bv, o);
    int oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (ov > bv || (ov == bv && oi < bi)) {
      bv = ov;
      bi = oi;
    }
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    best_v[warp] = bv;
    best_i[warp] = bi;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < static_cast<int>(blockDim.x / 32); ++w) {
      if (best_v[w] > bv || (best_v[w] == bv && best_i[w] < bi)) {
        bv = best_v[w];
        bi = best_i[w];
      }
    }
    out[blockIdx.x] = bi < V ? bi : 0;
  }
}

constexpr int kSampleThreads = 1024;

__device__ __forceinline__ uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

__device__ float BlockMaxF(float v, float* scratch) {
  v = WarpMax(v);
  __syncthreads();
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
  __syncthreads();
  float r = -INFINITY;
  for (int i = 0; i < static_cast<int>(blockDim.x >> 5); ++i) r = fmaxf(r, scratch[i]);
  return r;
}

// One block per row; thread t owns the contiguous indices [t * chunk, (t + 1) * chunk).
__global__ void SampleKernel(const float* logits, int V, const float* temperature, const int32_t* top_k,
                             const float* top_p, const uint64_t* seeds, int32_t* out) {
  GridDepWait();
  __shared__ float scratch[32];
  __shared__ float warp_prefix[32];
  __shared__ int chosen;
  const int r = blockIdx.x, tid = threadIdx.x;
  const float* row = logits + static_cast<int64_t>(r) * V;
  const int chunk = (V + kSampleThreads - 1) / kSampleThreads;
  const int begin = min(V, tid * chunk), end = min(V, begin + chunk);
  const float temp = temperature[r];
  const int k = top_k[r];
  const float p = top_p[r];

  float local_max = -INFINITY, local_min = INFINITY;
  int local_arg = V;
  for (int v = begin; v < end; ++v) {
    if (row[v] > local_max) {
      local_max = row[v];
      local_arg = v;
    }
    local_min = fminf(local_min, row[v]);
  }
  const float mx = BlockMaxF(local_max, scratch);
  const float mn = -BlockMaxF(-local_min, scratch);
  if (temp <= 0.0f || k == 1) {  // greedy: the lowest index holding the maximum
    if (tid == 0) chosen = V;
    __syncthreads();
    if (local_max == mx) atomicMin(&chosen, local_arg);
    __syncthreads();
    if (tid == 0) out[r] = chosen < V ? chosen : 0;
    return;
  }
  const float inv_t = 1.0f / temp;
  // Top-k threshold: the largest tau with at least k logits >= tau.
  float tau = -INFINITY;
  if (k > 0 && k < V) {
    float lo = mn, hi = mx;
    for (int it = 0; it < 40; ++it) {
      const float mid = 0.5f * (lo + hi);
      float cnt = 0.0f;
      for (int v = begin; v < end; ++v) cnt += row[v] >= mid ? 1.0f : 0.0f;
      if (BlockSum(cnt, scratch) >= static_cast<float>(k)) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    tau = lo;
  }
  float mass = 0.0f;
  for (int v = begin; v < end; ++v) mass += row[v] >= tau ? expf((row[v] - mx) * inv_t) : 0.0f;
  const float mass_k = BlockSum(mass, scratch);
  // Top-p threshold: the largest tau' >= tau whose kept mass still reaches p of the top-k mass.
  if (p < 1.0f) {
    float lo = tau == -INFINITY ? mn : tau, hi = mx;
    for (int it = 0; it < 40; ++it) {
      const float mid = 0.5f * (lo + hi);
      float m = 0.0f;
      for (int v = begin; v < end; ++v) m += row[v] >= mid && row[v] >= tau ? expf((row[v] - mx) * inv_t) : 0.0f;
      if (BlockSum(m, scratch) >= p * mass_k) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    tau = fmaxf(tau, lo);
  }
  // Prefix walk over the kept tokens in index order.
  float own = 0.0f;
  int last_kept = -1;
  for (int v = begin; v < end; ++v) {
    if (row[v] >= tau) {
      own += expf((row[v] - mx) * inv_t);
      last_kept = v;
    }
  }
  const int lane = tid & 31, warp = tid >> 5;
  float incl = own;
  for (int o = 1; o < 32; o <<= 1) {
    const float n = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += n;
  }
  __syncthreads();
  if (lane == 31) warp_prefix[warp] = incl;
  if (tid == 0) chosen = -1;
  __syncthreads();
  float before = incl - own;
  float total = 0.0f;
  for (int w = 0; w < kSampleThreads / 32; ++w) {
    if (w < warp) before += warp_prefix[w];
    total += warp_prefix[w];
  }
  const float u = static_cast<float>(Mix(seeds[r] ^ 0x9e3779b97f4a7c15ULL) >> 40) * (1.0f / 16777216.0f) * total;
  if (own > 0.0f && u >= before && u < before + own) {
    float acc = before;
    int pick = last_kept;
    for (int v = begin; v < end; ++v) {
      if (row[v] >= tau) {
        acc += expf((row[v] - mx) * inv_t);
        if (u < acc) {
          pick = v;
          break;
        }
      }
    }
    chosen = pick;
  }
  __syncthreads();
  if (chosen < 0) {  // rounding put u past the last prefix: the last kept token
    __shared__ int last;
    if (tid == 0) last = -1;
    __syncthreads();
    atomicMax(&last, last_kept);
    __syncthreads();
    if (tid == 0) out[r] = last;
    return;
  }
  if (tid == 0) out[r] = chosen;
}

}  // namespace

cudaError_t LaunchSample(const float* logits, int rows, int V, const float* temperature, const int32_t* top_k,
                         const float* top_p, const uint64_t* seeds, int32_t* out, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  LaunchKernel(SampleKernel, dim3(rows), dim3(kSampleThreads), 0, stream, logits, V, temperature, top_k, top_p, seeds,
               out);
  return cudaGetLastError();
}

cudaError_t LaunchArgmax(const float* logits, int rows, int V, int32_t* out, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  LaunchKernel(ArgmaxKernel, dim3(rows), dim3(1024), 0, stream, logits, V, out, EarlyTriggerEnabled());
  return cudaGetLastError();
}

}  // namespace mixserve::cuda
