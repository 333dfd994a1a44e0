// `mixserve bench`: engine-only throughput of the CUDA backend, against the memory roofline.
//
//   mixserve bench --config mixtral-8x7b|mixtral-8x22b|mistral-7b|PATH (--random-weights | --model DIR)
//                  [--layers N] [--batch-sizes 1,8,32,64,128,256] [--prompt-len L] [--decode-steps S]
//                  [--prefill-lens 1024,4096] [--no-graphs] [--no-pdl] [--dense-prefill-min N] [--json]
//                  [--load-threads N] [--load-only] [--membw]
//
// --model DIR loads a safetensors checkpoint (bf16) through pinned staging buffers with
// --load-threads reader threads (default 4) and reports load_gbps (bytes to the GPU / seconds) and
// load_s (the whole load, opening and mapping included); --load-only stops there.
// --dense-prefill-min N: prompts of N+ tokens (from position 0) use the tensor-core prefill
// attention (CudaModelOptions::dense_prefill_min_tokens, default 64; 0 keeps the paged kernel).
// Measures the device copy bandwidth first, then for each batch size prefills that many sequences
// of L random tokens and times S greedy decode steps (argmax on the GPU), then times single-prompt
// prefills. roofline_pct = (bytes the step must read: attention weights + the distinct experts the
// router used that step, per layer + lm_head + the KV cache read) / copy bandwidth / step time.
// --membw also measures read-only bandwidth (membw.cu probes) and reports each as read_probes.
// With --json the report is one JSON object on the last line of stdout; the table goes to stderr.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>

#include "runtime/cli/command.h"
#include "runtime/cli/flags.h"

#ifdef MIXSERVE_HAVE_CUDA
#include "runtime/backend/cuda/cuda_model.h"
#include "runtime/backend/cuda/device_info.h"
#endif

namespace mixserve::cli {
namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "mixserve bench: %s\n", message.c_str());
  return 1;
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "mixserve bench: %s (try --help)\n", message.c_str());
  return 2;
}

#ifdef MIXSERVE_HAVE_CUDA
using cuda::CudaModel;

Result<std::vector<int>> ParseList(const std::string& text) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      int v = std::stoi(item, &used);
      if (used != item.size() || v <= 0) throw std::invalid_argument(item);
      out.push_back(v);
    } catch (const std::exception&) {
      return Status::InvalidArgument("not a positive integer list: '" + text + "'");
    }
  }
  if (out.empty()) return Status::InvalidArgument("empty list");
  return out;
}


// A fixed pseudo-random token stream, so runs are comparable.
struct Tokens {
  uint64_t state = 88172645463325252ULL;
  int vocab;
  int32_t Next() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<int32_t>(state % static_cast<uint64_t>(vocab - 3)) + 3;
  }
};

