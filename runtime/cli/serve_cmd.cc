// `mixserve serve`: the OpenAI-compatible server (runtime/server) over the engine on the CPU backend.
//
//   mixserve serve --model URI [--served-model-name NAME[,NAME...]]... [--host H] [--port P]
//                  [--api-key-file F] [--max-num-seqs N] [--max-num-batched-tokens N]
//                  [--max-model-len N] [--kv-cache-memory 512MiB] [--max-queue N] [--drain-timeout 100s]
//                  [--tensor-parallel-size 1] [--expert-parallel] [--dtype auto] [--device cpu]
//                  [--layers N] [--seed S]
//
// --device auto takes the CUDA backend when the build has it and a GPU is present, else the CPU one.
// --kv-cache-memory sizes the KV cache (CPU default 512MiB in fp32; CUDA default: 90% of the GPU
// memory left after the weights, bf16).
//
// The listener opens first (/health answers 503 while the model loads); once ready it prints
// "mixserve: serving <names> on http://H:P" to stderr. SIGTERM/SIGINT drain: new requests get 503,
// running ones finish (up to --drain-timeout), then the process exits 0.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <thread>

#include "runtime/backend/cpu/cpu_loader.h"
#ifdef MIXSERVE_HAVE_CUDA
#include "runtime/backend/cuda/cuda_model.h"
#include "runtime/backend/cuda/smoke.h"
#endif
#include "runtime/cli/command.h"
#include "runtime/cli/flags.h"
#include "runtime/engine/engine.h"
#include "runtime/model/chat_template.h"
#include "runtime/model/source.h"
#include "runtime/model/tokenizer.h"
#include "runtime/server/http_server.h"
#include "runtime/server/serve_options.h"

