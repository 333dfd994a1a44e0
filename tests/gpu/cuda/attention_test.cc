// The attention kernels against a plain CPU loop: the paged decode attention (v1: split kernel +
// combine kernel; v2: one launch, last split block merges) over bf16 and fp32 caches, GQA, sliding
// windows, contexts 1..4096 and batches 1..64, its determinism and CUDA-graph replays; and the
// tensor-core prefill attention pieces (pack, QK^T, masked softmax, P.V, scatter) under a window.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <string>
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

class CudaAttention : public test_util::GpuTest {
 protected:
  std::mt19937 rng_{4321};
};

// One decode (or small-tile) problem: `batch` sequences, sequence b has ctx[b] tokens in the paged
// cache (its last tile_rows of them are the query rows), random K/V/q.
struct DecodeCase {
  int nh, nkv, hd, window, ctx, batch, tile_rows;
  bool f32;
};

class DecodeProblem {
 public:
  DecodeProblem(const DecodeCase& c, std::mt19937& rng) : c_(c), G_(c.nh / c.nkv) {
    const int bt = 16;
    for (int b = 0; b < c.batch; ++b) {
      // Vary the context across the batch (at least tile_rows tokens).
      ctx_.push_back(std::max(c.tile_rows, c.ctx - (b * 37) % std::max(1, c.ctx / 2)));
    }
    max_blocks_ = (c.ctx + bt - 1) / bt;
    const int n_blocks = max_blocks_ * c.batch;
    std::vector<int32_t> perm(n_blocks);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    table_ = perm;  // sequence b's table: perm[b * max_blocks, ...)
    const size_t cache = static_cast<size_t>(n_blocks) * bt * c.nkv * c.hd;
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    k_.resize(cache);
    v_.resize(cache);
    for (size_t i = 0; i < cache; ++i) {
      k_[i] = c.f32 ? u(rng) : Bf(u(rng));
      v_[i] = c.f32 ? u(rng) : Bf(u(rng));
    }
    for (int b = 0; b < c.batch; ++b) {
      const int first = static_cast<int>(pos_.size());
      for (int t = ctx_[b] - c.tile_rows; t < ctx_[b]; ++t) {
        pos_.push_back(t);
        seq_.push_back(b);
      }
      tiles_.push_back({first, c.tile_rows, b});
    }
    rows_ = static_cast<int>(pos_.size());
    ldq_ = (c.nh + 2 * c.nkv) * c.hd;
    q_.resize(static_cast<size_t>(rows_) * ldq_);
    for (float& x : q_) x = 2.0f * u(rng);
  }

  int rows() const { return rows_; }
  int n_tiles() const { return static_cast<int>(tiles_.size()); }

  // Plain reference: softmax(q . k / sqrt(hd)) . v over keys (p - window, p] in double.
  std::vector<float> Reference() const {
    const int bt = 16;
    std::vector<float> out(static_cast<size_t>(rows_) * c_.nh * c_.hd);
    std::vector<double> sc, o(c_.hd);
    for (int r = 0; r < rows_; ++r) {
      const int p = pos_[r], lo = c_.window > 0 ? std::max(0, p - c_.window + 1) : 0;
      const int32_t* table = &table_[static_cast<size_t>(seq_[r]) * max_blocks_];
      for (int h = 0; h < c_.nh; ++h) {
        const float* q = &q_[static_cast<size_t>(r) * ldq_ + h * c_.hd];
        const int g = h / G_;
        sc.clear();
        double mx = -1e300;
        for (int j = lo; j <= p; ++j) {
          const size_t base = ((static_cast<size_t>(table[j / bt]) * bt + j % bt) * c_.nkv + g) * c_.hd;
          double s = 0;
          for (int d = 0; d < c_.hd; ++d) s += static_cast<double>(q[d]) * k_[base + d];
          s /= std::sqrt(static_cast<double>(c_.hd));
          sc.push_back(s);
          mx = std::max(mx, s);
        }
        double sum = 0;
        std::fill(o.begin(), o.end(), 0.0);
        for (int j = lo; j <= p; ++j) {
          const size_t base = ((static_cast<size_t>(table[j / bt]) * bt + j % bt) * c_.nkv + g) * c_.hd;
          const double w = std::exp(sc[j - lo] - mx);
          sum += w;
          for (int d = 0; d < c_.hd; ++d) o[d] += w * v_[base + d];
        }
        for (int d = 0; d < c_.hd; ++d) out[(static_cast<size_t>(r) * c_.nh + h) * c_.hd + d] = static_cast<float>(o[d] / sum);
      }
    }
    return out;
  }