double Ms(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

int RunBench(const Flags& flags) {
  auto batch_sizes = ParseList(flags.Get("batch-sizes").value_or("1,8,32,64,128,256"));
  auto prefill_lens = ParseList(flags.Get("prefill-lens").value_or("1024,4096"));
  auto layers = flags.GetInt("layers", 0);
  auto prompt_len = flags.GetInt("prompt-len", 128);
  auto steps = flags.GetInt("decode-steps", 64);
  for (const Status* s : {&batch_sizes.status(), &prefill_lens.status(), &layers.status(), &prompt_len.status(),
                          &steps.status()}) {
    if (!s->ok()) return Usage(s->message());
  }
  if (*prompt_len < 1 || *steps < 1) return Usage("--prompt-len and --decode-steps must be positive");
  const std::string config_name = flags.Get("config").value_or("mixtral-8x7b");
  const bool random = flags.Has("random-weights");
  const std::string model_dir = flags.Get("model").value_or("");
  if (!random && model_dir.empty()) return Usage("give --random-weights or --model DIR");
  auto config = cuda::ResolveModelConfig(model_dir.empty() || flags.Has("config") ? config_name : model_dir,
                                         static_cast<int>(*layers));
  if (!config.ok()) return Usage(config.status().message());
  auto gpu = cuda::GpuName();
  if (!gpu.ok()) return Fail(gpu.status().message());
  auto copy_gbps = cuda::MeasureCopyGbps(int64_t{2} << 30);
  if (!copy_gbps.ok()) return Fail(copy_gbps.status().message());

  const int max_batch = *std::max_element(batch_sizes->begin(), batch_sizes->end());
  const int max_prefill = *std::max_element(prefill_lens->begin(), prefill_lens->end());
  cuda::CudaModelOptions o;
  o.random_weights = random;
  auto load_threads = flags.GetInt("load-threads", o.load_threads);
  if (!load_threads.ok() || *load_threads < 1) return Usage("--load-threads must be a positive integer");
  o.load_threads = static_cast<int>(*load_threads);
  o.use_graphs = !flags.Has("no-graphs");
  o.programmatic_launch = !flags.Has("no-pdl");
  auto dense_min = flags.GetInt("dense-prefill-min", o.dense_prefill_min_tokens);
  if (!dense_min.ok()) return Usage(dense_min.status().message());
  o.dense_prefill_min_tokens = static_cast<int>(*dense_min);
  o.max_seqs = std::max(max_batch, 1);
  o.max_logit_rows = std::max(max_batch, 16);
  o.max_batch_tokens = std::max({max_prefill, max_batch, 512});
  o.max_model_len = std::max<int>(max_prefill, static_cast<int>(*prompt_len + *steps + 8));
  const int bt = o.kv_block_tokens;
  const int blocks_per_seq = static_cast<int>((*prompt_len + *steps + 8 + bt - 1) / bt);
  o.num_kv_blocks = std::max(max_batch * blocks_per_seq, (o.max_model_len + bt - 1) / bt);
  const auto t_load = std::chrono::steady_clock::now();
  auto created = CudaModel::Create(*config, model_dir, o);
  if (!created.ok()) return Fail(created.status().message());
  CudaModel& m = **created;
  const double load_s = Ms(t_load, std::chrono::steady_clock::now()) / 1000;
  const auto& s = config->shape;
  const double gbps = *copy_gbps;
  std::fprintf(stderr, "%s: %s, %d layers, weights %.2f GB (%s in %.1f s%s), copy bandwidth %.0f GB/s\n",
               gpu->c_str(), config->name.c_str(), s.num_layers, m.weights().bytes() / 1e9,
               random ? "random" : "loaded", load_s,
               random ? "" : (", " + std::to_string(m.load_gbps()) + " GB/s").c_str(), gbps);

  nlohmann::json report;
  report["gpu"] = *gpu;
  report["config"] = config->name;
  report["layers"] = s.num_layers;
  report["copy_gbps"] = gbps;
  if (flags.Has("membw")) {
    auto probes = cuda::MeasureReadGbps(int64_t{2} << 30);
    if (!probes.ok()) return Fail(probes.status().message());
    report["read_probes"] = nlohmann::json::array();
    for (const auto& p : *probes) {
      std::fprintf(stderr, "read %-28s %8.0f GB/s (%.3f of copy)\n", p.name.c_str(), p.gbps, p.gbps / gbps);
      report["read_probes"].push_back({{"name", p.name}, {"gbps", p.gbps}});
    }
  }
  report["weights_gb"] = m.weights().bytes() / 1e9;
  report["graphs"] = o.use_graphs;
  report["programmatic_launch"] = o.programmatic_launch;
  report["dense_prefill_min_tokens"] = o.dense_prefill_min_tokens;
  // The environment switches that pick kernel paths, so a results file says which variant it measured.
  report["env"] = nlohmann::json::object();
  for (const char* name : {"MIXSERVE_MOE_BATCHED", "MIXSERVE_MOE_PREFILL", "MIXSERVE_MOE_PADDED_MAX", "MIXSERVE_LT_TUNE",
                           "MIXSERVE_LT_BUCKET", "MIXSERVE_LT_DESC_CACHE", "MIXSERVE_DOWN_PREFETCH", "MIXSERVE_PDL_EARLY",
                           "MIXSERVE_ROUTER_FUSED", "MIXSERVE_NORM_ROUTER", "MIXSERVE_ATTN_SHAPE", "MIXSERVE_ATTN_EARLY",
                           "MIXSERVE_ATTN_OCC", "MIXSERVE_THIN_GEMM", "MIXSERVE_THIN_MAX_ROWS", "MIXSERVE_SKINNY_MAX_ROWS",
                           "MIXSERVE_SKINNY_MAX_PAIRS", "MIXSERVE_THIN_WGMMA", "MIXSERVE_THIN_SPLITS", "MIXSERVE_THIN_MOE",
                           "MIXSERVE_THIN_GROUPED_MIN", "MIXSERVE_THIN_GROUPED_MAX", "MIXSERVE_ROUTED_GATE_UP",
                           "MIXSERVE_ROUTED_BLOCKS_PER_SM", "MIXSERVE_ROUTED_NORM_PREFETCH",
                           "MIXSERVE_ROUTED_WRITER_FIRST", "MIXSERVE_SORTED_COMBINE", "MIXSERVE_DOWN_SPLIT",
                           "MIXSERVE_ATTN_KV_EARLY", "MIXSERVE_SKIP", "MIXSERVE_TWICE"}) {
    if (const char* v = std::getenv(name)) report["env"][name] = v;
  }
  report["prompt_len"] = *prompt_len;
  report["decode_steps"] = *steps;
  report["decode"] = nlohmann::json::array();
  report["prefill"] = nlohmann::json::array();
  if (!random) {
    report["load_gbps"] = m.load_gbps();
    report["load_s"] = load_s;
    report["load_threads"] = o.load_threads;
    report["model_dir"] = model_dir;
  }
  if (flags.Has("load-only")) {
    if (flags.Has("json")) std::printf("%s\n", report.dump().c_str());
    return 0;
  }

  const int64_t kv_bytes_per_token = static_cast<int64_t>(s.num_layers) * s.num_kv_heads * s.head_dim * 2 * 2;
  std::fprintf(stderr, "%6s %10s %10s %10s %10s %8s %6s\n", "batch", "tok/s", "ms/step", "roofline", "host ms",
               "experts", "graph");
  Tokens gen{.vocab = s.vocab_size};
  for (int B : *batch_sizes) {
    // Prefill B prompts, several sequences per step.
    ForwardBatch batch;
    for (int b = 0; b < B; ++b) {
      SeqForward seq;
      for (int t = 0; t < *prompt_len; ++t) seq.tokens.push_back(gen.Next());
      for (int i = 0; i < blocks_per_seq; ++i) seq.block_table.push_back(b * blocks_per_seq + i);
      batch.seqs.push_back(std::move(seq));
    }
    std::vector<int32_t> next(B);
    for (int b0 = 0; b0 < B;) {
      ForwardBatch chunk;
      int tokens = 0, first = b0;
      while (b0 < B && (chunk.seqs.empty() || tokens + *prompt_len <= o.max_batch_tokens)) {
        chunk.seqs.push_back(batch.seqs[b0++]);
        tokens += static_cast<int>(*prompt_len);
      }
      std::vector<int32_t> got;
      if (Status st = m.ForwardGreedy(chunk, &got); !st.ok()) return Fail(st.message());
      std::copy(got.begin(), got.end(), next.begin() + first);
    }
    for (int b = 0; b < B; ++b) {
      batch.seqs[b].start_pos = static_cast<int>(*prompt_len);
      batch.seqs[b].tokens = {next[b]};
    }
    auto step = [&]() -> Status {
      std::vector<int32_t> got;
      if (Status st = m.ForwardGreedy(batch, &got); !st.ok()) return st;
      for (int b = 0; b < B; ++b) {
        batch.seqs[b].start_pos += 1;
        batch.seqs[b].tokens = {got[b]};
      }
      return Status::Ok();
    };
    for (int w = 0; w < 3; ++w) {  // warm-up; the first decode step captures the bucket's graph
      if (Status st = step(); !st.ok()) return Fail(st.message());
    }
    if (Status st = m.ResetExpertsTouched(); !st.ok()) return Fail(st.message());
    const int64_t ctx0 = batch.seqs[0].start_pos;
    double host_ms = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < *steps; ++i) {
      if (Status st = step(); !st.ok()) return Fail(st.message());
      host_ms += m.last_host_ms();
    }
    const double ms = Ms(t0, std::chrono::steady_clock::now()) / static_cast<double>(*steps);
    host_ms /= static_cast<double>(*steps);
    auto touched = m.ExpertsTouched();
    if (!touched.ok()) return Fail(touched.status().message());
    const double experts_per_step = static_cast<double>(*touched) / static_cast<double>(*steps);
    const double avg_ctx = static_cast<double>(ctx0) + (*steps - 1) / 2.0 + 1;
    const double bytes = static_cast<double>(m.weights().attention_bytes_per_layer()) * s.num_layers +
                         experts_per_step * static_cast<double>(m.weights().expert_bytes()) +
                         static_cast<double>(m.weights().lm_head_bytes()) +
                         static_cast<double>(B) * avg_ctx * static_cast<double>(kv_bytes_per_token);
    const double roofline_ms = bytes / (gbps * 1e9) * 1e3;
    const double tok_s = B / ms * 1e3;
    const double pct = roofline_ms / ms * 100;
    std::fprintf(stderr, "%6d %10.1f %10.3f %9.1f%% %10.3f %8.2f %6s\n", B, tok_s, ms, pct, host_ms,
                 experts_per_step / s.num_layers, m.last_used_graph() ? "yes" : "no");
    report["decode"].push_back({{"batch_size", B},
                                {"tok_per_s", tok_s},
                                {"ms_per_step", ms},
                                {"roofline_pct", pct},
                                {"roofline_ms", roofline_ms},
                                {"host_ms_per_step", host_ms},
                                {"host_pct", host_ms / ms * 100},
                                {"experts_per_layer", experts_per_step / s.num_layers},
                                {"bytes_per_step", bytes},
                                {"graph", m.last_used_graph()}});
  }
  for (int len : *prefill_lens) {
    ForwardBatch batch;
    SeqForward seq;
    for (int t = 0; t < len; ++t) seq.tokens.push_back(gen.Next());
    for (int i = 0; i < (len + bt - 1) / bt; ++i) seq.block_table.push_back(i);
    batch.seqs.push_back(std::move(seq));
    std::vector<double> times;
    for (int rep = 0; rep < 4; ++rep) {
      std::vector<int32_t> got;
      const auto t0 = std::chrono::steady_clock::now();
      if (Status st = m.ForwardGreedy(batch, &got); !st.ok()) return Fail(st.message());
      if (rep > 0) times.push_back(Ms(t0, std::chrono::steady_clock::now()));
    }
    std::sort(times.begin(), times.end());
    const double ms = times[times.size() / 2];
    std::fprintf(stderr, "prefill %5d tokens: %8.2f ms (%.0f tok/s)\n", len, ms, len / ms * 1e3);
    report["prefill"].push_back({{"prompt_len", len}, {"ms", ms}, {"tok_per_s", len / ms * 1e3}});
  }
  if (flags.Has("json")) std::printf("%s\n", report.dump().c_str());
  return 0;
}
#endif

