// The MoE router kernels (v1: the one-block fused router, or two kernels past 64 pairs; v2: the
// GEMV split over blocks with the last block doing softmax / top-k / grouping) against a plain
// loop: top-k choice (ties to the lower index), renormalised weights, grouping by expert (compact
// and padded), experts touched; v2 also across repeated launches and CUDA-graph replays (its
// completion counter must reset itself).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "runtime/backend/cuda/kernels.h"
#include "runtime/backend/cuda/smoke.h"
#include "tests/gpu/cuda/cuda_test_util.h"

namespace mixserve::cuda {
namespace {

using test_util::Dev;

class CudaRouter : public test_util::GpuTest {
 protected:
  void TearDown() override { SetRouterVersion(0); }
  std::mt19937 rng_{99};
};

struct RouterCase {
  int T, H, E, k, pad_stride;
  bool tie;  // experts 1 and 2 get identical router rows: an exact tie, the lower index first
};

struct RouterOut {
  std::vector<int32_t> ids, offsets, sorted, pos, touched;
  std::vector<float> w;
};

// Reference top-k per token in double: probabilities, order by descending probability, stable.
void Reference(const std::vector<float>& xn, const std::vector<float>& router, const RouterCase& c,
               std::vector<std::vector<int>>* order, std::vector<std::vector<double>>* prob) {
  order->assign(c.T, {});
  prob->assign(c.T, {});
  for (int t = 0; t < c.T; ++t) {
    std::vector<double> p(c.E);
    for (int e = 0; e < c.E; ++e) {
      for (int i = 0; i < c.H; ++i) p[e] += static_cast<double>(xn[t * c.H + i]) * router[e * c.H + i];
    }
    const double mx = *std::max_element(p.begin(), p.end());
    double sum = 0;
    for (double& v : p) sum += (v = std::exp(v - mx));
    for (double& v : p) v /= sum;
    std::vector<int> o(c.E);
    std::iota(o.begin(), o.end(), 0);
    std::stable_sort(o.begin(), o.end(), [&](int a, int b) { return p[a] > p[b]; });
    (*order)[t] = o;
    (*prob)[t] = p;
  }
}

TEST_F(CudaRouter, SplitRouterMatchesLoopAndFusedRouter) {
  std::vector<RouterCase> cases = {{1, 4096, 8, 2, 0, false}, {1, 4096, 8, 2, 0, true},  {2, 4096, 8, 2, 0, false},
                                   {7, 4096, 8, 2, 0, false}, {8, 4096, 8, 2, 32, false}, {1, 6144, 16, 4, 0, false},
                                   {3, 32, 4, 2, 0, true},    {5, 256, 4, 1, 8, false},   {1, 12288, 8, 2, 0, false},
                                   {40, 4096, 8, 2, 0, false}, {64, 4096, 8, 2, 64, true}, {33, 1024, 16, 4, 0, false}};
  for (const RouterCase& c : cases) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> xn(static_cast<size_t>(c.T) * c.H), router(static_cast<size_t>(c.E) * c.H);
    for (float& v : xn) v = nd(rng_);
    for (float& v : router) v = __bfloat162float(__float2bfloat16(0.05f * nd(rng_)));
    if (c.tie) std::copy(router.begin() + c.H, router.begin() + 2 * c.H, router.begin() + 2 * c.H);
    if (c.tie) {
      // Make the tied pair the top two for token 0: scale their rows up (still exactly equal).
      for (int i = 0; i < c.H; ++i) {
        const float v = __bfloat162float(__float2bfloat16(router[c.H + i] + 0.3f * (xn[i] > 0 ? 1.0f : -1.0f)));
        router[c.H + i] = router[2 * c.H + i] = v;
      }
    }
    std::vector<bf16> rb(router.size());
    for (size_t i = 0; i < router.size(); ++i) rb[i] = __float2bfloat16(router[i]);
    Dev<float> dxn(xn);
    Dev<bf16> drouter(rb);
    const int n_pairs = c.T * c.k, sorted_rows = c.pad_stride > 0 ? c.E * c.pad_stride : n_pairs;
    std::vector<std::vector<int>> order;
    std::vector<std::vector<double>> prob;
    Reference(xn, router, c, &order, &prob);
    const std::string label = "T=" + std::to_string(c.T) + " H=" + std::to_string(c.H) + " E=" + std::to_string(c.E) +
                              " k=" + std::to_string(c.k) + " pad=" + std::to_string(c.pad_stride);
    RouterOut outs[3];
    for (int version : {1, 2, 3}) {
      SetRouterVersion(version);
      for (int rep = 0; rep < 2; ++rep) {  // v2's counter must be back at zero for the second launch
        Dev<int32_t> ids(n_pairs), offsets(c.E + 1), sorted(sorted_rows), pos(n_pairs), touched(std::vector<int32_t>{0});
        Dev<float> w(n_pairs);
        ASSERT_EQ(LaunchRouter(dxn.get(), drouter.get(), c.T, c.H, c.E, c.k, ids.get(), w.get(), offsets.get(),
                               sorted.get(), pos.get(), touched.get(), c.pad_stride, nullptr),
                  cudaSuccess);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << label;
        RouterOut o{ids.Get(), offsets.Get(), sorted.Get(), pos.Get(), touched.Get(), w.Get()};
        std::vector<int> count(c.E, 0);
        for (int t = 0; t < c.T; ++t) {
          double top = 0;
          for (int j = 0; j < c.k; ++j) top += prob[t][order[t][j]];
          for (int j = 0; j < c.k; ++j) {
            const int pair = t * c.k + j;
            // A near-tie (within fp32 rounding of the dot products) may go either way; exact ties may not.
            const int want = order[t][j];
            if (o.ids[pair] != want) {
              ASSERT_NEAR(prob[t][o.ids[pair]], prob[t][want], 1e-6) << label << " v" << version << " token " << t;
            }
            EXPECT_NEAR(o.w[pair], prob[t][o.ids[pair]] / top, 1e-5) << label;
            ++count[o.ids[pair]];
            const int p = o.pos[pair];
            EXPECT_EQ(o.sorted[p], pair) << label;
            const int begin = c.pad_stride > 0 ? o.ids[pair] * c.pad_stride : o.offsets[o.ids[pair]];
            EXPECT_GE(p, begin) << label;
            EXPECT_LT(p, begin + o.offsets[o.ids[pair] + 1] - o.offsets[o.ids[pair]]) << label;
          }
        }
        if (c.tie) {
          EXPECT_EQ(o.ids[0], 1) << label << " v" << version << ": exact tie must go to the lower index";
          EXPECT_EQ(o.ids[1], 2) << label << " v" << version;
        }
        int run = 0, used = 0;
        for (int e = 0; e < c.E; ++e) {
          EXPECT_EQ(o.offsets[e], run) << label;
          run += count[e];
          used += count[e] > 0;
        }
        EXPECT_EQ(o.offsets[c.E], n_pairs) << label;
        EXPECT_EQ(o.touched[0], used) << label;
        if (rep == 1 || version == 1) outs[version - 1] = o;
      }
    }
    // Every version picks the same experts with the same weights (to fp32 rounding).
    for (int v = 1; v < 3; ++v) {
      for (int i = 0; i < n_pairs; ++i) {
        if (outs[0].ids[i] == outs[v].ids[i]) {
          EXPECT_NEAR(outs[0].w[i], outs[v].w[i], 1e-6) << label << " v" << v + 1 << " pair " << i;
        } else {
          const int t = i / c.k;
          EXPECT_NEAR(prob[t][outs[0].ids[i]], prob[t][outs[v].ids[i]], 1e-6) << label << " v" << v + 1 << " pair " << i;
        }
      }
    }
  }
}

// The default dispatch: the split router for small T only, never the one-block fused router (138 us
// at T=32 on H200); forced versions as SetRouterVersion says. Host-side: runs without a GPU too.
TEST(RouterDispatch, SplitForSmallTTwoKernelAboveNeverFused) {
  SetRouterVersion(0);
  const bool old_dispatch = [] {
    const char* v = std::getenv("MIXSERVE_ROUTER_V2");
    return v != nullptr && v[0] == '0';
  }();
  const char* max_env = std::getenv("MIXSERVE_ROUTER_V2_MAX");
  const int v2_max = max_env != nullptr && *max_env != '\0' ? std::clamp(std::atoi(max_env), 0, 64) : 16;
  for (int T = 1; T <= 256; ++T) {
    const RouterKind got = ChooseRouter(T, 4096, 8, 2);
    if (old_dispatch) {
      EXPECT_EQ(got, T * 2 <= 64 ? RouterKind::kFused : RouterKind::kTwoKernel) << "T=" << T;
    } else {
      EXPECT_NE(got, RouterKind::kFused) << "T=" << T;
      EXPECT_EQ(got, T <= v2_max ? RouterKind::kSplit : RouterKind::kTwoKernel) << "T=" << T;
    }
  }
  EXPECT_EQ(ChooseRouter(4, 4096, 1, 1), RouterKind::kTwoKernel);  // dense: the align kernel
  EXPECT_EQ(ChooseRouter(4, 100, 8, 2), RouterKind::kTwoKernel);  // H % 8 != 0: neither one-pass router
  SetRouterVersion(1);
  EXPECT_EQ(ChooseRouter(32, 4096, 8, 2), RouterKind::kFused);
  EXPECT_EQ(ChooseRouter(33, 4096, 8, 2), RouterKind::kTwoKernel);
  SetRouterVersion(2);
  EXPECT_EQ(ChooseRouter(64, 4096, 8, 2), RouterKind::kSplit);
  EXPECT_EQ(ChooseRouter(65, 4096, 8, 2), RouterKind::kTwoKernel);
  SetRouterVersion(3);
  EXPECT_EQ(ChooseRouter(1, 4096, 8, 2), RouterKind::kTwoKernel);
  SetRouterVersion(0);
}

// v2 in a CUDA graph, replayed: identical outputs every time.
TEST_F(CudaRouter, SplitRouterReplaysInGraph) {
  SetRouterVersion(2);
  const int T = 1, H = 4096, E = 8, k = 2;
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> xn(T * H);
  std::vector<bf16> rb(E * H);
  for (float& v : xn) v = nd(rng_);
  for (bf16& v : rb) v = __float2bfloat16(0.05f * nd(rng_));
  Dev<float> dxn(xn), w(T * k);
  Dev<bf16> drouter(rb);
  Dev<int32_t> ids(T * k), offsets(E + 1), sorted(T * k), pos(T * k);
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_EQ(LaunchRouter(dxn.get(), drouter.get(), T, H, E, k, ids.get(), w.get(), offsets.get(), sorted.get(),
                         pos.get(), nullptr, 0, stream),
            cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  const auto want_ids = ids.Get();
  const auto want_w = w.Get();
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  ASSERT_EQ(LaunchRouter(dxn.get(), drouter.get(), T, H, E, k, ids.get(), w.get(), offsets.get(), sorted.get(),
                         pos.get(), nullptr, 0, stream),
            cudaSuccess);
  ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  for (int i = 0; i < 3; ++i) {
    ids.Poison();
    w.Poison();
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    EXPECT_EQ(ids.Get(), want_ids) << "replay " << i;
    EXPECT_EQ(w.Get(), want_w) << "replay " << i;
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

// Not a test: per-launch times of the routers at Mixtral's shape (run with
// --gtest_also_run_disabled_tests --gtest_filter='*Timings*').
TEST_F(CudaRouter, DISABLED_Timings) {
  const int H = 4096, E = 8, k = 2;
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int T : {1, 2, 8, 12, 16, 24, 32, 64}) {
    std::vector<float> xn(static_cast<size_t>(T) * H);
    std::vector<bf16> rb(static_cast<size_t>(E) * H);
    for (float& v : xn) v = nd(rng_);
    for (bf16& v : rb) v = __float2bfloat16(0.05f * nd(rng_));
    Dev<float> dxn(xn), w(T * k);
    Dev<bf16> drouter(rb);
    Dev<int32_t> ids(T * k), offsets(E + 1), sorted(T * k), pos(T * k);
    for (int version : {1, 2, 3}) {
      SetRouterVersion(version);
      auto launch = [&] {
        LaunchRouter(dxn.get(), drouter.get(), T, H, E, k, ids.get(), w.get(), offsets.get(), sorted.get(), pos.get(),
                     nullptr, 0, stream);
      };
      for (int i = 0; i < 3; ++i) launch();
      const int n = 100;
      cudaEventRecord(e0, stream);
      for (int i = 0; i < n; ++i) launch();
      cudaEventRecord(e1, stream);
      ASSERT_EQ(cudaEventSynchronize(e1), cudaSuccess);
      float ms = 0;
      cudaEventElapsedTime(&ms, e0, e1);
      std::printf("router v%d T %2d: %6.2f us/launch%s\n", version, T, 1000.0 * ms / n,
                  version == 3 || T * k > 64 ? " (the two-kernel router)" : "");
    }
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  cudaStreamDestroy(stream);
}

}  // namespace
}  // namespace mixserve::cuda
