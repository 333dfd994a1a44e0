// The MoE expert paths (moe_experts.h: padded per-expert loop, padded strided-batched, grouped loop,
// grouped padded-batched, grouped on forked streams) on hand-made routings, against a plain CPU loop, with
// the grouped down GEMMs tuned per M bucket with MIXSERVE_LT_BUCKET=1; and LtGemm's tuning (results
// unchanged, caller's y never touched while timing, no tuning during graph capture).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

#include "runtime/backend/cuda/kernels.h"
#include "runtime/backend/cuda/lt_gemm.h"
#include "runtime/backend/cuda/moe_experts.h"
#include "runtime/backend/cuda/smoke.h"
#include "tests/gpu/cuda/cuda_test_util.h"

namespace mixserve::cuda {
namespace {

using test_util::Bf;
using test_util::Dev;
using test_util::Err;
using test_util::RandBf;
using test_util::RefGemm;
using test_util::ToBf;

// How tokens pick experts: uniformly; only experts 0..4 (5..7 get no token); expert 0 for every
// token (one group as large as the batch, the rest small).
enum class Pattern { kUniform, kSkewed, kHot };

// A routing as the router leaves it: expert of each pair, compact offsets, and the pairs grouped
// compactly or padded to `stride` rows per expert, with each pair's row.
struct Routing {
  std::vector<int32_t> topk_ids, offsets, sorted, pos;
};

Routing Route(std::mt19937& rng, int T, int E, int k, Pattern pattern, int stride) {
  Routing r;
  r.topk_ids.resize(static_cast<size_t>(T) * k);
  const int pool = pattern == Pattern::kSkewed ? 5 : E;
  for (int t = 0; t < T; ++t) {
    std::vector<int> order(pool);
    for (int e = 0; e < pool; ++e) order[e] = e;
    std::shuffle(order.begin(), order.end(), rng);
    if (pattern == Pattern::kHot) std::iter_swap(order.begin(), std::find(order.begin(), order.end(), 0));
    for (int j = 0; j < k; ++j) r.topk_ids[t * k + j] = order[j];
  }
  std::vector<int32_t> count(E, 0);
  for (int32_t e : r.topk_ids) ++count[e];
  r.offsets.assign(E + 1, 0);
  for (int e = 0; e < E; ++e) r.offsets[e + 1] = r.offsets[e] + count[e];
  r.sorted.assign(stride > 0 ? static_cast<size_t>(E) * stride : r.topk_ids.size(), 0);
  r.pos.resize(r.topk_ids.size());
  std::vector<int32_t> cursor(E);
  for (int e = 0; e < E; ++e) cursor[e] = stride > 0 ? e * stride : r.offsets[e];
  for (size_t p = 0; p < r.topk_ids.size(); ++p) {
    const int row = cursor[r.topk_ids[p]]++;
    r.sorted[row] = static_cast<int32_t>(p);
    r.pos[p] = row;
  }
  return r;
}

class MoeExpertsTest : public ::testing::Test {
 protected:
  static constexpr int kE = 8, kK = 2, kH = 128, kI = 256, kMaxT = 256, kRows = kE * kMaxT;

  void SetUp() override {
    if (DeviceCount() == 0) GTEST_SKIP() << "skipped: no GPU";
    ASSERT_TRUE(lt_.Init().ok());
    xn_ = RandBf(rng_, static_cast<size_t>(kMaxT) * kH, 1.0f);
    w13_ = RandBf(rng_, static_cast<size_t>(kE) * 2 * kI * kH, 0.05f);
    w2_ = RandBf(rng_, static_cast<size_t>(kE) * kH * kI, 0.05f);
    d_xn_ = std::make_unique<Dev<bf16>>(ToBf(xn_));
    d_w13_ = std::make_unique<Dev<bf16>>(ToBf(w13_));
    d_w2_ = std::make_unique<Dev<bf16>>(ToBf(w2_));
  }

