// Each CUDA kernel against a plain CPU loop on fresh random inputs. Outputs are poisoned before
// every launch, so an element the kernel forgot to write fails the comparison.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <set>
#include <tuple>
#include <vector>

#include "runtime/backend/cuda/kernels.h"
#include "runtime/backend/cuda/lt_gemm.h"
#include "runtime/backend/cuda/smoke.h"
#include "tests/gpu/cuda/cuda_test_util.h"

namespace mixserve::cuda {
namespace {

using test_util::Bf;
using test_util::Dev;
using test_util::Err;
using test_util::Rand;
using test_util::RoundBf;
using test_util::ToBf;

class CudaKernels : public test_util::GpuTest {
 protected:
  std::mt19937 rng_{1234};
};

TEST_F(CudaKernels, SkinnyGemmMatchesLoop) {
  // T <= 2 takes the direct (no shared-memory stage) path; K >= 8192 with T <= 2 the split-K kernel.
  for (auto [T, N, K] : {std::tuple{1, 300, 1032}, {2, 301, 1032}, {3, 300, 1032}, {8, 300, 1032}, {13, 300, 1032},
                         {1, 37, 8200}, {2, 38, 8200}}) {
    auto x = Rand(rng_, T * K), w = RoundBf(Rand(rng_, N * K, 0.05f)), y0 = Rand(rng_, T * N);
    for (bool acc : {false, true}) {
      Dev<float> dx(x), dy(y0);
      if (!acc) cudaMemset(dy.get(), 0xff, T * N * 4);
      Dev<bf16> dw(ToBf(w));
      ASSERT_EQ(LaunchSkinnyGemm(SkinnyDense(T, N, K, dx.get(), dw.get(), dy.get(), N, acc), nullptr), cudaSuccess);
      std::vector<float> want(T * N);
      for (int t = 0; t < T; ++t)
        for (int n = 0; n < N; ++n) {
          double s = acc ? y0[t * N + n] : 0.0;
          for (int k = 0; k < K; ++k) s += static_cast<double>(x[t * K + k]) * w[n * K + k];
          want[t * N + n] = static_cast<float>(s);
        }
      EXPECT_LT(Err(dy.Get(), want), 1e-4) << "T=" << T << " K=" << K << " acc=" << acc;
    }
  }
}

TEST_F(CudaKernels, MoeGateUpAndRouterGroupingMatchLoop) {
  // T * k > 64: the two-kernel router (SmallBatchMoeMatchesLoop covers the fused one).
  const int T = 40, H = 256, I = 96, E = 4, k = 2;
  auto xn = Rand(rng_, T * H), router = RoundBf(Rand(rng_, E * H, 0.2f)), w13 = RoundBf(Rand(rng_, E * 2 * I * H, 0.05f));
  Dev<float> dxn(xn);
  Dev<bf16> drouter(ToBf(router)), dw13(ToBf(w13));
  Dev<int32_t> ids(T * k), offsets(E + 1), sorted(T * k), pos_of_pair(T * k), touched(std::vector<int32_t>{0});
  Dev<float> topw(T * k), act(T * k * I);
  ASSERT_EQ(LaunchRouter(dxn.get(), drouter.get(), T, H, E, k, ids.get(), topw.get(), offsets.get(), sorted.get(),
                         pos_of_pair.get(), touched.get(), 0, nullptr),
            cudaSuccess);
  ASSERT_EQ(LaunchSkinnyGemm(SkinnyExpertGateUp(dw13.get(), E, H, I, k, T * k, T, offsets.get(), sorted.get(), dxn.get(),
                                                act.get()),
                             nullptr),
            cudaSuccess);
  auto got_ids = ids.Get(), got_off = offsets.Get(), got_sorted = sorted.Get(), got_pos = pos_of_pair.Get();
  auto got_w = topw.Get(), got_act = act.Get();
  std::set<int> used;
  for (int t = 0; t < T; ++t) {
    std::vector<double> p(E);
    for (int e = 0; e < E; ++e) {
      for (int c = 0; c < H; ++c) p[e] += static_cast<double>(xn[t * H + c]) * router[e * H + c];
    }
    double mx = *std::max_element(p.begin(), p.end()), sum = 0;
    for (double& v : p) sum += (v = std::exp(v - mx));
    std::vector<int> order(E);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return p[x] > p[y]; });
    double top = p[order[0]] + p[order[1]];
    for (int j = 0; j < k; ++j) {
      const int pair = t * k + j;
      ASSERT_EQ(got_ids[pair], order[j]) << "token " << t;
      EXPECT_NEAR(got_w[pair], p[order[j]] / top, 1e-5);
      used.insert(order[j]);
      // The pair sits in its expert's range of the sorted order, and the two maps are inverse.
      const int pos = got_pos[pair];
      EXPECT_EQ(got_sorted[pos], pair);
      EXPECT_GE(pos, got_off[order[j]]);
      EXPECT_LT(pos, got_off[order[j] + 1]);
      const float* wg = &w13[static_cast<size_t>(order[j]) * 2 * I * H];
      for (int i = 0; i < I; ++i) {
        double g = 0, u = 0;
        for (int c = 0; c < H; ++c) {
          g += static_cast<double>(xn[t * H + c]) * wg[i * H + c];
          u += static_cast<double>(xn[t * H + c]) * wg[(I + i) * H + c];
        }
        double want = g / (1 + std::exp(-g)) * u;
        EXPECT_NEAR(got_act[static_cast<size_t>(pos) * I + i], want, 1e-4 * (1 + std::abs(want)));
      }
    }
  }
  EXPECT_EQ(got_off[E], T * k);
  EXPECT_EQ(touched.Get()[0], static_cast<int>(used.size()));