  // Device buffers and the arguments for LaunchPagedAttention.
  void Upload() {
    std::vector<bf16> kb, vb;
    if (!c_.f32) {
      kb.resize(k_.size());
      vb.resize(v_.size());
      for (size_t i = 0; i < k_.size(); ++i) kb[i] = __float2bfloat16(k_[i]), vb[i] = __float2bfloat16(v_[i]);
      kc_ = std::make_unique<Dev<bf16>>(kb);
      vc_ = std::make_unique<Dev<bf16>>(vb);
    } else {
      kcf_ = std::make_unique<Dev<float>>(k_);
      vcf_ = std::make_unique<Dev<float>>(v_);
    }
    dq_ = std::make_unique<Dev<float>>(q_);
    dpos_ = std::make_unique<Dev<int32_t>>(pos_);
    dtable_ = std::make_unique<Dev<int32_t>>(table_);
    dtiles_ = std::make_unique<Dev<AttnTile>>(tiles_);
    partials_ = std::make_unique<Dev<float>>(static_cast<size_t>(rows_) * c_.nh * 32 * (c_.hd + 2));
    out_ = std::make_unique<Dev<float>>(static_cast<size_t>(rows_) * c_.nh * c_.hd);
  }

  AttnArgs Args(int splits, int version) {
    AttnArgs a;
    a.q = dq_->get();
    a.ldq = ldq_;
    a.k_cache = c_.f32 ? static_cast<const void*>(kcf_->get()) : static_cast<const void*>(kc_->get());
    a.v_cache = c_.f32 ? static_cast<const void*>(vcf_->get()) : static_cast<const void*>(vc_->get());
    a.kv_f32 = c_.f32;
    a.block_tables = dtable_->get();
    a.max_blocks = max_blocks_;
    a.pos = dpos_->get();
    a.tiles = dtiles_->get();
    a.n_tiles = n_tiles();
    a.tile_rows = c_.tile_rows;
    a.splits = splits;
    a.nh = c_.nh;
    a.nkv = c_.nkv;
    a.hd = c_.hd;
    a.block_tokens = 16;
    a.window = c_.window;
    a.partials = partials_->get();
    a.n_rows = rows_;
    a.out_f = out_->get();
    a.version = version;
    return a;
  }
  Dev<float>& out() { return *out_; }

 private:
  DecodeCase c_;
  int G_;
  int max_blocks_ = 0, rows_ = 0, ldq_ = 0;
  std::vector<int> ctx_;
  std::vector<int32_t> table_, pos_, seq_;
  std::vector<AttnTile> tiles_;
  std::vector<float> k_, v_, q_;
  std::unique_ptr<Dev<bf16>> kc_, vc_;
  std::unique_ptr<Dev<float>> kcf_, vcf_, dq_, partials_, out_;
  std::unique_ptr<Dev<int32_t>> dpos_, dtable_;
  std::unique_ptr<Dev<AttnTile>> dtiles_;
};

std::string Name(const DecodeCase& c) {
  return "nh=" + std::to_string(c.nh) + " nkv=" + std::to_string(c.nkv) + " hd=" + std::to_string(c.hd) +
         " window=" + std::to_string(c.window) + " ctx=" + std::to_string(c.ctx) + " batch=" + std::to_string(c.batch) +
         " tile_rows=" + std::to_string(c.tile_rows) + " f32=" + std::to_string(c.f32);
}