  // The down projection of pair p (token p / k through expert topk_ids[p]), rounding gate/up and
  // the activation to bf16 where the GPU path stores them.
  std::vector<float> Reference(const std::vector<int32_t>& topk_ids) const {
    std::vector<float> out(topk_ids.size() * kH);
    std::vector<float> act(kI);
    for (size_t p = 0; p < topk_ids.size(); ++p) {
      const int e = topk_ids[p];
      const float* x = &xn_[(p / kK) * kH];
      const float* w13 = &w13_[static_cast<size_t>(e) * 2 * kI * kH];
      const float* w2 = &w2_[static_cast<size_t>(e) * kH * kI];
      for (int j = 0; j < kI; ++j) {
        double g = 0, u = 0;
        for (int h = 0; h < kH; ++h) {
          g += static_cast<double>(x[h]) * w13[static_cast<size_t>(j) * kH + h];
          u += static_cast<double>(x[h]) * w13[static_cast<size_t>(kI + j) * kH + h];
        }
        const float gb = Bf(static_cast<float>(g)), ub = Bf(static_cast<float>(u));
        act[j] = Bf(gb / (1.0f + std::exp(-gb)) * ub);
      }
      for (int h = 0; h < kH; ++h) {
        double s = 0;
        for (int j = 0; j < kI; ++j) s += static_cast<double>(act[j]) * w2[static_cast<size_t>(h) * kI + j];
        out[p * kH + h] = static_cast<float>(s);
      }
    }
    return out;
  }

  // Runs one path on routing r; returns each pair's output row (read through the final pos_of_pair).
  std::vector<float> RunPath(const Routing& r, bool padded, int stride, bool batched, int mode) {
    Dev<int32_t> ids(r.topk_ids), offsets(r.offsets), sorted(r.sorted), pos(r.pos);
    Dev<bf16> xs(static_cast<size_t>(kRows) * kH), gu(static_cast<size_t>(kRows) * 2 * kI),
        act(static_cast<size_t>(kRows) * kI);
    Dev<float> out(static_cast<size_t>(kRows) * kH);
    MoeExperts m;
    m.w13 = d_w13_->get();
    m.w2 = d_w2_->get();
    m.E = kE;
    m.H = kH;
    m.I = kI;
    m.k = kK;
    m.xn = d_xn_->get();
    m.topk_ids = ids.get();
    m.offsets = offsets.get();
    m.sorted_pairs = sorted.get();
    m.pos_of_pair = pos.get();
    m.xs = xs.get();
    m.gu = gu.get();
    m.act = act.get();
    m.out = out.get();
    m.max_rows = kRows;
    const Status st = padded ? RunPaddedExperts(lt_, nullptr, m, stride, batched)
                             : RunGroupedExperts(lt_, nullptr, m, r.offsets, mode, &lanes_);
    EXPECT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const std::vector<int32_t> rows = pos.Get();
    const std::vector<float> all = out.Get();
    std::vector<float> got(r.topk_ids.size() * kH);
    for (size_t p = 0; p < rows.size(); ++p) {
      EXPECT_TRUE(rows[p] >= 0 && rows[p] < kRows) << "pair " << p << " row " << rows[p];
      if (rows[p] < 0 || rows[p] >= kRows) return {};
      std::copy_n(&all[static_cast<size_t>(rows[p]) * kH], kH, &got[p * kH]);
    }
    return got;
  }