  // Padded grouping: expert e's pairs in rows [e*T, e*T + count_e); the gather copies their token
  // rows there and zeros the rest.
  Dev<int32_t> psorted(E * T), ppos(T * k);
  ASSERT_EQ(LaunchRouter(dxn.get(), drouter.get(), T, H, E, k, ids.get(), topw.get(), offsets.get(), psorted.get(),
                         ppos.get(), nullptr, T, nullptr),
            cudaSuccess);
  std::vector<float> xr = RoundBf(xn);
  Dev<bf16> dxb(ToBf(xn)), gathered(E * T * H);
  ASSERT_EQ(LaunchGatherPadded(gathered.get(), dxb.get(), psorted.get(), offsets.get(), k, E, T, H, nullptr), cudaSuccess);
  auto ps = psorted.Get(), pp = ppos.Get();
  auto g = gathered.Get();
  for (int pair = 0; pair < T * k; ++pair) {
    const int e = got_ids[pair], row = pp[pair];
    ASSERT_GE(row, e * T);
    ASSERT_LT(row, e * T + got_off[e + 1] - got_off[e]);
    EXPECT_EQ(ps[row], pair);
    for (int c = 0; c < H; ++c) ASSERT_EQ(__bfloat162float(g[static_cast<size_t>(row) * H + c]), xr[(pair / k) * H + c]);
  }
  for (int e = 0; e < E; ++e) {
    for (int i = got_off[e + 1] - got_off[e]; i < T; ++i) {
      for (int c = 0; c < H; ++c) ASSERT_EQ(__bfloat162float(g[static_cast<size_t>(e * T + i) * H + c]), 0.0f);
    }
  }
}