// Both versions (v2 in five shapes), several split counts (1, the planner's, 32), against the CPU loop;
// v2 also run twice with the output poisoned in between, the second time with the earlier keys' loads
// before the PDL wait (bitwise equal: deterministic, counters reset, the same arithmetic).
TEST_F(CudaAttention, PagedDecodeMatchesLoop) {
  std::vector<DecodeCase> cases;
  for (bool f32 : {false, true}) {
    for (int ctx : {1, 17, 128, 1000, 4096}) {
      for (int batch : {1, 7, 64}) {
        if (batch == 64 && ctx > 1000) continue;  // keeps the CPU loop short
        cases.push_back({32, 8, 128, 0, ctx, batch, 1, f32});
      }
    }
    cases.push_back({32, 8, 128, 1000, 4096, 1, 1, f32});  // sliding window
    cases.push_back({32, 8, 128, 64, 1000, 7, 1, f32});
    cases.push_back({32, 8, 128, 64, 128, 64, 1, f32});
    cases.push_back({32, 8, 128, 0, 300, 3, 2, f32});    // 2-row tiles: 8 queries per block
    cases.push_back({64, 8, 128, 0, 500, 2, 1, f32});    // GQA 8
    cases.push_back({32, 32, 128, 0, 200, 3, 1, f32});   // no GQA
    cases.push_back({8, 8, 64, 0, 150, 2, 1, f32});
    cases.push_back({4, 1, 8, 8, 42, 3, 2, f32});        // the tiny-mixtral-swa shape
    cases.push_back({4, 2, 16, 0, 42, 3, 1, f32});
  }
  for (const DecodeCase& c : cases) {
    DecodeProblem pb(c, rng_);
    pb.Upload();
    const std::vector<float> want = pb.Reference();
    const int planned = PagedAttentionSplits(132, pb.n_tiles(), c.nkv, c.ctx, false, 0, 0);
    // v2's shapes (keys per group x threads : least keys per split); {0, 0, 0} is the default.
    struct Shape {
      int keys, threads, min_chunk;
    };
    // Version 7: the 256-thread kernel merging in a thread-block cluster (1-2 tiles).
    const Shape shapes[] = {{0, 0, 0}, {8, 128, 32}, {4, 256, 32}, {8, 256, 64}, {8, 256, 256}, {4, 256, 32}};
    for (int version : {1, 2, 3, 4, 5, 6, 7}) {
      // The other shapes on up to 7 rows only (the default takes 256 threads for 1-2 tiles, so both
      // thread counts meet every context here): keeps the run short under compute-sanitizer.
      if (version > 2 && c.batch > 7) continue;
      const Shape sh = shapes[version < 2 ? 0 : version - 2];
      SetDecodeAttentionShape(sh.keys, sh.threads, sh.min_chunk);
      SetDecodeAttentionCluster(version == 7 ? 1 : 0);
      for (int splits : {1, planned, 32}) {
        pb.out().Poison();
        ASSERT_EQ(LaunchPagedAttention(pb.Args(splits, std::min(version, 2)), nullptr), cudaSuccess) << Name(c);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << Name(c);
        const std::vector<float> got = pb.out().Get();
        EXPECT_LT(Err(got, want), c.f32 ? 2e-5 : 2e-4) << Name(c) << " version=" << version << " splits=" << splits
                                                      << " shape " << sh.keys << "x" << sh.threads << ":" << sh.min_chunk;
        if (version >= 2) {
          pb.out().Poison();
          AttnArgs early = pb.Args(splits, 2);
          early.old_keys_early = true;  // one-row tiles: the first round's loads before the PDL wait
          ASSERT_EQ(LaunchPagedAttention(early, nullptr), cudaSuccess);
          ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
          const std::vector<float> again = pb.out().Get();
          EXPECT_EQ(0, std::memcmp(got.data(), again.data(), got.size() * sizeof(float)))
              << Name(c) << " splits=" << splits << ": second run differs";
        }
      }
    }
  }
  SetDecodeAttentionShape(0, 0, 0);  // back to the default for the tests that follow
  SetDecodeAttentionCluster(-1);
}