  std::mt19937 rng_{4321};
  LtGemm lt_;
  MoeLanes lanes_;
  std::vector<float> xn_, w13_, w2_;
  std::unique_ptr<Dev<bf16>> d_xn_, d_w13_, d_w2_;
};

constexpr int kTokens[] = {1, 2, 7, 16, 33, 64, 100, 128, 256};
constexpr double kTol = 1e-2;

TEST_F(MoeExpertsTest, PaddedLoopAndBatchedMatchReference) {
  for (Pattern pattern : {Pattern::kUniform, Pattern::kSkewed, Pattern::kHot}) {
    for (int T : kTokens) {
      const int S = std::max(T, 32);  // as CudaModel::PaddedStride: a count never exceeds T
      const Routing r = Route(rng_, T, kE, kK, pattern, S);
      const std::vector<float> want = Reference(r.topk_ids);
      const std::vector<float> loop = RunPath(r, true, S, false, 0);
      const std::vector<float> batched = RunPath(r, true, S, true, 0);
      EXPECT_LT(Err(loop, want), kTol) << "loop T=" << T << " pattern=" << static_cast<int>(pattern);
      EXPECT_LT(Err(batched, want), kTol) << "batched T=" << T << " pattern=" << static_cast<int>(pattern);
      EXPECT_LT(Err(batched, loop), kTol) << "batched vs loop T=" << T;
    }
  }
}

TEST_F(MoeExpertsTest, GroupedModesMatchReference) {
  for (Pattern pattern : {Pattern::kUniform, Pattern::kSkewed, Pattern::kHot}) {
    for (int T : kTokens) {
      const Routing r = Route(rng_, T, kE, kK, pattern, 0);
      const int S = PrefillStride(r.offsets, kRows);
      if (pattern == Pattern::kUniform) {
        EXPECT_GT(S, 0) << "T=" << T << ": the padded-batched layout should be taken";
      } else if (pattern == Pattern::kHot && T > 64) {
        EXPECT_EQ(S, 0) << "T=" << T << ": one expert holding every token pads too much";
      }
      const std::vector<float> want = Reference(r.topk_ids);
      EXPECT_LT(Err(RunPath(r, false, 0, false, 0), want), kTol) << "loop T=" << T << " pattern=" << static_cast<int>(pattern);
      for (int mode : {1, 2, 3, 4}) {
        EXPECT_LT(Err(RunPath(r, false, 0, false, mode), want), kTol)
            << "mode " << mode << " T=" << T << " pattern=" << static_cast<int>(pattern);
      }
    }
  }
  // MIXSERVE_LT_BUCKET=1 (default 0): the grouped down GEMMs above were tuned per M bucket.
  if (GetMoeSwitches().lt_bucket >= 1 && lt_.tuning() != 0) {
    EXPECT_GT(lt_.tuned_buckets(), 0);
  } else {
    EXPECT_EQ(lt_.tuned_buckets(), 0);
  }
}

// Host-side layout choices: run without a GPU too.
TEST(MoeLayout, PrefillStrideRoundsAndRefuses) {
  EXPECT_EQ(PrefillStride({0, 100, 200, 300, 400}, 4096), 128);  // largest count 100 -> 128
  EXPECT_EQ(PrefillStride({0, 64, 128}, 4096), 64);
  EXPECT_EQ(PrefillStride({0, 100, 200, 300, 400}, 500), 0);      // 4 * 128 rows do not fit 500
  EXPECT_EQ(PrefillStride({0, 1000, 1000, 1000, 1001}, 8192), 0); // 4 * 1024 rows for 1001 pairs
  EXPECT_EQ(PrefillStride({0, 0, 0}, 4096), 0);                   // nothing to run
  EXPECT_EQ(PrefillStride({0, 10}, 4096), 0);                     // one expert: the loop
}

TEST(MoeLayout, ScratchRowsHoldPairsPaddingAndPaddedPath) {
  EXPECT_EQ(MoeScratchRows(4096, 1, 1, 64), 4096);                      // dense: one row a token
  EXPECT_EQ(MoeScratchRows(4096, 8, 2, 64), 8192 + 1024 + 256);        // pairs + an eighth + 32 an expert
  EXPECT_EQ(MoeScratchRows(64, 8, 2, 64), 8 * 64);                     // the padded path needs more
  // A 4k prompt's groups (mean 1024 pairs an expert) padded to 1056 rows fit.
  std::vector<int32_t> off = {0};
  for (int e = 0; e < 8; ++e) off.push_back(off.back() + (e == 3 ? 1050 : 1020));
  const int S = PrefillStride(off, MoeScratchRows(4096, 8, 2, 64));
  EXPECT_EQ(S, 1056);
}

// y = y0 + x . W^T through LtGemm with tuning on (split-K variants too), for a plain and a
// strided-batched shape; the result must not depend on whether or how the shape was tuned.
TEST_F(MoeExpertsTest, LtTuningKeepsResultsAndSkipsCapture) {
  LtGemm tuned;
  ASSERT_TRUE(tuned.Init().ok());
  tuned.SetTuning(2);
  const int M = 64, N = 384, K = 2048, B = 3;
  const auto x = RandBf(rng_, static_cast<size_t>(B) * M * K, 1.0f), w = RandBf(rng_, static_cast<size_t>(B) * N * K, 0.05f);
  const auto y0 = RandBf(rng_, static_cast<size_t>(B) * M * N, 1.0f);
  std::vector<float> want(y0);
  for (int b = 0; b < B; ++b)
    for (int m = 0; m < M; ++m)
      for (int n = 0; n < N; ++n) {
        double s = 0;
        for (int kk = 0; kk < K; ++kk)
          s += static_cast<double>(x[(static_cast<size_t>(b) * M + m) * K + kk]) * w[(static_cast<size_t>(b) * N + n) * K + kk];
        want[(static_cast<size_t>(b) * M + m) * N + n] += static_cast<float>(s);
      }
  Dev<bf16> dx(ToBf(x)), dw(ToBf(w));
  // Plain accumulate on batch 0: tuning must leave the caller's y alone (it times on scratch).
  Dev<float> y(y0);
  ASSERT_TRUE(tuned.Run(nullptr, M, N, K, dx.get(), dw.get(), y.get(), nullptr, true).ok());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(tuned.tuned_shapes(), 1);
  std::vector<float> got = y.Get();
  got.resize(static_cast<size_t>(M) * N);
  EXPECT_LT(Err(got, std::vector<float>(want.begin(), want.begin() + static_cast<size_t>(M) * N)), 1e-3);
  // Cached: a second call runs the same choice without tuning again.
  y.Put(y0);
  ASSERT_TRUE(tuned.Run(nullptr, M, N, K, dx.get(), dw.get(), y.get(), nullptr, true).ok());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(tuned.tuned_shapes(), 1);
  // A strided-batched shape first met while capturing: heuristic choice, no tuning, graph correct.
  GemmSpec g;
  g.M = M;
  g.N = N;
  g.K = K;
  g.batch = B;
  g.x = dx.get();
  g.ldx = K;
  g.stride_x = static_cast<int64_t>(M) * K;
  g.w = dw.get();
  g.ldw = K;
  g.stride_w = static_cast<int64_t>(N) * K;
  g.ldy = N;
  g.stride_y = static_cast<int64_t>(M) * N;
  g.beta = 1.0f;
  y.Put(y0);
  g.y = y.get();
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  const Status captured = tuned.Run(stream, g);
  ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
  ASSERT_TRUE(captured.ok()) << captured.message();
  EXPECT_EQ(tuned.tuned_shapes(), 1);
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  EXPECT_LT(Err(y.Get(), want), 1e-3);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  // The same batched shape in bf16 output, tuned eagerly this time.
  Dev<bf16> yb(ToBf(y0));
  g.y = yb.get();
  g.y_f32 = false;
  ASSERT_TRUE(tuned.Run(stream, g).ok());
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  EXPECT_EQ(tuned.tuned_shapes(), 2);
  std::vector<float> got_b;
  for (bf16 v : yb.Get()) got_b.push_back(__bfloat162float(v));
  EXPECT_LT(Err(got_b, want), 1e-2);
  // A shape marked not to tune (per-expert groups) keeps the heuristic's choice even eagerly.
  GemmSpec group = g;
  group.M = 40;
  group.batch = 1;
  group.beta = 0.0f;
  group.tune = false;
  ASSERT_TRUE(tuned.Run(stream, group).ok());
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  EXPECT_EQ(tuned.tuned_shapes(), 2);
  cudaStreamDestroy(stream);
}

// LT_TUNE=3 also times the shapes marked tune = false (per-expert and padded prefill GEMMs); the
// limits (M, shape count, wall time) keep the heuristic's choice; results never change.
TEST_F(MoeExpertsTest, LtTuneAllShapesWithinLimits) {
  const int N = 256, K = 1024;
  const auto x = RandBf(rng_, static_cast<size_t>(96) * K, 1.0f), w = RandBf(rng_, static_cast<size_t>(N) * K, 0.05f);
  Dev<bf16> dx(ToBf(x)), dw(ToBf(w));
  auto want = [&](int M) { return RefGemm(x, w, M, N, K); };
  auto run = [&](LtGemm& lt, int M, bool tune = false) {
    GemmSpec g;
    g.M = M;
    g.N = N;
    g.K = K;
    g.x = dx.get();
    g.ldx = K;
    g.w = dw.get();
    g.ldw = K;
    Dev<float> y(static_cast<size_t>(M) * N);
    g.y = y.get();
    g.ldy = N;
    g.tune = tune;
    EXPECT_TRUE(lt.Run(nullptr, g).ok());
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_LT(Err(y.Get(), want(M)), 1e-3) << "M=" << M;
  };
  LtGemm two, three;
  ASSERT_TRUE(two.Init().ok());
  ASSERT_TRUE(three.Init().ok());
  two.SetTuning(2);
  two.SetTuneLimits(256, 60000, 0);
  run(two, 40);
  EXPECT_EQ(two.tuned_shapes(), 0) << "mode 2 leaves tune = false shapes alone";
  three.SetTuning(3);
  three.SetTuneLimits(256, 60000, 64);
  run(three, 40);
  EXPECT_EQ(three.tuned_shapes(), 1) << "mode 3 tunes tune = false shapes";
  run(three, 40);
  EXPECT_EQ(three.tuned_shapes(), 1) << "cached";
  run(three, 96);
  EXPECT_EQ(three.tuned_shapes(), 1) << "M above the MAX_M limit";
  three.SetTuneLimits(256, 0, 0);
  run(three, 48);
  EXPECT_EQ(three.tuned_shapes(), 1) << "wall-time budget spent";
  three.SetTuneLimits(1, 60000, 0);
  run(three, 56);
  EXPECT_EQ(three.tuned_shapes(), 1) << "shape budget spent";
  three.SetTuneLimits(2, 60000, 0);
  run(three, 72);
  EXPECT_EQ(three.tuned_shapes(), 2);
  // The automatic mode: only inside the window, only tune = true shapes with M <= 256.
  LtGemm autotune;
  ASSERT_TRUE(autotune.Init().ok());
  autotune.SetTuning(LtGemm::kTuneAuto);
  autotune.SetTuneLimits(256, 60000, 0);
  run(autotune, 32, true);
  EXPECT_EQ(autotune.tuned_shapes(), 0) << "window closed";
  autotune.SetTuneWindow(true);
  run(autotune, 40, false);
  EXPECT_EQ(autotune.tuned_shapes(), 0) << "tune = false shape";
  run(autotune, 48, true);
  EXPECT_EQ(autotune.tuned_shapes(), 1);
  autotune.SetTuneWindow(false);
  run(autotune, 56, true);
  EXPECT_EQ(autotune.tuned_shapes(), 1) << "window closed again";
}

// SiluMul (the grouped path's activation): the 8-wide kernel (I % 8 == 0, aligned) and the scalar
// fallback (odd I, or a pointer off 16 bytes) against a CPU loop.
TEST_F(MoeExpertsTest, SiluMulVectorAndScalarMatchLoop) {
  for (int I : {256, 14336 / 16, 12, 16}) {
    for (int shift : {0, 1}) {
      const int n = 37;
      const auto gu = RandBf(rng_, static_cast<size_t>(n) * 2 * I + shift, 2.0f);
      Dev<bf16> dgu(ToBf(gu));
      Dev<bf16> act(static_cast<size_t>(n) * I + shift);
      ASSERT_EQ(LaunchSiluMul(act.get() + shift, dgu.get() + shift, n, I, nullptr), cudaSuccess);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      const std::vector<bf16> got = act.Get();
      double worst = 0;
      for (int r = 0; r < n; ++r)
        for (int j = 0; j < I; ++j) {
          const float g = gu[shift + static_cast<size_t>(r) * 2 * I + j], u = gu[shift + static_cast<size_t>(r) * 2 * I + I + j];
          const float ref = g / (1.0f + std::exp(-g)) * u;
          const float v = __bfloat162float(got[shift + static_cast<size_t>(r) * I + j]);
          worst = std::max(worst, static_cast<double>(std::fabs(v - ref)) / (std::fabs(ref) + 1e-2));
        }
      EXPECT_LT(worst, 1e-2) << "I=" << I << " shift=" << shift;
    }
  }
}

TEST(MoeLayout, PrefillPadPercentBoundsTheWaste) {
  // 4 experts, 1000 pairs, largest 290 -> S = 320: 1280 rows, 280 of padding (28% of the pairs).
  const std::vector<int32_t> off = {0, 290, 530, 770, 1000};
  EXPECT_EQ(PrefillStride(off, 8192), 320);
  EXPECT_EQ(PrefillStride(off, 8192, 33), 320);
  EXPECT_EQ(PrefillStride(off, 8192, 16), 320);  // 1280 <= 1000 + 160 + 4 * 32
  EXPECT_EQ(PrefillStride(off, 8192, 10), 0);    // 1280 > 1000 + 100 + 128
  EXPECT_EQ(PrefillStride(off, 8192, 0), 0);
}

TEST(MoeLayout, SwitchDefaults) {
  const MoeSwitches& s = GetMoeSwitches();
  if (std::getenv("MIXSERVE_MOE_BATCHED") == nullptr) {
    EXPECT_TRUE(s.batched);
  }
  if (std::getenv("MIXSERVE_MOE_PREFILL") == nullptr) {
    EXPECT_EQ(s.prefill, 0);
  }
  if (std::getenv("MIXSERVE_MOE_PREFILL_PAD") == nullptr) {
    EXPECT_EQ(s.prefill_pad_percent, 33);
  }
  if (std::getenv("MIXSERVE_LT_BUCKET") == nullptr) {
    EXPECT_EQ(s.lt_bucket, 0);
  }
}

}  // namespace
}  // namespace mixserve::cuda