// The decode MoE (1 or 2 tokens): fused router + grouping, then gate_up and down through the
// batch-1/2 kernel with the bounds the model passes (max_items, max_per_expert).
TEST_F(CudaKernels, SmallBatchMoeMatchesLoop) {
  for (int T : {1, 2}) {
    const int H = 264, I = 96, E = 4, k = 2;
    auto xn = Rand(rng_, T * H), router = RoundBf(Rand(rng_, E * H, 0.2f));
    auto w13 = RoundBf(Rand(rng_, E * 2 * I * H, 0.05f)), w2 = RoundBf(Rand(rng_, E * H * I, 0.05f));
    Dev<float> dxn(xn), act(T * k * I), out(T * k * H);
    Dev<bf16> drouter(ToBf(router)), dw13(ToBf(w13)), dw2(ToBf(w2));
    Dev<int32_t> ids(T * k), offsets(E + 1), sorted(T * k), pos_of_pair(T * k);
    Dev<float> topw(T * k);
    ASSERT_EQ(LaunchRouter(dxn.get(), drouter.get(), T, H, E, k, ids.get(), topw.get(), offsets.get(), sorted.get(),
                           pos_of_pair.get(), nullptr, 0, nullptr),
              cudaSuccess);
    ASSERT_EQ(LaunchSkinnyGemm(SkinnyExpertGateUp(dw13.get(), E, H, I, k, T * k, T, offsets.get(), sorted.get(), dxn.get(),
                                                  act.get()),
                               nullptr),
              cudaSuccess);
    ASSERT_EQ(LaunchSkinnyGemm(SkinnyExpertDown(dw2.get(), E, H, I, T * k, T, offsets.get(), act.get(), out.get()), nullptr),
              cudaSuccess);
    auto got_ids = ids.Get(), got_pos = pos_of_pair.Get();
    auto got_act = act.Get(), got_out = out.Get();
    for (int pair = 0; pair < T * k; ++pair) {
      const int t = pair / k, e = got_ids[pair], pos = got_pos[pair];
      const float* wg = &w13[static_cast<size_t>(e) * 2 * I * H];
      std::vector<double> h(I);
      for (int i = 0; i < I; ++i) {
        double g = 0, u = 0;
        for (int c = 0; c < H; ++c) {
          g += static_cast<double>(xn[t * H + c]) * wg[i * H + c];
          u += static_cast<double>(xn[t * H + c]) * wg[(I + i) * H + c];
        }
        h[i] = g / (1 + std::exp(-g)) * u;
        ASSERT_NEAR(got_act[static_cast<size_t>(pos) * I + i], h[i], 1e-4 * (1 + std::abs(h[i]))) << "T=" << T;
      }
      const float* wd = &w2[static_cast<size_t>(e) * H * I];
      for (int n = 0; n < H; ++n) {
        double s = 0;
        for (int i = 0; i < I; ++i) s += static_cast<double>(got_act[static_cast<size_t>(pos) * I + i]) * wd[n * I + i];
        ASSERT_NEAR(got_out[static_cast<size_t>(pos) * H + n], s, 1e-4 * (1 + std::abs(s))) << "T=" << T;
      }
    }
  }
}

TEST_F(CudaKernels, ResidualNormWithMoeCombineMatchesLoop) {
  const int T = 5, H = 1000, k = 2;
  auto x = Rand(rng_, T * H), moe = Rand(rng_, T * k * H), w = Rand(rng_, H);
  std::vector<int32_t> pos(T * k);
  std::iota(pos.begin(), pos.end(), 0);
  std::shuffle(pos.begin(), pos.end(), rng_);
  std::vector<float> tw = {0.6f, 0.4f, 0.3f, 0.7f, 0.5f, 0.5f, 0.9f, 0.1f, 0.2f, 0.8f};
  std::vector<int32_t> rows = {4, 1};
  Dev<float> dx(x), dmoe(moe), dw(w), dtw(tw), out_f(rows.size() * H);
  Dev<int32_t> dpos(pos), drows(rows);
  Dev<bf16> out_b(rows.size() * H);
  ASSERT_EQ(LaunchResidualNorm(dx.get(), 2, drows.get(), H, dmoe.get(), dpos.get(), dtw.get(), k, dw.get(), 1e-5f,
                               out_f.get(), out_b.get(), nullptr),
            cudaSuccess);
  auto got = out_f.Get();
  auto got_b = out_b.Get();
  for (size_t i = 0; i < rows.size(); ++i) {
    int t = rows[i];
    std::vector<double> v(H);
    double ss = 0;
    for (int c = 0; c < H; ++c) {
      v[c] = x[t * H + c];
      for (int j = 0; j < k; ++j) v[c] += tw[t * k + j] * moe[pos[t * k + j] * H + c];
      ss += v[c] * v[c];
    }
    double inv = 1.0 / std::sqrt(ss / H + 1e-5);
    for (int c = 0; c < H; ++c) {
      double want = w[c] * v[c] * inv;
      EXPECT_NEAR(got[i * H + c], want, 1e-4 * (1 + std::abs(want)));
      EXPECT_NEAR(__bfloat162float(got_b[i * H + c]), want, 1e-2 * (1 + std::abs(want)));
    }
  }
}

