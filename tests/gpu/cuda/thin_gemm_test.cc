// The thin tensor-core GEMM (thin_gemm.cu) against a plain loop: M from 1 to 64 rows, ragged N,
// split K (cluster sums, deterministic), strided batches, grouped rows (sizes on the device), fp32 and
// bf16 outputs, padded leading dimensions; its split choice; bad arguments; and CudaModel's logits
// with the thin kernel on the dense projections (and the grouped one on the MoE) against the cuBLASLt
// path, prefill and graphed decode.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "runtime/backend/cuda/cuda_model.h"
#include "runtime/backend/cuda/kernels.h"
#include "tests/gpu/cuda/cuda_test_util.h"
#include "tests/support/local_cluster.h"

namespace mixserve::cuda {
namespace {

using test_util::Dev;
using test_util::Err;
using test_util::FromBf;
using test_util::Rand;
using test_util::RoundBf;
using test_util::ToBf;

class ThinGemm : public test_util::GpuTest {
 protected:
  std::mt19937 rng_{4321};
};

struct Case {
  int M, N, K, batch, splits;
  bool accumulate, y_f32;
};

TEST_F(ThinGemm, MatchesLoop) {
  const Case cases[] = {
      {1, 64, 64, 1, 1, false, true},     {17, 200, 512, 1, 1, false, true},  {40, 264, 1024, 1, 4, true, true},
      {64, 1000, 2048, 1, 8, false, true}, {33, 96, 512, 3, 2, false, false}, {64, 128, 256, 2, 1, true, false},
      {48, 6144 / 8, 4096 / 4, 1, 4, true, true}, {20, 130, 192, 1, 1, true, true}, {9, 256, 1536, 2, 8, false, true},
  };
  for (int wgmma : {0, 1}) {  // 1: the warpgroup-MMA kernel for M > 16 (thin_wgmma.cu)
    for (const Case& c : cases) {
      SetThinWgmma(wgmma);
      const int64_t ldx = c.K + 8, ldw = c.K + 16, ldy = c.N + 4;  // padded rows: the kernel must use them
      const int64_t sx = c.M * ldx + 24, sw = c.N * ldw + 40, sy = c.M * ldy + 12;
      auto x = RoundBf(Rand(rng_, c.batch * sx)), w = RoundBf(Rand(rng_, c.batch * sw, 0.05f));
      auto y0 = RoundBf(Rand(rng_, c.batch * sy));
      Dev<bf16> dx(ToBf(x)), dw(ToBf(w));
      Dev<float> dyf(y0);
      Dev<bf16> dyb(ToBf(y0));
      ThinGemmArgs a;
      a.M = c.M;
      a.N = c.N;
      a.K = c.K;
      a.batch = c.batch;
      a.x = dx.get();
      a.ldx = ldx;
      a.stride_x = sx;
      a.w = dw.get();
      a.ldw = ldw;
      a.stride_w = sw;
      a.y = c.y_f32 ? static_cast<void*>(dyf.get()) : static_cast<void*>(dyb.get());
      a.y_f32 = c.y_f32;
      a.ldy = ldy;
      a.stride_y = sy;
      a.accumulate = c.accumulate;
      a.splits = c.splits;
      ASSERT_EQ(LaunchThinGemm(a, nullptr), cudaSuccess);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      std::vector<float> got = c.y_f32 ? dyf.Get() : FromBf(dyb.Get()), want = y0;
      for (int b = 0; b < c.batch; ++b)
        for (int m = 0; m < c.M; ++m)
          for (int n = 0; n < c.N; ++n) {
            double s = c.accumulate ? y0[b * sy + m * ldy + n] : 0.0;
            for (int k = 0; k < c.K; ++k) s += static_cast<double>(x[b * sx + m * ldx + k]) * w[b * sw + n * ldw + k];
            want[b * sy + m * ldy + n] = static_cast<float>(s);
          }
      if (!c.y_f32) want = RoundBf(want);  // elements outside the product keep their bf16 value
      // fp32: accumulation order only; bf16 out: one rounding either side of a tie.
      EXPECT_LT(Err(got, want), c.y_f32 ? 1e-4 : 1e-2)
          << "wgmma=" << wgmma << " M=" << c.M << " N=" << c.N << " K=" << c.K << " splits=" << c.splits;
    }
  }
  SetThinWgmma(-1);
}

// One-hot x rows (x[m][k] = 1 where k == m) make y[m][n] = W[n][m] exactly, with W's entries all
// distinct: a wrong element names the W entry it holds, which tells a descriptor, swizzle, k-step or
// accumulator-layout mistake apart (the first wrong elements are printed as "y[m][n] = W[n'][k']").
TEST_F(ThinGemm, OneHotRowsPickWeightEntries) {
  const int M = 64, K = 128;
  for (int wgmma : {0, 1}) {
    for (const int N : {128, 256}) {
      SetThinWgmma(wgmma);
      std::vector<float> x(static_cast<size_t>(M) * K, 0.0f), w(static_cast<size_t>(N) * K);
      for (int m = 0; m < M; ++m) x[static_cast<size_t>(m) * K + (m + 37) % K] = 1.0f;
      // Distinct bf16 values (exact in bf16 and in fp32 sums with zeros): sign, 128 mantissas, 128 binades.
      for (size_t i = 0; i < w.size(); ++i) {
        const float v = std::ldexp(1.0f + static_cast<float>((i >> 1) % 128) / 128.0f, static_cast<int>(i >> 8) - 100);
        w[i] = (i & 1) ? -v : v;
      }
      w = RoundBf(w);
      std::map<float, std::pair<int, int>> where;
      for (int n = 0; n < N; ++n)
        for (int k = 0; k < K; ++k) where.emplace(w[static_cast<size_t>(n) * K + k], std::pair{n, k});
      ASSERT_EQ(where.size(), w.size()) << "the probe's weights must be distinct";
      Dev<bf16> dx(ToBf(x)), dw(ToBf(w));
      Dev<float> y(static_cast<size_t>(M) * N);
      ASSERT_EQ(LaunchThinGemm(ThinDense(M, N, K, dx.get(), dw.get(), y.get(), N, false, 1), nullptr), cudaSuccess);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      const auto got = y.Get();
      int wrong = 0;
      std::string first;
      for (int m = 0; m < M; ++m)
        for (int n = 0; n < N; ++n) {
          const float want = w[static_cast<size_t>(n) * K + (m + 37) % K], g = got[static_cast<size_t>(m) * N + n];
          if (g == want) continue;
          if (++wrong <= 8) {
            const auto it = where.find(g);
            first += " y[" + std::to_string(m) + "][" + std::to_string(n) + "] = " +
                     (it == where.end() ? std::to_string(g)
                                        : "W[" + std::to_string(it->second.first) + "][" + std::to_string(it->second.second) + "]") +
                     " (want W[" + std::to_string(n) + "][" + std::to_string((m + 37) % K) + "]);";
          }
        }
      EXPECT_EQ(wrong, 0) << "wgmma=" << wgmma << " N=" << N << ":" << first;
    }
  }
  SetThinWgmma(-1);
}

TEST_F(ThinGemm, SplitSumsAreDeterministic) {
  const int M = 64, N = 640, K = 4096, splits = 8;
  auto x = RoundBf(Rand(rng_, M * K)), w = RoundBf(Rand(rng_, N * K, 0.05f));
  Dev<bf16> dx(ToBf(x)), dw(ToBf(w));
  for (int wgmma : {0, 1}) {
    SetThinWgmma(wgmma);
    std::vector<float> first;
    for (int run = 0; run < 3; ++run) {
      Dev<float> y(static_cast<size_t>(M) * N);
      const ThinGemmArgs a = ThinDense(M, N, K, dx.get(), dw.get(), y.get(), N, false, splits);
      ASSERT_EQ(LaunchThinGemm(a, nullptr), cudaSuccess);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      if (run == 0) {
        first = y.Get();
        EXPECT_LT(Err(first, test_util::RefGemm(x, w, M, N, K)), 1e-4);
      } else {
        EXPECT_EQ(y.Get(), first) << "wgmma=" << wgmma << " run " << run;
      }
    }
  }
  SetThinWgmma(-1);
}

// Grouped rows: groups of 0 to 130 compact rows (several 64-row tiles, ragged last tiles, empty
// groups), each with its own weights, the sizes read on the device; the grid's spare tiles do nothing.
TEST_F(ThinGemm, GroupedRowsMatchLoop) {
  if (!ThinGroupedSupported()) GTEST_SKIP() << "skipped: grouped rows need Hopper";
  const std::vector<int> sizes = {5, 0, 64, 130, 1, 63, 0, 65};
  const int G = static_cast<int>(sizes.size());
  std::vector<int32_t> off(G + 1, 0);
  for (int g = 0; g < G; ++g) off[g + 1] = off[g] + sizes[g];
  const int rows = off[G];
  for (const auto& [N, K, splits, y_f32] : {std::tuple{200, 512, 1, true}, std::tuple{136, 1024, 4, true},
                                           std::tuple{256, 768, 2, false}, std::tuple{128, 4096, 8, true}}) {
    const int64_t ldx = K + 8, ldw = K, ldy = N + 4, sw = static_cast<int64_t>(N) * ldw + 64;
    auto x = RoundBf(Rand(rng_, rows * ldx)), w = RoundBf(Rand(rng_, G * sw, 0.05f));
    auto y0 = RoundBf(Rand(rng_, rows * ldy));
    Dev<bf16> dx(ToBf(x)), dw(ToBf(w)), dyb(ToBf(y0));
    Dev<float> dyf(y0);
    Dev<int32_t> doff(off);
    ThinGemmArgs a;
    a.M = 64;
    a.N = N;
    a.K = K;
    a.batch = ThinGroupedTiles(rows, G);
    a.x = dx.get();
    a.ldx = ldx;
    a.w = dw.get();
    a.ldw = ldw;
    a.stride_w = sw;
    a.y = y_f32 ? static_cast<void*>(dyf.get()) : static_cast<void*>(dyb.get());
    a.y_f32 = y_f32;
    a.ldy = ldy;
    a.splits = splits;
    a.group_offsets = doff.get();
    a.groups = G;
    ASSERT_EQ(LaunchThinGemm(a, nullptr), cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    std::vector<float> got = y_f32 ? dyf.Get() : FromBf(dyb.Get()), want = y0;
    for (int g = 0; g < G; ++g)
      for (int m = off[g]; m < off[g + 1]; ++m)
        for (int n = 0; n < N; ++n) {
          double acc = 0.0;
          for (int k = 0; k < K; ++k) acc += static_cast<double>(x[m * ldx + k]) * w[g * sw + n * ldw + k];
          want[m * ldy + n] = static_cast<float>(acc);
        }
    if (!y_f32) want = RoundBf(want);
    EXPECT_LT(Err(got, want), y_f32 ? 1e-4 : 1e-2) << "N=" << N << " K=" << K << " splits=" << splits;
  }
  // Without groups (or on an older GPU) a grouped launch is refused.
  Dev<bf16> x(64 * 64), w(64 * 64);
  Dev<float> y(64 * 64);
  Dev<int32_t> doff(std::vector<int32_t>{0, 64});
  ThinGemmArgs b = ThinDense(64, 64, 64, x.get(), w.get(), y.get(), 64, false, 1);
  b.group_offsets = doff.get();
  b.groups = 0;
  EXPECT_EQ(LaunchThinGemm(b, nullptr), cudaErrorInvalidValue);
}

TEST_F(ThinGemm, SplitChoice) {
  EXPECT_EQ(ThinGemmSplits(6144, 4096, 1, 132), 8);   // 48 column tiles: 384 CTAs
  EXPECT_EQ(ThinGemmSplits(4096, 4096, 1, 132), 8);   // 32: 256
  EXPECT_EQ(ThinGemmSplits(32000, 4096, 1, 132), 2);  // 250: 500
  EXPECT_EQ(ThinGemmSplits(28672, 4096, 8, 132), 1);  // 1,792 CTAs already
  EXPECT_EQ(ThinGemmSplits(4096, 14336, 8, 132), 2);  // 256 -> 512
  EXPECT_EQ(ThinGemmSplits(6144, 768, 1, 132), 2);    // slices keep >= 256 columns
  EXPECT_EQ(ThinGemmSplits(6144, 192, 1, 132), 1);
}

TEST_F(ThinGemm, RejectsBadArguments) {
  Dev<bf16> x(64 * 4096 + 8), w(256 * 4096);
  Dev<float> y(65 * 256);
  const ThinGemmArgs a = ThinDense(64, 256, 4096, x.get(), w.get(), y.get(), 256, false, 1);
  const std::pair<const char*, std::function<void(ThinGemmArgs&)>> bad[] = {
      {"M > 64", [](ThinGemmArgs& b) { b.M = 65; }},
      {"K % 64", [](ThinGemmArgs& b) { b.K = 100; }},
      {"K % (64 * splits)", [](ThinGemmArgs& b) { b.splits = 3; }},
      {"more than 8 slices", [](ThinGemmArgs& b) { b.splits = 16; }},
      {"unaligned x", [&](ThinGemmArgs& b) { b.x = x.get() + 1; }},
  };
  for (const auto& [why, edit] : bad) {
    ThinGemmArgs b = a;
    edit(b);
    EXPECT_EQ(LaunchThinGemm(b, nullptr), cudaErrorInvalidValue) << why;
  }
  EXPECT_FALSE(ThinGemmApplies(64, 4096, x.get(), 4100, w.get(), 4096));
  EXPECT_TRUE(ThinGemmApplies(64, 4096, x.get(), 4096, w.get(), 4096));
}

// Logits of a prefill of `seqs` 3-token prompts and two graphed decode steps with the thin kernel on
// the dense projections (mode 1) against cuBLASLt (mode 0), the rest of the step unchanged: 20
// sequences (60 and 20 rows, thin up to 64 rows: mma.sync, then wgmma); 6 (18 and 6 rows; skinny
// kernels for 1-2 rows and 1-4 pairs, so the padded MoE from 3 rows); 4 (12 and 4 rows; the skinny
// MoE up to 8 pairs behind thin projections, the defaults' split); on Hopper 20 again with the MoE
// on the grouped thin kernel from 3 rows (against the padded cuBLASLt path).
class ThinGemmModel : public ::testing::TestWithParam<std::string> {};

struct PathSetup {
  int seqs, skinny_rows, skinny_pairs, thin_rows, wgmma;
  int grouped_rows = 0;  // the MoE on the grouped thin kernel up to this many rows (ahead of the padded path)
};

std::vector<std::vector<float>> RunSteps(const std::string& dir, int mode, const PathSetup& setup) {
  SetThinGemm(mode);
  SetThinWgmma(setup.wgmma);
  std::vector<std::vector<float>> logits;
  auto config = ResolveModelConfig(dir, 0);
  EXPECT_TRUE(config.ok()) << config.status().message();
  if (!config.ok()) return logits;
  CudaModelOptions o;
  o.num_kv_blocks = 64;
  o.max_model_len = 64;
  o.max_batch_tokens = 128;
  o.max_seqs = 24;
  o.max_logit_rows = 64;
  o.skinny_max_rows = setup.skinny_rows;
  o.skinny_max_pairs = setup.skinny_pairs;
  o.thin_max_rows = setup.thin_rows;
  o.thin_grouped_min_rows = 0;
  o.thin_grouped_max_rows = setup.grouped_rows;
  auto model = CudaModel::Create(*config, dir, o);
  EXPECT_TRUE(model.ok()) << model.status().message();
  if (!model.ok()) return logits;
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> tok(2, 31999);
  std::vector<std::vector<int32_t>> tokens(setup.seqs);
  for (auto& t : tokens) t = {1, tok(rng), tok(rng)};
  for (int step = 0; step < 3; ++step) {
    ForwardBatch batch;
    for (int s = 0; s < setup.seqs; ++s) {
      SeqForward f;
      f.start_pos = step == 0 ? 0 : static_cast<int32_t>(tokens[s].size()) - 1;
      f.tokens.assign(tokens[s].begin() + f.start_pos, tokens[s].end());
      f.block_table = {s * 2, s * 2 + 1};
      batch.seqs.push_back(std::move(f));
    }
    ForwardOutput out;
    Status st = (**model).Forward(batch, &out);
    EXPECT_TRUE(st.ok()) << st.message();
    if (!st.ok()) break;
    for (int s = 0; s < setup.seqs; ++s) {
      const float* row = out.row(out.row_begin[s]);
      logits.emplace_back(row, row + out.vocab_size);
      tokens[s].push_back(tok(rng));
    }
  }
  SetThinGemm(-1);
  SetThinWgmma(-1);
  return logits;
}

TEST_P(ThinGemmModel, LogitsMatchTheCublasLtPath) {
  if (DeviceCount() == 0) GTEST_SKIP() << "skipped: no GPU";
  const std::string dir = testing::RepoRoot() + "/tests/data/" + GetParam();
  std::vector<PathSetup> setups = {{20, 16, 16, 64, 0}, {20, 16, 16, 64, 1}, {6, 2, 4, 16, 0}, {4, 2, 8, 16, 0}};
  if (ThinGroupedSupported()) setups.push_back({20, 2, 4, 16, 1, 64});  // the grouped thin MoE from 3 rows
  for (const PathSetup& setup : setups) {
    const auto lt = RunSteps(dir, 0, setup);
    ASSERT_EQ(lt.size(), 3u * setup.seqs);
    const auto thin = RunSteps(dir, 1, setup);
    ASSERT_EQ(thin.size(), lt.size());
    // Both paths round the same bf16 activations; only fp32 summation orders differ, which can move a
    // bf16-rounded intermediate by one unit: ~1e-2 at most here, while a wrong operand or stride gives
    // errors of order one.
    for (size_t r = 0; r < lt.size(); ++r) {
      EXPECT_LT(Err(thin[r], lt[r]), 2e-2) << "seqs " << setup.seqs << " row " << r;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(TinyModels, ThinGemmModel, ::testing::Values("tiny-mixtral", "tiny-mistral"),
                         test_util::ModelParamName);

}  // namespace
}  // namespace mixserve::cuda
