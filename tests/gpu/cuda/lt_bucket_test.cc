// LtGemm's bucketed tuning (GemmSpec::tune_bucket: one tuning per M bucket, the choice reused for
// every M of the bucket that accepts it) and its per-shape descriptor cache, against a plain CPU
// product and the untuned LtGemm: several M in one bucket and across buckets, fp32 and bf16 output,
// accumulation, new pointers and alpha/beta on a cached shape, and no tuning during graph capture.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "runtime/backend/cuda/kernels.h"
#include "runtime/backend/cuda/lt_gemm.h"
#include "tests/gpu/cuda/cuda_test_util.h"

namespace mixserve::cuda {
namespace {

using test_util::Dev;
using test_util::Err;
using test_util::FromBf;
using test_util::GpuTest;
using test_util::RandBf;
using test_util::RefGemm;
using test_util::ToBf;

// Host-side: runs without a GPU.
TEST(LtBucket, BucketsRoundUpAlignedAndCoarseAbove1024) {
  EXPECT_EQ(LtGemm::MBucket(1), 16);
  EXPECT_EQ(LtGemm::MBucket(16), 16);
  EXPECT_EQ(LtGemm::MBucket(17), 32);
  EXPECT_EQ(LtGemm::MBucket(33), 64);
  EXPECT_EQ(LtGemm::MBucket(64), 64);
  EXPECT_EQ(LtGemm::MBucket(65), 128);
  EXPECT_EQ(LtGemm::MBucket(129), 192);
  EXPECT_EQ(LtGemm::MBucket(231), 256);
  EXPECT_EQ(LtGemm::MBucket(1000), 1024);
  EXPECT_EQ(LtGemm::MBucket(1024), 1024);
  EXPECT_EQ(LtGemm::MBucket(1025), 1152);
  EXPECT_EQ(LtGemm::MBucket(2048), 2048);
  EXPECT_EQ(LtGemm::MBucket(2049), 2304);
  EXPECT_EQ(LtGemm::MBucket(4097), 4608);
  std::set<int> buckets;
  int last = 0;
  for (int M = 1; M <= 16384; ++M) {
    const int b = LtGemm::MBucket(M);
    ASSERT_GE(b, M);
    ASSERT_GE(b, last) << "M=" << M;  // monotonic
    ASSERT_EQ(LtGemm::MBucket(b), b) << "M=" << M;
    if (M > 64) {
      // Every M of a bucket past 64 rows has as many 64-row tiles as the bucket's end up to 1024
      // rows, and as many 128-row tiles up to 2048.
      if (b <= 1024) {
        EXPECT_EQ((M + 63) / 64, (b + 63) / 64) << "M=" << M;
      }
      if (b <= 2048) {
        EXPECT_EQ((M + 127) / 128, (b + 127) / 128) << "M=" << M;
      }
      EXPECT_LE(b - M, std::max(63, b / 8)) << "M=" << M;
    }
    if (M <= 4096) buckets.insert(b);
    last = b;
  }
  EXPECT_EQ(buckets.size(), 34u);
}

std::vector<float> Head(const std::vector<float>& v, size_t n) { return std::vector<float>(v.begin(), v.begin() + n); }

class LtBucketTest : public GpuTest {
 protected:
  // A down-projection-like shape (N small against K, so split-K variants are in play).
  static constexpr int kN = 512, kK = 4096, kMaxM = 320;

  void SetUp() override {
    GpuTest::SetUp();
    if (IsSkipped()) return;
    x_ = RandBf(rng_, static_cast<size_t>(kMaxM) * kK, 1.0f);
    w_ = RandBf(rng_, static_cast<size_t>(kN) * kK, 0.05f);
    ref_ = RefGemm(x_, w_, kMaxM, kN, kK);
    dx_ = std::make_unique<Dev<bf16>>(ToBf(x_));
    dw_ = std::make_unique<Dev<bf16>>(ToBf(w_));
  }

  GemmSpec Spec(int M, void* y, bool y_f32, bool bucket) const {
    GemmSpec g = DenseSpec(M, kN, kK, dx_->get(), dw_->get(), y, y_f32);
    g.tune = false;
    g.tune_bucket = bucket;
    return g;
  }

