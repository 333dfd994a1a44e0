// The batch-1/2 decode fusions (decode_fused.cu) against the unfused kernels they replace:
// LaunchResidualNorm + LaunchSkinnyGemm + LaunchRopeKv for the fused QKV kernel, and the skinny
// O projection + LaunchResidualNorm for the fused O projection + norm. The unfused kernels are
// checked against CPU loops in kernels_test.cc. Outputs are poisoned (NaN) before every launch.
// Run it once per MIXSERVE_GEMV_VARIANT (a, b, c) to cover every kernel shape.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "runtime/backend/cuda/kernels.h"
#include "runtime/backend/cuda/smoke.h"
#include "tests/gpu/cuda/cuda_test_util.h"

namespace mixserve::cuda {
namespace {

using test_util::Dev;
using test_util::Err;
using test_util::FromBf;
using test_util::Rand;
using test_util::ToBf;

// Cache slots never written must stay poisoned in both; written ones must agree.
double CacheErr(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (std::isnan(a[i]) != std::isnan(b[i])) return INFINITY;
    if (std::isnan(a[i])) continue;
    worst = std::max(worst, std::abs(static_cast<double>(a[i]) - b[i]) / (1.0 + std::abs(b[i])));
  }
  return worst;
}

class DecodeFusion : public test_util::GpuTest {
 protected:
  std::mt19937 rng_{7};
};

struct QkvCase {
  int rows, H, nh, nkv, hd, k;  // k = 0: no MoE combine (first layer)
  bool f32;
};

TEST_F(DecodeFusion, FusedQkvMatchesNormGemvRope) {
  const int bt = 4, blocks = 8;
  for (int smem : {0, 1})
  for (QkvCase c : {QkvCase{1, 512, 4, 2, 64, 2, false}, QkvCase{2, 1280, 4, 2, 64, 2, true},
                    QkvCase{1, 4096, 32, 8, 128, 2, false}, QkvCase{2, 4096, 32, 8, 128, 2, false},
                    QkvCase{1, 4096, 32, 8, 128, 2, true}, QkvCase{2, 768, 6, 1, 32, 0, false},
                    QkvCase{1, 256, 2, 2, 16, 1, true}}) {
    SCOPED_TRACE(::testing::Message() << "rows=" << c.rows << " H=" << c.H << " nh=" << c.nh << " nkv=" << c.nkv
                                      << " hd=" << c.hd << " k=" << c.k << " f32=" << c.f32 << " smem=" << smem);
    SetFusedQkvSmem(smem);
    const int R = c.rows, H = c.H, qkv_dim = (c.nh + 2 * c.nkv) * c.hd, kk = std::max(c.k, 1);
    auto x = Rand(rng_, static_cast<size_t>(R) * H), g = Rand(rng_, H, 0.5f);
    auto moe = Rand(rng_, static_cast<size_t>(R) * kk * H);
    auto w = ToBf(Rand(rng_, static_cast<size_t>(qkv_dim) * H, 0.05f));
    std::vector<int32_t> pop(R * kk);
    std::iota(pop.begin(), pop.end(), 0);
    std::shuffle(pop.begin(), pop.end(), rng_);
    std::vector<float> tw(R * kk);
    for (int t = 0; t < R; ++t)
      for (int j = 0; j < kk; ++j) tw[t * kk + j] = (j + 1.0f) / (kk * (kk + 1) / 2.0f);
    std::vector<int32_t> pos = {37, 1000}, slot = {13, 26};
    pos.resize(R);
    slot.resize(R);
    Dev<float> dx(x), dg(g), dmoe(moe), dtw(tw), xn_f(static_cast<size_t>(R) * H);
    Dev<bf16> dw(w), xn_b(static_cast<size_t>(R) * H);
    Dev<int32_t> dpop(pop), dpos(pos), dslot(slot);
    const size_t cache = static_cast<size_t>(blocks) * bt * c.nkv * c.hd;
    Dev<float> kc_ref(cache), vc_ref(cache), kc(cache), vc(cache), qkv_ref(static_cast<size_t>(R) * qkv_dim);
    Dev<float> qkv(static_cast<size_t>(R) * qkv_dim), x_out(static_cast<size_t>(R) * H);
    const float* moe_p = c.k > 0 ? dmoe.get() : nullptr;
    // Fused first (dx is only read there), then the unfused chain, which updates dx in place.
    FusedQkvArgs f;
    f.x_in = dx.get();
    f.x_out = x_out.get();
    f.moe_out = moe_p;
    f.pos_of_pair = dpop.get();
    f.topk_w = dtw.get();
    f.k = c.k;
    f.norm_w = dg.get();
    f.eps = 1e-5f;
    f.w = dw.get();
    f.rows = R;
    f.H = H;
    f.nh = c.nh;
    f.nkv = c.nkv;
    f.hd = c.hd;
    f.theta = 10000.0f;
    f.pos = dpos.get();
    f.slot = dslot.get();
    f.qkv = qkv.get();
    f.k_cache = kc.get();
    f.v_cache = vc.get();
    f.kv_f32 = c.f32;
    ASSERT_EQ(LaunchFusedQkv(f, nullptr), cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    if (R == 1 && c.k > 0) {  // the same combine from the weights in expert-sorted order (moe_out rows 0..k-1)
      std::vector<float> sorted(kk);
      for (int j = 0; j < kk; ++j) sorted[pop[j]] = tw[j];
      Dev<float> dsorted(sorted), x_out2(static_cast<size_t>(R) * H), qkv2(static_cast<size_t>(R) * qkv_dim);
      FusedQkvArgs f2 = f;
      f2.pos_of_pair = nullptr;
      f2.topk_w = nullptr;
      f2.sorted_w = dsorted.get();
      f2.x_out = x_out2.get();
      f2.qkv = qkv2.get();
      ASSERT_EQ(LaunchFusedQkv(f2, nullptr), cudaSuccess);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      EXPECT_LT(Err(x_out2.Get(), x_out.Get()), 1e-6) << "combined residual, sorted weights";
      EXPECT_LT(Err(qkv2.Get(), qkv.Get()), 1e-5) << "q, k and v, sorted weights";
    }
    ASSERT_EQ(LaunchResidualNorm(dx.get(), R, nullptr, H, moe_p, dpop.get(), dtw.get(), kk, dg.get(), 1e-5f, xn_f.get(),
                                 xn_b.get(), nullptr),
              cudaSuccess);
    ASSERT_EQ(LaunchSkinnyGemm(SkinnyDense(R, qkv_dim, H, xn_f.get(), dw.get(), qkv_ref.get(), qkv_dim, false), nullptr),
              cudaSuccess);
    ASSERT_EQ(LaunchRopeKv(qkv_ref.get(), dpos.get(), dslot.get(), R, c.nh, c.nkv, c.hd, 10000.0f, kc_ref.get(),
                           vc_ref.get(), c.f32, nullptr),
              cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_LT(Err(x_out.Get(), dx.Get()), 1e-6) << "combined residual";
    EXPECT_LT(Err(qkv.Get(), qkv_ref.Get()), 2e-5) << "q, k (rotated) and v";
    if (c.f32) {
      EXPECT_LT(CacheErr(kc.Get(), kc_ref.Get()), 2e-5) << "k cache";
      EXPECT_LT(CacheErr(vc.Get(), vc_ref.Get()), 2e-5) << "v cache";
    } else {
      // bf16 caches: the same value up to one bf16 rounding step (the fp32 inputs differ in the last bits).
      auto as_f = [&](Dev<float>& d) {
        auto raw = d.Get();
        std::vector<bf16> b(cache);
        std::memcpy(static_cast<void*>(b.data()), raw.data(), cache * sizeof(bf16));
        return FromBf(b);
      };
      auto k_got = as_f(kc), k_ref = as_f(kc_ref), v_got = as_f(vc), v_ref = as_f(vc_ref);
      EXPECT_LT(CacheErr(k_got, k_ref), 8e-3) << "k cache";
      EXPECT_LT(CacheErr(v_got, v_ref), 8e-3) << "v cache";
      int written = 0;
      for (float v : k_got) written += !std::isnan(v);
      EXPECT_EQ(written, R * c.nkv * c.hd);
    }
  }
  SetFusedQkvSmem(-1);
}

TEST_F(DecodeFusion, FusedOutNormMatchesGemvThenNorm) {
  for (int R : {1, 2})
  for (auto [N, K] : {std::pair{4096, 4096}, std::pair{1000, 1280}, std::pair{512, 256}}) {
    SCOPED_TRACE(::testing::Message() << "rows=" << R << " N=" << N << " K=" << K);
    auto att = Rand(rng_, static_cast<size_t>(R) * K), x = Rand(rng_, static_cast<size_t>(R) * N);
    auto g = Rand(rng_, N, 0.5f);
    auto w = ToBf(Rand(rng_, static_cast<size_t>(N) * K, 0.05f));
    Dev<float> datt(att), dx_ref(x), dx(x), dg(g), ref_f(static_cast<size_t>(R) * N), out_f(static_cast<size_t>(R) * N);
    Dev<bf16> dw(w), ref_b(static_cast<size_t>(R) * N), out_b(static_cast<size_t>(R) * N);
    Dev<int> counter(std::vector<int>{0});
    ASSERT_EQ(LaunchSkinnyGemm(SkinnyDense(R, N, K, datt.get(), dw.get(), dx_ref.get(), N, true), nullptr), cudaSuccess);
    ASSERT_EQ(LaunchResidualNorm(dx_ref.get(), R, nullptr, N, nullptr, nullptr, nullptr, 0, dg.get(), 1e-5f, ref_f.get(),
                                 ref_b.get(), nullptr),
              cudaSuccess);
    FusedOutNormArgs o;
    o.att = datt.get();
    o.ld_att = K;
    o.w = dw.get();
    o.rows = R;
    o.N = N;
    o.K = K;
    o.x = dx.get();
    o.norm_w = dg.get();
    o.eps = 1e-5f;
    o.out_f = out_f.get();
    o.out_b = out_b.get();
    o.counter = counter.get();
    // Twice from the same inputs: the counter must be back to 0 and the results bit-identical.
    std::vector<float> first_f;
    for (int rep = 0; rep < 2; ++rep) {
      dx.Put(x);
      ASSERT_EQ(LaunchFusedOutNorm(o, nullptr), cudaSuccess);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      EXPECT_EQ(counter.Get()[0], 0);
      if (rep == 0) {
        first_f = out_f.Get();
        continue;
      }
      EXPECT_EQ(out_f.Get(), first_f) << "not deterministic";
    }
    EXPECT_LT(Err(dx.Get(), dx_ref.Get()), 1e-5) << "residual";
    EXPECT_LT(Err(out_f.Get(), ref_f.Get()), 1e-5) << "normed fp32";
    EXPECT_LT(Err(FromBf(out_b.Get()), FromBf(ref_b.Get())), 8e-3) << "normed bf16";
  }
}

// A router's outputs for `pairs` (token, slot) pairs over E experts.
struct Routing {
  Routing(int pairs, int E) : ids(pairs), off(E + 1), sp(pairs), pop(pairs), touched(std::vector<int32_t>{0}), tw(pairs) {}
  Dev<int32_t> ids, off, sp, pop, touched;
  Dev<float> tw;
};

// Identical expert ids, grouping and counts; weights within 2e-6 (summation order).
void ExpectSameRouting(Routing& got, Routing& want) {
  EXPECT_EQ(got.ids.Get(), want.ids.Get()) << "expert ids";
  EXPECT_LT(Err(got.tw.Get(), want.tw.Get()), 2e-6) << "weights";
  EXPECT_EQ(got.off.Get(), want.off.Get()) << "offsets";
  EXPECT_EQ(got.sp.Get(), want.sp.Get()) << "sorted_pairs";
  EXPECT_EQ(got.pop.Get(), want.pop.Get()) << "pos_of_pair";
  EXPECT_EQ(got.touched.Get(), want.touched.Get()) << "experts touched";
}

// The post-attention norm folded into the split router (MIXSERVE_NORM_ROUTER): the O kernel without
// its last-block norm, then LaunchNormRouter, against the O kernel with the norm, then LaunchRouter:
// the same residual, normed rows within 1e-6 (fp32 and bf16 copies), expert ids, grouping and counts,
// weights within 2e-6.
TEST_F(DecodeFusion, NormInRouterMatchesLastBlockNorm) {
  for (int R : {1, 2})
  for (int N : {4096, 1024})
  for (auto [E, k] : {std::pair{8, 2}, std::pair{16, 3}}) {
    SCOPED_TRACE(::testing::Message() << "rows=" << R << " N=" << N << " E=" << E << " k=" << k);
    ASSERT_TRUE(NormRouterApplies(R, N, E, k));
    const int K = 512, pairs = R * k;
    auto att = Rand(rng_, static_cast<size_t>(R) * K), x = Rand(rng_, static_cast<size_t>(R) * N);
    auto g = Rand(rng_, N, 0.5f);
    auto w = ToBf(Rand(rng_, static_cast<size_t>(N) * K, 0.05f));
    auto router = ToBf(Rand(rng_, static_cast<size_t>(E) * N, 0.05f));
    Dev<float> datt(att), dx(x), dx_ref(x), dg(g), out_f(static_cast<size_t>(R) * N), ref_f(static_cast<size_t>(R) * N);
    Dev<bf16> dw(w), drouter(router), out_b(static_cast<size_t>(R) * N), ref_b(static_cast<size_t>(R) * N);
    Dev<int> counter(std::vector<int>{0});
    Routing got(pairs, E), want(pairs, E);
    FusedOutNormArgs o;
    o.att = datt.get();
    o.ld_att = K;
    o.w = dw.get();
    o.rows = R;
    o.N = N;
    o.K = K;
    o.norm_w = dg.get();
    o.eps = 1e-5f;
    o.counter = counter.get();
    FusedOutNormArgs ref = o;
    ref.x = dx_ref.get();
    ref.out_f = ref_f.get();
    ref.out_b = ref_b.get();
    ASSERT_EQ(LaunchFusedOutNorm(ref, nullptr), cudaSuccess);
    ASSERT_EQ(LaunchRouter(ref_f.get(), drouter.get(), R, N, E, k, want.ids.get(), want.tw.get(), want.off.get(),
                           want.sp.get(), want.pop.get(), want.touched.get(), 0, nullptr),
              cudaSuccess);
    o.x = dx.get();
    o.no_norm = true;
    ASSERT_EQ(LaunchFusedOutNorm(o, nullptr), cudaSuccess);
    ASSERT_EQ(LaunchNormRouter(dx.get(), dg.get(), 1e-5f, out_f.get(), out_b.get(), drouter.get(), R, N, E, k,
                               got.ids.get(), got.tw.get(), got.off.get(), got.sp.get(), got.pop.get(), got.touched.get(), 0,
                               nullptr),
              cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(counter.Get()[0], 0);
    EXPECT_EQ(dx.Get(), dx_ref.Get()) << "residual";
    EXPECT_LT(Err(out_f.Get(), ref_f.Get()), 1e-6) << "normed fp32";
    EXPECT_LT(Err(FromBf(out_b.Get()), FromBf(ref_b.Get())), 8e-3) << "normed bf16";
    ExpectSameRouting(got, want);
  }
  EXPECT_FALSE(NormRouterApplies(9, 4096, 8, 2));
  EXPECT_EQ(LaunchNormRouter(nullptr, nullptr, 1e-5f, nullptr, nullptr, nullptr, 1, 4096, 8, 2, nullptr, nullptr, nullptr,
                             nullptr, nullptr, nullptr, 0, nullptr),
            cudaErrorInvalidValue);
}

// The routed gate/up kernel (norm + router + gate/up in one launch) against LaunchNormRouter then the
// skinny gate/up GEMM: identical expert ids, grouping and counts, weights within 2e-6, act within 1e-5;
// with the default grid and with 3 blocks (every warp then takes many row pairs); act is poisoned
// (NaN) first, so a row pair left unwritten fails. Rows longer than 4096 take the router's tail loop.
TEST_F(DecodeFusion, RoutedGateUpMatchesNormRouterThenSkinny) {
  for (int R : {1, 2})
  for (auto [H, I] : {std::pair{4096, 1536}, std::pair{1024, 200}, std::pair{4608, 64}})
  for (auto [E, k] : {std::pair{8, 2}, std::pair{4, 1}, std::pair{6, 3}})
  for (int blocks : {0, 3}) {
    SCOPED_TRACE(::testing::Message() << "rows=" << R << " H=" << H << " I=" << I << " E=" << E << " k=" << k
                                      << " blocks=" << blocks);
    ASSERT_TRUE(RoutedGateUpApplies(R, H, I, E, k));
    const int pairs = R * k;
    auto x = Rand(rng_, static_cast<size_t>(R) * H), g = Rand(rng_, H, 0.5f);
    auto router = ToBf(Rand(rng_, static_cast<size_t>(E) * H, 0.05f));
    auto w13 = ToBf(Rand(rng_, static_cast<size_t>(E) * 2 * I * H, 0.05f));
    const std::vector<float> poison(static_cast<size_t>(pairs) * I, NAN);
    Dev<float> dx(x), dg(g), xn(static_cast<size_t>(R) * H), act(poison), act_ref(poison);
    Dev<bf16> drouter(router), dw(w13);
    Routing got(pairs, E), want(pairs, E);
    ASSERT_EQ(LaunchNormRouter(dx.get(), dg.get(), 1e-5f, xn.get(), nullptr, drouter.get(), R, H, E, k, want.ids.get(),
                               want.tw.get(), want.off.get(), want.sp.get(), want.pop.get(), want.touched.get(), 0, nullptr),
              cudaSuccess);
    ASSERT_EQ(LaunchSkinnyGemm(SkinnyExpertGateUp(dw.get(), E, H, I, k, pairs, R, want.off.get(), want.sp.get(), xn.get(),
                                                  act_ref.get()),
                               nullptr),
              cudaSuccess);
    RoutedGateUpArgs a;
    a.x = dx.get();
    a.norm_w = dg.get();
    a.eps = 1e-5f;
    a.router = drouter.get();
    a.w13 = dw.get();
    a.T = R;
    a.H = H;
    a.I = I;
    a.E = E;
    a.k = k;
    a.act = act.get();
    a.topk_ids = got.ids.get();
    a.topk_w = got.tw.get();
    a.offsets = got.off.get();
    a.sorted_pairs = got.sp.get();
    a.pos_of_pair = got.pop.get();
    a.expert_hits = got.touched.get();
    a.blocks = blocks;
    Dev<float> sorted_w(std::vector<float>(k, NAN));
    if (R == 1) a.sorted_w = sorted_w.get();
    ASSERT_EQ(LaunchRoutedGateUp(a, nullptr), cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    ExpectSameRouting(got, want);
    EXPECT_LT(Err(act.Get(), act_ref.Get()), 1e-5) << "SiLU(gate) * up";
    if (R == 1) {  // sorted_w[p] = the weight of the pair at expert-sorted position p
      const auto tw = got.tw.Get(), sw = sorted_w.Get();
      const auto sp = got.sp.Get();
      for (int p = 0; p < pairs; ++p) EXPECT_EQ(sw[p], tw[sp[p]]) << "sorted weight " << p;
    }
  }
  EXPECT_FALSE(RoutedGateUpApplies(3, 4096, 14336, 8, 2));   // batch 1-2 only
  EXPECT_FALSE(RoutedGateUpApplies(1, 4096, 14336, 16, 2));  // one warp per expert: E <= 8
  EXPECT_FALSE(RoutedGateUpApplies(2, 8192, 14336, 8, 2));   // the rows must fit 48 KB of shared memory
  RoutedGateUpArgs bad;
  bad.T = 1;
  bad.H = 4096;
  bad.I = 14336;
  bad.E = 8;
  bad.k = 2;
  EXPECT_EQ(LaunchRoutedGateUp(bad, nullptr), cudaErrorInvalidValue);
}

// The batch-1/2 MoE down projection: the general kernel (SetSkinnySplit 0) and the split kernel with
// 1, 2 and 4 K slices, against a double-precision loop; each run twice must give identical outputs.
TEST_F(DecodeFusion, SplitKDownProjectionMatchesLoop) {
  const int E = 4;
  for (int R : {1, 2})
  for (auto [N, K] : {std::pair{256, 14336}, std::pair{1000, 8192}}) {
    const int n_items = 2 * R;  // experts 1 and 3 get R items each, 0 and 2 none
    std::vector<int32_t> off = {0, 0, R, R, 2 * R};
    auto x = Rand(rng_, static_cast<size_t>(n_items) * K);
    auto y0 = Rand(rng_, static_cast<size_t>(n_items) * N);
    auto w = ToBf(Rand(rng_, static_cast<size_t>(E) * N * K, 0.05f));
    auto wf = FromBf(w);
    Dev<float> dx(x), dy(static_cast<size_t>(n_items) * N);
    Dev<bf16> dw(w);
    Dev<int32_t> doff(off);
    for (bool acc : {false, true})
    for (int split : {0, 1, 2, 4}) {
      SCOPED_TRACE(::testing::Message() << "rows=" << R << " N=" << N << " K=" << K << " split=" << split
                                        << " accumulate=" << acc);
      SetSkinnySplit(split);
      SkinnyArgs b = SkinnyExpertDown(dw.get(), E, /*H=*/N, /*I=*/K, n_items, R, doff.get(), dx.get(), dy.get());
      b.accumulate = acc;
      std::vector<float> first;
      for (int rep = 0; rep < 2; ++rep) {
        dy.Put(y0);
        ASSERT_EQ(LaunchSkinnyGemm(b, nullptr), cudaSuccess);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        if (rep == 0) first = dy.Get();
      }
      EXPECT_EQ(dy.Get(), first) << "not deterministic";
      std::vector<float> ref(static_cast<size_t>(n_items) * N);
      for (int e = 0; e < E; ++e) {
        for (int p = off[e]; p < off[e + 1]; ++p) {
          for (int n = 0; n < N; ++n) {
            double sum = 0;
            const float* wr = wf.data() + (static_cast<size_t>(e) * N + n) * K;
            for (int kk = 0; kk < K; ++kk) sum += static_cast<double>(wr[kk]) * x[static_cast<size_t>(p) * K + kk];
            const size_t o = static_cast<size_t>(p) * N + n;
            ref[o] = static_cast<float>(sum + (acc ? y0[o] : 0.0));
          }
        }
      }
      EXPECT_LT(Err(first, ref), 1e-4);
    }
    SetSkinnySplit(-1);
  }
}

TEST_F(DecodeFusion, RejectsShapesItCannotRun) {
  EXPECT_FALSE(FusedQkvApplies(3, 4096, 128, 2));
  EXPECT_FALSE(FusedQkvApplies(1, 4100, 128, 2));
  EXPECT_FALSE(FusedQkvApplies(1, 4096, 128, 8));
  EXPECT_TRUE(FusedQkvApplies(2, 4096, 128, 2));
  FusedOutNormArgs o;
  o.rows = 3;
  o.K = 4096;
  o.ld_att = 4096;
  EXPECT_EQ(LaunchFusedOutNorm(o, nullptr), cudaErrorInvalidValue);
}

}  // namespace
}  // namespace mixserve::cuda