namespace mixserve::cli {
namespace {

constexpr const char* kUsage =
    "usage: mixserve serve --model URI [--served-model-name NAME[,NAME...]]... [--host H] [--port P]\n"
    "                      [--api-key-file F] [--max-num-seqs N] [--max-num-batched-tokens N]\n"
    "                      [--max-model-len N] [--kv-cache-memory BYTES|512MiB] [--max-queue N]\n"
    "                      [--drain-timeout 100s] [--tensor-parallel-size 1] [--expert-parallel]\n"
    "                      [--dtype bfloat16|float32|auto] [--device cpu|cuda|auto] [--layers N] [--seed S]";

int Usage(const std::string& message) {
  std::fprintf(stderr, "mixserve serve: %s\n", message.c_str());
  return 2;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "mixserve serve: %s\n", message.c_str());
  return 1;
}

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

// What the backend is built from.
struct BackendSpec {
  std::string device;  // cpu, cuda or auto
  std::string model_dir;
  int64_t layers = 0;
  std::optional<int64_t> kv_bytes;  // nullopt: the backend's default
  int64_t context = 0;
  int64_t max_num_seqs = 0;
  int64_t max_batched_tokens = 0;
};

constexpr int kKvBlockTokens = 16;

Result<std::unique_ptr<Backend>> LoadCpu(const BackendSpec& spec, const model::ModelConfig& config) {
  cpu::CpuModelOptions options;
  options.kv_block_tokens = kKvBlockTokens;
  options.num_layers = static_cast<int>(spec.layers);
  const int64_t num_layers = spec.layers > 0 ? std::min<int64_t>(spec.layers, config.num_layers) : config.num_layers;
  // fp32 K and V per layer, kv head and head dimension.
  const int64_t bytes_per_block = 2 * num_layers * config.num_kv_heads * config.head_dim * kKvBlockTokens *
                                  static_cast<int64_t>(sizeof(float));
  const int64_t kv_bytes = spec.kv_bytes.value_or(512ll << 20);
  const int64_t num_blocks = kv_bytes / bytes_per_block;
  if (num_blocks * kKvBlockTokens < spec.context) {
    return Status::InvalidArgument("--kv-cache-memory " + std::to_string(kv_bytes) + " bytes holds " +
                                   std::to_string(num_blocks * kKvBlockTokens) + " tokens, less than one " +
                                   std::to_string(spec.context) + "-token context: raise it or lower --max-model-len");
  }
  options.num_kv_blocks = static_cast<int>(std::min<int64_t>(num_blocks, 1 << 30));
  auto model = cpu::LoadCpuModel(spec.model_dir, options);
  if (!model.ok()) return model.status();
  return std::unique_ptr<Backend>(std::move(*model));
}

#ifdef MIXSERVE_HAVE_CUDA
Result<std::unique_ptr<Backend>> LoadCuda(const BackendSpec& spec, const model::ModelConfig& config) {
  auto cfg = cuda::ResolveModelConfig(spec.model_dir, static_cast<int>(spec.layers));
  if (!cfg.ok()) return cfg.status();
  cuda::CudaModelOptions options;
  options.kv_block_tokens = kKvBlockTokens;
  options.max_model_len = static_cast<int>(spec.context);
  options.max_seqs = static_cast<int>(spec.max_num_seqs);
  options.max_batch_tokens = static_cast<int>(spec.max_batched_tokens);
  // Prompt logprobs return a row per prompt token of a chunk; otherwise one row per sequence.
  options.max_logit_rows = static_cast<int>(std::max(spec.max_num_seqs, spec.max_batched_tokens));
  if (spec.kv_bytes) {
    const int64_t num_layers = spec.layers > 0 ? std::min<int64_t>(spec.layers, config.num_layers) : config.num_layers;
    const int64_t bytes_per_block = 2 * num_layers * config.num_kv_heads * config.head_dim * kKvBlockTokens * 2;  // bf16
    options.num_kv_blocks = static_cast<int>(std::min<int64_t>(*spec.kv_bytes / bytes_per_block, 1 << 30));
  }
  auto model = cuda::CudaModel::Create(*cfg, spec.model_dir, options);
  if (!model.ok()) return model.status();
  return std::unique_ptr<Backend>(std::move(*model));
}
#endif

// The backend --device asks for: auto takes the GPU when there is one.
Result<std::unique_ptr<Backend>> LoadBackend(const BackendSpec& spec, const model::ModelConfig& config,
                                             std::string* device_used) {
#ifdef MIXSERVE_HAVE_CUDA
  if (spec.device == "cuda" || (spec.device == "auto" && cuda::DeviceCount() > 0)) {
    *device_used = "cuda";
    return LoadCuda(spec, config);
  }
#else
  if (spec.device == "cuda") return Status::Unavailable("--device cuda: no CUDA backend in this build; use --device cpu");
#endif
  *device_used = "cpu";
  return LoadCpu(spec, config);
}

// Blocks until SIGTERM or SIGINT (the signals are blocked in every thread, so only this sees them).
void WaitForSignal(const sigset_t& signals) {
  int sig = 0;
  sigwait(&signals, &sig);
  std::fprintf(stderr, "mixserve: got %s, draining\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

int RunServe(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args,
                            {"model", "served-model-name", "host", "port", "api-key-file", "max-num-seqs",
                             "max-num-batched-tokens", "max-model-len", "kv-cache-memory", "max-queue",
                             "drain-timeout", "tensor-parallel-size", "dtype", "device", "layers", "seed"},
                            {"expert-parallel", "help"});
  if (!flags.ok()) return Usage(flags.status().message() + " (try --help)");
  if (flags->Has("help")) {
    std::puts(kUsage);
    return 0;
  }
  auto model_uri = flags->Get("model");
  if (!model_uri) return Usage("--model is required");

  auto port = flags->GetInt("port", 8000);
  auto max_num_seqs = flags->GetInt("max-num-seqs", 256);
  auto max_batched = flags->GetInt("max-num-batched-tokens", 2048);
  auto max_model_len = flags->GetInt("max-model-len", 0);
  auto max_queue = flags->GetInt("max-queue", 1024);
  auto tp = flags->GetInt("tensor-parallel-size", 1);
  auto layers = flags->GetInt("layers", 0);
  auto seed = flags->GetInt("seed", 0);
  for (const Status* s : {&port.status(), &max_num_seqs.status(), &max_batched.status(), &max_model_len.status(),
                          &max_queue.status(), &tp.status(), &layers.status(), &seed.status()}) {
    if (!s->ok()) return Usage(s->message());
  }
  if (*port < 0 || *port > 65535) return Usage("--port must be in [0, 65535]");
  if (*max_num_seqs < 1) return Usage("--max-num-seqs must be at least 1");
  if (*max_batched < 1) return Usage("--max-num-batched-tokens must be at least 1");
  if (*max_queue < 0) return Usage("--max-queue must not be negative");
  if (*max_model_len < 0) return Usage("--max-model-len must not be negative");
  if (*tp != 1) return Usage("--tensor-parallel-size " + std::to_string(*tp) + " is not supported: the CPU backend runs on one device (use 1)");
  const std::string device = flags->Get("device").value_or("auto");
  if (device != "cpu" && device != "cuda" && device != "auto") return Usage("--device must be cpu, cuda or auto, got '" + device + "'");
  const std::string dtype = flags->Get("dtype").value_or("auto");
  if (dtype != "auto" && dtype != "bfloat16" && dtype != "float32" && dtype != "float16") {
    return Usage("--dtype must be bfloat16, float16, float32 or auto, got '" + dtype + "'");
  }
  std::optional<int64_t> kv_bytes;
  if (auto kv = flags->Get("kv-cache-memory")) {
    auto parsed = server::ParseByteSize(*kv);
    if (!parsed.ok()) return Usage("--kv-cache-memory: " + parsed.status().message());
    kv_bytes = *parsed;
  }
  auto drain_timeout = server::ParseDuration(flags->Get("drain-timeout").value_or("100s"));
  if (!drain_timeout.ok()) return Usage("--drain-timeout: " + drain_timeout.status().message());
  std::vector<std::string> names = server::SplitServedNames(flags->GetAll("served-model-name"));
  if (names.empty()) names.push_back(server::DefaultServedName(*model_uri));

  server::ServerOptions options;
  options.host = flags->Get("host").value_or("127.0.0.1");
  options.port = static_cast<int>(*port);
  if (flags->Has("seed")) options.seed = static_cast<uint64_t>(*seed);
  if (auto key_file = flags->Get("api-key-file")) {
    auto keys = server::ApiKeys::LoadFile(*key_file);
    if (!keys.ok()) return Fail(keys.status().message());
    options.api_keys = std::move(*keys);
  }

  // Signals go to this thread's sigwait only: block them before any other thread exists.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  server::HttpServer http(options);
  auto bound = http.Open();
  if (!bound.ok()) return Fail(bound.status().message());

  model::SourceOptions source_options;
  auto dir = model::ResolveModel(*model_uri, source_options);
  if (!dir.ok()) return Fail(dir.status().message());
  auto config = model::LoadModelConfig(*dir + "/config.json");
  if (!config.ok()) return Fail(config.status().message());
  auto tokenizer = model::Tokenizer::Load(*dir);
  if (!tokenizer.ok()) return Fail(tokenizer.status().message());
  std::optional<model::ChatTemplate> chat_template;
  if (auto t = model::ChatTemplate::FromTokenizerConfig(*dir); t.ok()) {
    chat_template = std::move(*t);
  } else {
    std::fprintf(stderr, "mixserve serve: no chat template (%s); /v1/chat/completions will answer 400\n",
                 t.status().message().c_str());
  }

  const int64_t context = *max_model_len > 0 ? std::min<int64_t>(*max_model_len, config->max_position_embeddings)
                                             : config->max_position_embeddings;
  BackendSpec spec{device, *dir, *layers, kv_bytes, context, *max_num_seqs, *max_batched};
  std::string device_used;
  auto backend = LoadBackend(spec, *config, &device_used);
  if (!backend.ok()) return Fail(backend.status().message());

  EngineConfig engine_config;
  engine_config.scheduler.max_num_seqs = static_cast<int>(*max_num_seqs);
  engine_config.scheduler.max_num_batched_tokens = *max_batched;
  engine_config.max_model_len = context;
  engine_config.max_queue = *max_queue;
  Engine engine(backend->get(), &*tokenizer, engine_config);
  engine.Start();

  server::ServedModel served;
  served.names = names;
  served.tokenizer = &*tokenizer;
  served.chat_template = chat_template ? &*chat_template : nullptr;
  served.max_model_len = context;
  http.SetModel(&engine, served, (*backend)->num_kv_blocks());
  std::fprintf(stderr, "mixserve: %s backend, %d KV blocks of %d tokens\n", device_used.c_str(),
               (*backend)->num_kv_blocks(), (*backend)->kv_block_tokens());
  std::fprintf(stderr, "mixserve: serving %s on http://%s:%d\n", Join(names).c_str(), options.host.c_str(), *bound);

  WaitForSignal(signals);
  http.BeginDrain();
  const auto deadline = std::chrono::steady_clock::now() + *drain_timeout;
  while (http.in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (http.in_flight() > 0) {
    std::fprintf(stderr, "mixserve: drain timeout with %lld requests in flight; stopping\n",
                 static_cast<long long>(http.in_flight()));
  }
  http.Close();
  engine.Stop();
  std::fprintf(stderr, "mixserve: stopped\n");
  return 0;
}

MIXSERVE_COMMAND("serve", "the OpenAI-compatible HTTP server (CPU backend)", RunServe);

}  // namespace
}  // namespace mixserve::cli