int Bench(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args,
                            {"config", "model", "layers", "batch-sizes", "prompt-len", "decode-steps", "prefill-lens",
                             "dense-prefill-min", "load-threads"},
                            {"random-weights", "no-graphs", "no-pdl", "json", "help", "load-only", "membw"});
  if (!flags.ok()) {
    std::fprintf(stderr, "mixserve bench: %s (try --help)\n", flags.status().message().c_str());
    return 2;
  }
  if (flags->Has("help")) {
    std::puts("usage: mixserve bench --config mixtral-8x7b|mixtral-8x22b|mistral-7b|PATH (--random-weights | --model DIR)\n"
              "                      [--layers N] [--batch-sizes 1,8,32,64,128,256] [--prompt-len L]\n"
              "                      [--decode-steps S] [--prefill-lens 1024,4096] [--no-graphs] [--no-pdl]\n"
              "                      [--dense-prefill-min N] [--json] [--load-threads N] [--load-only] [--membw]");
    return 0;
  }
#ifdef MIXSERVE_HAVE_CUDA
  return RunBench(*flags);
#else
  return Fail("this mixserve was built without CUDA (configure with -DMIXSERVE_CUDA=ON)");
#endif
}

MIXSERVE_COMMAND("bench", "decode/prefill throughput of the CUDA backend vs the memory roofline", Bench);

}  // namespace
}  // namespace mixserve::cli