// Which decode steps merge the attention splits in a thread-block cluster (host logic: no GPU needed):
// by default one tile whose keys span at most 512 (8 splits of one 64-key round; 4,000 keys measured 5%
// slower with 8 splits than with 16); forced on, any tiles and span; forced off, never.
TEST(DecodeAttentionForm, ClusterOnlyForOneShortTile) {
  SetDecodeAttentionCluster(-1);
  if (std::getenv("MIXSERVE_ATTN_CLUSTER") == nullptr) {
    EXPECT_TRUE(DecodeAttentionClusters(1, 1));
    EXPECT_TRUE(DecodeAttentionClusters(1, 512));
    EXPECT_FALSE(DecodeAttentionClusters(1, 513));
    EXPECT_FALSE(DecodeAttentionClusters(1, 0));  // span unknown (a caller that did not plan it)
    EXPECT_FALSE(DecodeAttentionClusters(2, 100));
  }
  SetDecodeAttentionCluster(1);
  EXPECT_TRUE(DecodeAttentionClusters(2, 4096));
  SetDecodeAttentionCluster(0);
  EXPECT_FALSE(DecodeAttentionClusters(1, 100));
  SetDecodeAttentionCluster(-1);
}

// v2 captured in a CUDA graph (32 splits, as BuildPlan uses for graph buckets) and replayed: each
// replay, with the output poisoned before it, reproduces the eager result bit for bit; with the split
// merge through global memory and in a thread-block cluster.
TEST_F(CudaAttention, PagedDecodeReplaysInGraph) {
  for (int cluster : {0, 1})  // the split merge through global memory, then in a cluster
  for (int ctx : {5, 128, 2000}) {
    SetDecodeAttentionCluster(cluster);
    DecodeProblem pb({32, 8, 128, 0, ctx, 2, 1, false}, rng_);
    pb.Upload();
    const std::vector<float> want = pb.Reference();
    cudaStream_t stream;
    ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
    ASSERT_EQ(LaunchPagedAttention(pb.Args(32, 2), stream), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    const std::vector<float> eager = pb.out().Get();
    EXPECT_LT(Err(eager, want), 2e-4) << "ctx=" << ctx;
    cudaGraph_t graph = nullptr;
    ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    ASSERT_EQ(LaunchPagedAttention(pb.Args(32, 2), stream), cudaSuccess);
    ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
    cudaGraphExec_t exec = nullptr;
    ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
    for (int i = 0; i < 3; ++i) {
      pb.out().Poison();
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
      ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
      const std::vector<float> got = pb.out().Get();
      EXPECT_EQ(0, std::memcmp(got.data(), eager.data(), got.size() * sizeof(float))) << "ctx=" << ctx << " replay " << i;
    }
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    cudaStreamDestroy(stream);
  }
  SetDecodeAttentionCluster(-1);
}

// The tensor-core prefill attention as CudaModel::DensePrefill drives it (pack, batched QK^T,
// masked softmax, batched P.V, scatter; chunks of queries), against a causal loop with the same
// window rule as the paged kernel (query p sees keys (p - window, p]) on bf16-rounded q/k/v. With
// hilo the probabilities are a bf16 pair (LaunchMaskedSoftmaxHiLo + a second P.V GEMM): that must
// match to fp32 accuracy; bf16 probabilities alone are good to ~3 significant digits only.
struct PrefillCase {
  int nh, nkv, hd, window, T, chunk;
};

TEST_F(CudaAttention, TensorCorePrefillMatchesLoop) {
  LtGemm lt;
  ASSERT_TRUE(lt.Init().ok());
  for (bool hilo : {false, true})
  for (PrefillCase c : {PrefillCase{4, 1, 8, 8, 42, 16}, PrefillCase{4, 1, 8, 8, 20, 16}, PrefillCase{4, 2, 16, 0, 42, 16},
                        PrefillCase{4, 2, 16, 5, 42, 16}, PrefillCase{32, 8, 128, 64, 300, 128},
                        PrefillCase{32, 8, 128, 0, 200, 64}, PrefillCase{8, 2, 64, 0, 1100, 512},
                        PrefillCase{4, 1, 16, 0, 2500, 2500}, PrefillCase{4, 1, 8, 0, 4500, 1024}}) {
    const int G = c.nh / c.nkv, qkv_dim = (c.nh + 2 * c.nkv) * c.hd, kv_rows = (c.T + 7) / 8 * 8;
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> qkv(static_cast<size_t>(c.T) * qkv_dim);
    for (float& x : qkv) x = 2.0f * u(rng_);
    Dev<float> dqkv(qkv);
    Dev<bf16> qb(static_cast<size_t>(c.nh) * c.chunk * c.hd), kb(static_cast<size_t>(c.nkv) * kv_rows * c.hd),
        vb(static_cast<size_t>(c.nkv) * kv_rows * c.hd), pb(static_cast<size_t>(c.nh) * c.chunk * kv_rows);
    Dev<float> sb(static_cast<size_t>(c.nh) * c.chunk * kv_rows), ob(static_cast<size_t>(c.nh) * c.chunk * c.hd),
        out(static_cast<size_t>(c.T) * c.nh * c.hd);
    cudaMemset(kb.get(), 0, static_cast<size_t>(c.nkv) * kv_rows * c.hd * 2);
    cudaMemset(vb.get(), 0, static_cast<size_t>(c.nkv) * kv_rows * c.hd * 2);
    for (int q0 = 0; q0 < c.T; q0 += c.chunk) {
      const int Tq = std::min(c.chunk, c.T - q0), Tk = std::min(kv_rows, (q0 + Tq + 7) / 8 * 8), rows = G * Tq;
      ASSERT_EQ(LaunchPrefillPack(dqkv.get(), qkv_dim, c.nh, c.nkv, c.hd, c.T, q0, Tq, qb.get(), kb.get(), vb.get(),
                                  q0 == 0, kv_rows, nullptr),
                cudaSuccess);
      GemmSpec sg;
      sg.M = rows;
      sg.N = Tk;
      sg.K = c.hd;
      sg.batch = c.nkv;
      sg.x = qb.get();
      sg.ldx = c.hd;
      sg.stride_x = static_cast<int64_t>(rows) * c.hd;
      sg.w = kb.get();
      sg.ldw = c.hd;
      sg.stride_w = static_cast<int64_t>(kv_rows) * c.hd;
      sg.y = sb.get();
      sg.ldy = Tk;
      sg.stride_y = static_cast<int64_t>(rows) * Tk;
      sg.alpha = 1.0f / std::sqrt(static_cast<float>(c.hd));
      ASSERT_TRUE(lt.Run(nullptr, sg).ok());
      if (hilo) {
        ASSERT_EQ(LaunchMaskedSoftmaxHiLo(sb.get(), pb.get(), rows, Tk, c.nkv, G, q0, c.window, nullptr), cudaSuccess);
      } else {
        ASSERT_EQ(LaunchMaskedSoftmax(sb.get(), pb.get(), rows, Tk, c.nkv, G, q0, c.window, nullptr), cudaSuccess);
      }
      GemmSpec og;
      og.M = rows;
      og.N = c.hd;
      og.K = Tk;
      og.batch = c.nkv;
      og.x = pb.get();
      og.ldx = Tk;
      og.stride_x = static_cast<int64_t>(rows) * Tk;
      og.w = vb.get();
      og.w_kn = true;
      og.ldw = c.hd;
      og.stride_w = static_cast<int64_t>(kv_rows) * c.hd;
      og.y = ob.get();
      og.ldy = c.hd;
      og.stride_y = static_cast<int64_t>(rows) * c.hd;
      ASSERT_TRUE(lt.Run(nullptr, og).ok());
      if (hilo) {  // + remainder . V (the remainder sits in the scores buffer, leading dimension 2 * Tk)
        GemmSpec lg = og;
        lg.x = reinterpret_cast<const bf16*>(sb.get());
        lg.ldx = 2 * static_cast<int64_t>(Tk);
        lg.stride_x = 2 * static_cast<int64_t>(rows) * Tk;
        lg.beta = 1.0f;
        ASSERT_TRUE(lt.Run(nullptr, lg).ok());
      }
      ASSERT_EQ(LaunchPrefillScatter(ob.get(), rows, c.nkv, G, c.hd, q0, out.get(), nullptr, nullptr), cudaSuccess);
    }
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    std::vector<float> want(static_cast<size_t>(c.T) * c.nh * c.hd);
    for (int p = 0; p < c.T; ++p) {
      const int lo = c.window > 0 ? std::max(0, p - c.window + 1) : 0;
      for (int h = 0; h < c.nh; ++h) {
        const int g = h / G;
        std::vector<double> sc;
        double mx = -1e300;
        for (int j = lo; j <= p; ++j) {
          double s = 0;
          for (int d = 0; d < c.hd; ++d) {
            s += static_cast<double>(Bf(qkv[static_cast<size_t>(p) * qkv_dim + h * c.hd + d])) *
                 Bf(qkv[static_cast<size_t>(j) * qkv_dim + (c.nh + g) * c.hd + d]);
          }
          sc.push_back(s / std::sqrt(static_cast<double>(c.hd)));
          mx = std::max(mx, sc.back());
        }
        double sum = 0;
        for (double& s : sc) sum += (s = std::exp(s - mx));
        for (int d = 0; d < c.hd; ++d) {
          double o = 0;
          for (int j = lo; j <= p; ++j) {
            o += sc[j - lo] / sum * Bf(qkv[static_cast<size_t>(j) * qkv_dim + (c.nh + c.nkv + g) * c.hd + d]);
          }
          want[(static_cast<size_t>(p) * c.nh + h) * c.hd + d] = static_cast<float>(o);
        }
      }
    }
    EXPECT_LT(Err(out.Get(), want), hilo ? 2e-5 : 1e-2) << "hilo=" << hilo << " nh=" << c.nh << " nkv=" << c.nkv << " hd=" << c.hd << " window=" << c.window
                                          << " T=" << c.T << " chunk=" << c.chunk;
  }
}

// Not a test: per-launch times of v1 and v2 (run with --gtest_also_run_disabled_tests
// --gtest_filter='*Timings*'). Mixtral's attention shape; splits as BuildPlan picks them for a
// graph bucket (context unknown) and for an eager step (context known).
TEST_F(CudaAttention, DISABLED_Timings) {
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  for (auto [batch, ctx] : {std::pair{1, 128}, {1, 1024}, {1, 4096}, {8, 128}, {64, 128}, {64, 1024}}) {
    DecodeProblem pb({32, 8, 128, 0, ctx, batch, 1, false}, rng_);
    pb.Upload();
    for (bool graph : {true, false}) {
      const int splits = PagedAttentionSplits(sms, pb.n_tiles(), 8, ctx, graph, 0, 0);
      for (int version : {1, 2, 3, 4, 5, 6, 7}) {  // 3..7: v2 in the shapes below
        const int shapes[][3] = {{4, 128, 32}, {8, 128, 32}, {4, 256, 32}, {8, 256, 64}, {8, 256, 128}, {8, 256, 256}};
        const int* sh = shapes[version < 2 ? 0 : version - 2];
        SetDecodeAttentionShape(sh[0], sh[1], sh[2]);
        const AttnArgs a = pb.Args(splits, std::min(version, 2));
        for (int i = 0; i < 3; ++i) LaunchPagedAttention(a, stream);
        const int n = 50;
        cudaEventRecord(e0, stream);
        for (int i = 0; i < n; ++i) LaunchPagedAttention(a, stream);
        cudaEventRecord(e1, stream);
        ASSERT_EQ(cudaEventSynchronize(e1), cudaSuccess);
        float ms = 0;
        cudaEventElapsedTime(&ms, e0, e1);
        std::printf("attention v%d %dx%d:%-3d batch %2d ctx %4d splits %2d (%s): %7.2f us/launch\n", std::min(version, 2),
                    sh[0], sh[1], sh[2], batch, ctx, splits, graph ? "graph rule" : "eager rule", 1000.0 * ms / n);
      }
    }
  }
  SetDecodeAttentionShape(0, 0, 0);
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  cudaStreamDestroy(stream);
}

}  // namespace
}  // namespace mixserve::cuda