// Attention through the paged cache against a loop over positions, for several shapes, tile
// sizes and split counts. K/V are written by the RoPE kernel, so this also checks RoPE.
struct AttnCase {
  int nh, nkv, hd, window, ctx, new_rows, tile_rows, splits;
};

TEST_F(CudaKernels, RopeAndPagedAttentionMatchLoop) {
  const int bt = 4, blocks = 64;
  for (bool f32 : {false, true})
  for (AttnCase c : {AttnCase{32, 8, 128, 0, 37, 1, 1, 8}, AttnCase{4, 2, 16, 0, 0, 9, 4, 1}, AttnCase{4, 1, 8, 5, 6, 7, 4, 3},
                     AttnCase{8, 8, 64, 0, 150, 2, 2, 1}, AttnCase{48, 8, 128, 0, 3, 4, 4, 2}}) {
    const int qkv_dim = (c.nh + 2 * c.nkv) * c.hd, total = c.ctx + c.new_rows;
    std::vector<int32_t> table(blocks);
    std::iota(table.begin(), table.end(), 0);
    std::shuffle(table.begin(), table.end(), rng_);
    // Fill the cache for positions [0, total) with RoPE'd K and V, then attend from the new rows.
    auto all = Rand(rng_, static_cast<size_t>(total) * qkv_dim);
    std::vector<int32_t> pos(total), slot(total);
    for (int p = 0; p < total; ++p) {
      pos[p] = p;
      slot[p] = table[p / bt] * bt + p % bt;
    }
    Dev<float> dqkv(all);
    Dev<int32_t> dpos(pos), dslot(slot), dtable(table);
    const size_t cache = static_cast<size_t>(blocks) * bt * c.nkv * c.hd;
    Dev<float> kc(cache), vc(cache);  // big enough for either element type
    ASSERT_EQ(LaunchRopeKv(dqkv.get(), dpos.get(), dslot.get(), total, c.nh, c.nkv, c.hd, 10000.0f, kc.get(), vc.get(),
                           f32, nullptr),
              cudaSuccess);
    auto kv = [f32](float v) { return f32 ? v : Bf(v); };
    auto roped = dqkv.Get();
    // CPU RoPE reference for every row.
    std::vector<float> ref = all;
    for (int p = 0; p < total; ++p) {
      for (int h = 0; h < c.nh + c.nkv; ++h) {
        float* v = &ref[static_cast<size_t>(p) * qkv_dim + h * c.hd];
        for (int i = 0; i < c.hd / 2; ++i) {
          float inv = 1.0f / std::pow(10000.0f, static_cast<float>(2 * i) / c.hd);
          float ang = p * inv, a = v[i], b = v[i + c.hd / 2];
          v[i] = a * std::cos(ang) - b * std::sin(ang);
          v[i + c.hd / 2] = b * std::cos(ang) + a * std::sin(ang);
        }
      }
    }
    for (int p = 0; p < total; ++p) {
      for (int i = 0; i < c.nh * c.hd; ++i) {
        ASSERT_NEAR(roped[static_cast<size_t>(p) * qkv_dim + i], ref[static_cast<size_t>(p) * qkv_dim + i], 1e-3);
      }
    }
    // Attention for rows [ctx, total): tiles of tile_rows.
    std::vector<AttnTile> tiles;
    for (int r = 0; r < c.new_rows; r += c.tile_rows) tiles.push_back({r, std::min(c.tile_rows, c.new_rows - r), 0});
    std::vector<int32_t> qpos(pos.begin() + c.ctx, pos.end());
    Dev<int32_t> dqpos(qpos);
    Dev<AttnTile> dtiles(tiles);
    Dev<float> partials(static_cast<size_t>(c.new_rows) * c.nh * c.splits * (c.hd + 2)),
        out(static_cast<size_t>(c.new_rows) * c.nh * c.hd);
    AttnArgs a;
    a.q = dqkv.get() + static_cast<size_t>(c.ctx) * qkv_dim;
    a.ldq = qkv_dim;
    a.k_cache = kc.get();
    a.v_cache = vc.get();
    a.kv_f32 = f32;
    a.block_tables = dtable.get();
    a.max_blocks = blocks;
    a.pos = dqpos.get();
    a.tiles = dtiles.get();
    a.n_tiles = static_cast<int>(tiles.size());
    a.tile_rows = c.tile_rows;
    a.splits = c.splits;
    a.nh = c.nh;
    a.nkv = c.nkv;
    a.hd = c.hd;
    a.block_tokens = bt;
    a.window = c.window;
    a.partials = partials.get();
    a.n_rows = c.new_rows;
    a.out_f = out.get();
    ASSERT_EQ(LaunchPagedAttention(a, nullptr), cudaSuccess);
    auto got = out.Get();
    std::vector<float> want(got.size());
    const int G = c.nh / c.nkv;
    for (int r = 0; r < c.new_rows; ++r) {
      const int p = c.ctx + r, lo = c.window > 0 ? std::max(0, p - c.window + 1) : 0;
      for (int h = 0; h < c.nh; ++h) {
        const float* q = &ref[static_cast<size_t>(p) * qkv_dim + h * c.hd];
        std::vector<double> sc;
        for (int j = lo; j <= p; ++j) {
          const float* kk = &ref[static_cast<size_t>(j) * qkv_dim + (c.nh + h / G) * c.hd];
          double s = 0;
          for (int d = 0; d < c.hd; ++d) s += static_cast<double>(q[d]) * kv(kk[d]);
          sc.push_back(s / std::sqrt(static_cast<double>(c.hd)));
        }
        double mx = *std::max_element(sc.begin(), sc.end()), sum = 0;
        for (double& s : sc) sum += (s = std::exp(s - mx));
        for (int d = 0; d < c.hd; ++d) {
          double o = 0;
          for (int j = lo; j <= p; ++j) {
            o += sc[j - lo] / sum * kv(all[static_cast<size_t>(j) * qkv_dim + (c.nh + c.nkv + h / G) * c.hd + d]);
          }
          want[(static_cast<size_t>(r) * c.nh + h) * c.hd + d] = static_cast<float>(o);
        }
      }
    }
    EXPECT_LT(Err(got, want), f32 ? 2e-4 : 2e-3) << "f32=" << f32 << " nh=" << c.nh << " hd=" << c.hd << " window=" << c.window << " splits=" << c.splits;
  }
}