  // Runs g on lt (on the default stream, workspace lane `lane`) into y and returns y.
  std::vector<float> RunF32(LtGemm& lt, GemmSpec g, Dev<float>& y, int lane = 0) {
    g.y = y.get();
    const Status st = lt.Run(nullptr, g, lane);
    EXPECT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    return y.Get();
  }

  std::mt19937 rng_{777};
  std::vector<float> x_, w_, ref_;
  std::unique_ptr<Dev<bf16>> dx_, dw_;
};

// Several M in one bucket and across buckets: the bucketed LtGemm tunes each bucket once and gives
// the plain product, as the untuned LtGemm does, in fp32 and bf16 output and when accumulating.
TEST_F(LtBucketTest, BucketedMatchesUntunedWithinAndAcrossBuckets) {
  LtGemm plain, bucketed;
  ASSERT_TRUE(plain.Init().ok());
  ASSERT_TRUE(bucketed.Init().ok());
  plain.SetTuning(0);
  bucketed.SetTuning(LtGemm::kTuneAuto);  // the default: bucket tuning needs no window
  bucketed.SetTuneLimits(256, 60000, 0);
  bucketed.SetBucketMinGain(0.0f);  // take the fastest, so other M reuse a tuned choice more often
  const std::vector<int> ms = {65, 80, 100, 127, 128, 129, 150, 192, 20, 31, 300};  // buckets 128, 192, 32, 320
  for (int M : ms) {
    const size_t n = static_cast<size_t>(M) * kN;
    Dev<float> y1(n), y2(n);  // poisoned: an unwritten element fails
    const std::vector<float> got = RunF32(bucketed, Spec(M, nullptr, true, true), y1, M == 129 ? 1 : 0);
    const std::vector<float> base = RunF32(plain, Spec(M, nullptr, true, true), y2);
    EXPECT_LT(Err(got, Head(ref_, n)), 1e-3) << "M=" << M;
    EXPECT_LT(Err(got, base), 1e-4) << "M=" << M << " vs untuned";
  }
  EXPECT_EQ(plain.tuned_shapes(), 0);
  EXPECT_EQ(bucketed.tuned_buckets(), 4) << "one tuning per bucket";
  EXPECT_EQ(bucketed.tuned_shapes(), 4);
  EXPECT_EQ(bucketed.cached_shapes(), ms.size());
  std::printf("fp32: bucket choice reused by %d shapes, %d fell back to the heuristic\n", bucketed.bucket_reused(),
              bucketed.bucket_fallbacks());
  // bf16 output, and fp32 accumulating onto y0 (beta = 1): buckets of their own.
  for (int M : {70, 96, 128, 200}) {
    const size_t n = static_cast<size_t>(M) * kN;
    Dev<bf16> yb(n);
    GemmSpec g = Spec(M, yb.get(), false, true);
    ASSERT_TRUE(bucketed.Run(nullptr, g).ok());
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_LT(Err(FromBf(yb.Get()), Head(ref_, n)), 1e-2) << "bf16 M=" << M;
    const std::vector<float> y0 = RandBf(rng_, n, 1.0f);
    std::vector<float> want = Head(ref_, n);
    for (size_t i = 0; i < n; ++i) want[i] += y0[i];
    Dev<float> ya(y0);
    GemmSpec a = Spec(M, ya.get(), true, true);
    a.beta = 1.0f;
    ASSERT_TRUE(bucketed.Run(nullptr, a).ok());
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_LT(Err(ya.Get(), want), 1e-3) << "accumulate M=" << M;
  }
  EXPECT_EQ(bucketed.tuned_buckets(), 4 + 2 + 2) << "bf16 and accumulate: buckets 128 and 256 each";
  std::printf("all: bucket choice reused by %d shapes, %d fell back to the heuristic\n", bucketed.bucket_reused(),
              bucketed.bucket_fallbacks());
}

// Tuning off, limits spent, or M above the limit: no bucket is tuned, results unchanged.
TEST_F(LtBucketTest, LimitsAndTuneOffKeepTheHeuristic) {
  auto check = [&](LtGemm& lt, int M) {
    const size_t n = static_cast<size_t>(M) * kN;
    Dev<float> y(n);
    EXPECT_LT(Err(RunF32(lt, Spec(M, nullptr, true, true), y), Head(ref_, n)), 1e-3) << "M=" << M;
  };
  LtGemm off;
  ASSERT_TRUE(off.Init().ok());
  off.SetTuning(0);
  check(off, 100);
  EXPECT_EQ(off.tuned_buckets(), 0) << "MIXSERVE_LT_TUNE=0 turns bucket tuning off";
  LtGemm limited;
  ASSERT_TRUE(limited.Init().ok());
  limited.SetTuning(LtGemm::kTuneAuto);
  limited.SetTuneLimits(256, 0, 0);
  check(limited, 100);
  EXPECT_EQ(limited.tuned_buckets(), 0) << "wall-time budget spent";
  limited.SetTuneLimits(256, 60000, 64);
  check(limited, 90);
  EXPECT_EQ(limited.tuned_buckets(), 0) << "M above the MAX_M limit";
  check(limited, 40);
  EXPECT_EQ(limited.tuned_buckets(), 1);
  limited.SetTuneLimits(1, 60000, 0);
  check(limited, 200);
  EXPECT_EQ(limited.tuned_buckets(), 1) << "shape budget spent";
  // A bucket left untuned by the limits is tuned at its next new M once they allow it.
  limited.SetTuneLimits(256, 60000, 0);
  check(limited, 110);
  EXPECT_EQ(limited.tuned_buckets(), 2);
}

// A bucketed shape first met while capturing is not tuned (the graph still computes the product);
// the bucket is tuned by its next eager M; a later capture of another M reuses it without tuning.
TEST_F(LtBucketTest, CaptureFirstUseDoesNotTune) {
  LtGemm lt;
  ASSERT_TRUE(lt.Init().ok());
  lt.SetTuning(LtGemm::kTuneAuto);
  lt.SetTuneLimits(256, 60000, 0);
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  auto captured = [&](int M) {
    const size_t n = static_cast<size_t>(M) * kN;
    Dev<float> y(n);
    cudaGraph_t graph = nullptr;
    EXPECT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    const Status st = lt.Run(stream, Spec(M, y.get(), true, true));
    EXPECT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
    EXPECT_TRUE(st.ok()) << st.message();
    cudaGraphExec_t exec = nullptr;
    EXPECT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
    EXPECT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
    EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    EXPECT_LT(Err(y.Get(), Head(ref_, n)), 1e-3) << "captured M=" << M;
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
  };
  {  // load the heuristic's kernel for M = 70 eagerly (as a model's eager first step does), on another LtGemm
    LtGemm warm;
    ASSERT_TRUE(warm.Init().ok());
    warm.SetTuning(0);
    Dev<float> y(static_cast<size_t>(70) * kN);
    RunF32(warm, Spec(70, nullptr, true, true), y);
  }
  captured(70);
  EXPECT_EQ(lt.tuned_shapes(), 0);
  EXPECT_EQ(lt.tuned_buckets(), 0);
  Dev<float> y(static_cast<size_t>(90) * kN);
  EXPECT_LT(Err(RunF32(lt, Spec(90, nullptr, true, true), y), Head(ref_, static_cast<size_t>(90) * kN)), 1e-3);
  EXPECT_EQ(lt.tuned_buckets(), 1) << "the bucket is tuned eagerly";
  captured(100);
  EXPECT_EQ(lt.tuned_buckets(), 1);
  EXPECT_EQ(lt.tuned_shapes(), 1);
  cudaStreamDestroy(stream);
}

// The descriptor cache: one shape run with other pointers, alpha and beta gives each call's own
// product; the same inputs give bit-identical results; beta != 0 and the output type are keys.
TEST_F(LtBucketTest, DescriptorCacheFollowsPointersAlphaAndBeta) {
  LtGemm lt;
  ASSERT_TRUE(lt.Init().ok());
  lt.SetTuning(0);
  const int M = 48, N = 256, K = 512;
  const auto x1 = RandBf(rng_, static_cast<size_t>(M) * K, 1.0f), w1 = RandBf(rng_, static_cast<size_t>(N) * K, 0.05f);
  const auto x2 = RandBf(rng_, static_cast<size_t>(M) * K, 1.0f), w2 = RandBf(rng_, static_cast<size_t>(N) * K, 0.05f);
  const auto r1 = RefGemm(x1, w1, M, N, K), r2 = RefGemm(x2, w2, M, N, K);
  const auto y0 = RandBf(rng_, static_cast<size_t>(M) * N, 1.0f);
  Dev<bf16> dx1(ToBf(x1)), dw1(ToBf(w1)), dx2(ToBf(x2)), dw2(ToBf(w2));
  auto run = [&](const bf16* x, const bf16* w, Dev<float>& y, float alpha, float beta) {
    GemmSpec g = DenseSpec(M, N, K, x, w, y.get(), true);
    g.alpha = alpha;
    g.beta = beta;
    EXPECT_TRUE(lt.Run(nullptr, g).ok());
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    return y.Get();
  };
  auto scaled = [](const std::vector<float>& a, float sa, const std::vector<float>& b, float sb) {
    std::vector<float> o(a.size());
    for (size_t i = 0; i < a.size(); ++i) o[i] = sa * a[i] + (b.empty() ? 0.0f : sb * b[i]);
    return o;
  };
  Dev<float> ya(static_cast<size_t>(M) * N), yb(static_cast<size_t>(M) * N);
  const std::vector<float> first = run(dx1.get(), dw1.get(), ya, 1.0f, 0.0f);
  EXPECT_LT(Err(first, r1), 1e-3);
  EXPECT_EQ(lt.cached_shapes(), 1u);
  EXPECT_LT(Err(run(dx2.get(), dw2.get(), yb, 0.5f, 0.0f), scaled(r2, 0.5f, {}, 0)), 1e-3) << "new pointers, alpha";
  EXPECT_EQ(lt.cached_shapes(), 1u) << "same shape: cached";
  yb.Put(y0);
  EXPECT_LT(Err(run(dx1.get(), dw1.get(), yb, 1.0f, 1.0f), scaled(r1, 1.0f, y0, 1.0f)), 1e-3) << "accumulate";
  EXPECT_EQ(lt.cached_shapes(), 2u) << "beta != 0 is a shape of its own";
  ya.Put(y0);
  EXPECT_LT(Err(run(dx2.get(), dw2.get(), ya, 2.0f, 0.5f), scaled(r2, 2.0f, y0, 0.5f)), 1e-3) << "alpha 2, beta 0.5";
  EXPECT_EQ(lt.cached_shapes(), 2u);
  ya.Poison();
  EXPECT_EQ(run(dx1.get(), dw1.get(), ya, 1.0f, 0.0f), first) << "repeated call, same inputs: bit-identical";
  lt.SetDescriptorCache(false);  // MIXSERVE_LT_DESC_CACHE=0: the same algorithm through fresh descriptors
  ya.Poison();
  EXPECT_EQ(run(dx1.get(), dw1.get(), ya, 1.0f, 0.0f), first) << "descriptors rebuilt: bit-identical";
  lt.SetDescriptorCache(true);
  // bf16 output: another key; strided-batched over both inputs: another.
  Dev<bf16> yh(static_cast<size_t>(M) * N);
  ASSERT_TRUE(lt.Run(nullptr, M, N, K, dx2.get(), dw2.get(), nullptr, yh.get(), false).ok());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_LT(Err(FromBf(yh.Get()), r2), 1e-2);
  EXPECT_EQ(lt.cached_shapes(), 3u);
  std::vector<float> xs(x1), ws(w1), want(r1);
  xs.insert(xs.end(), x2.begin(), x2.end());
  ws.insert(ws.end(), w2.begin(), w2.end());
  want.insert(want.end(), r2.begin(), r2.end());
  Dev<bf16> dxs(ToBf(xs)), dws(ToBf(ws));
  Dev<float> yy(want.size());
  GemmSpec g = DenseSpec(M, N, K, dxs.get(), dws.get(), yy.get(), true);
  g.batch = 2;
  g.stride_x = static_cast<int64_t>(M) * K;
  g.stride_w = static_cast<int64_t>(N) * K;
  g.stride_y = static_cast<int64_t>(M) * N;
  for (int rep = 0; rep < 2; ++rep) {
    yy.Poison();
    ASSERT_TRUE(lt.Run(nullptr, g).ok());
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_LT(Err(yy.Get(), want), 1e-3) << "batched rep " << rep;
  }
  EXPECT_EQ(lt.cached_shapes(), 4u);
}

}  // namespace
}  // namespace mixserve::cuda