TEST_F(CudaKernels, LtGemmMatchesLoop) {
  LtGemm lt;
  ASSERT_TRUE(lt.Init().ok());
  const int M = 40, N = 264, K = 512;
  auto x = RoundBf(Rand(rng_, M * K)), w = RoundBf(Rand(rng_, N * K, 0.05f)), y0 = Rand(rng_, M * N);
  Dev<bf16> dx(ToBf(x)), dw(ToBf(w));
  Dev<float> dy(y0);
  ASSERT_TRUE(lt.Run(nullptr, M, N, K, dx.get(), dw.get(), dy.get(), nullptr, true).ok());
  std::vector<float> want(M * N);
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double s = y0[m * N + n];
      for (int k = 0; k < K; ++k) s += static_cast<double>(x[m * K + k]) * w[n * K + k];
      want[m * N + n] = static_cast<float>(s);
    }
  EXPECT_LT(Err(dy.Get(), want), 1e-4);
}

TEST_F(CudaKernels, ArgmaxFindsFirstMaximum) {
  const int rows = 3, V = 32000;
  auto logits = Rand(rng_, rows * V);
  logits[5 * 1 + 7] = 50.0f;
  logits[V + 31999] = 60.0f;
  logits[2 * V + 100] = 70.0f;
  logits[2 * V + 20000] = 70.0f;
  Dev<float> d(logits);
  Dev<int32_t> out(rows);
  ASSERT_EQ(LaunchArgmax(d.get(), rows, V, out.get(), nullptr), cudaSuccess);
  EXPECT_EQ(out.Get(), (std::vector<int32_t>{12, 31999, 100}));
}

// Sampling: greedy rows, then empirical frequencies over many rows (one seed each) against the
// renormalised softmax of what top-k / top-p keep.
TEST_F(CudaKernels, SamplingMatchesDistribution) {
  const int V = 6, rows = 40000;
  const std::vector<float> base = {std::log(0.05f), std::log(0.30f), std::log(0.10f), std::log(0.40f), std::log(0.15f),
                                   -30.0f};
  struct Case {
    float temperature;
    int top_k;
    float top_p;
    std::vector<double> want;  // probabilities per token
  };
  const std::vector<Case> cases = {
      {0.0f, 0, 1.0f, {0, 0, 0, 1, 0, 0}},                          // greedy
      {1.0f, 1, 1.0f, {0, 0, 0, 1, 0, 0}},                          // top-1 is greedy
      {1.0f, 0, 1.0f, {0.05, 0.30, 0.10, 0.40, 0.15, 0}},           // plain softmax
      {1.0f, 3, 1.0f, {0, 0.30 / 0.85, 0, 0.40 / 0.85, 0.15 / 0.85, 0}},  // top-3
      {1.0f, 0, 0.65f, {0, 0.30 / 0.70, 0, 0.40 / 0.70, 0, 0}},     // top-p: {0.40, 0.30} reach 0.65
      {2.0f, 0, 1.0f, {}},                                           // temperature 2: sqrt of the probabilities
  };
  for (const Case& c : cases) {
    std::vector<double> want = c.want;
    if (want.empty()) {
      double z = 0;
      for (float l : base) z += std::exp(l / 2.0);
      for (float l : base) want.push_back(std::exp(l / 2.0) / z);
    }
    std::vector<float> logits;
    for (int r = 0; r < rows; ++r) logits.insert(logits.end(), base.begin(), base.end());
    std::vector<uint64_t> seeds(rows);
    for (int r = 0; r < rows; ++r) seeds[r] = 1000003ULL * r + 7;
    Dev<float> dl(logits), dt(std::vector<float>(rows, c.temperature)), dp(std::vector<float>(rows, c.top_p));
    Dev<int32_t> dk(std::vector<int32_t>(rows, c.top_k)), out(rows);
    Dev<uint64_t> ds(seeds);
    ASSERT_EQ(LaunchSample(dl.get(), rows, V, dt.get(), dk.get(), dp.get(), ds.get(), out.get(), nullptr), cudaSuccess);
    std::vector<double> freq(V);
    for (int32_t t : out.Get()) {
      ASSERT_GE(t, 0);
      ASSERT_LT(t, V);
      freq[t] += 1.0 / rows;
    }
    for (int v = 0; v < V; ++v) {
      EXPECT_NEAR(freq[v], want[v], 0.015) << "T=" << c.temperature << " k=" << c.top_k << " p=" << c.top_p
                                           << " token " << v;
    }
  }
  // A full-size vocabulary: greedy picks the first maximum, top-k 2 only the two largest.
  const int BV = 32000;
  auto big = Rand(rng_, 2 * BV);
  big[777] = 40.0f;
  big[BV + 12345] = 40.0f;
  big[BV + 20000] = 39.5f;
  Dev<float> dl(big), dt(std::vector<float>{0.0f, 1.0f}), dp(std::vector<float>{1.0f, 1.0f});
  Dev<int32_t> dk(std::vector<int32_t>{0, 2}), out(2);
  Dev<uint64_t> ds(std::vector<uint64_t>{1, 2});
  ASSERT_EQ(LaunchSample(dl.get(), 2, BV, dt.get(), dk.get(), dp.get(), ds.get(), out.get(), nullptr), cudaSuccess);
  auto got = out.Get();
  EXPECT_EQ(got[0], 777);
  EXPECT_TRUE(got[1] == 12345 || got[1] == 20000) << got[1];
}

}  // namespace
}  // namespace mixserve::cuda
