// `mixserve serve`: the OpenAI-compatible server (runtime/server) over the engine on the CPU or CUDA backend.
//
//   mixserve serve --model URI [--served-model-name NAME[,NAME...]]... [--host H] [--port P]
//                  [--api-key-file F] [--max-num-seqs N] [--max-num-batched-tokens N]
//                  [--max-model-len N] [--kv-cache-memory 512MiB] [--max-queue N] [--drain-timeout 100s]
//                  [--tensor-parallel-size 1] [--expert-parallel] [--dtype auto] [--device cpu]
//                  [--layers N] [--seed S]
//   mixserve serve --random-weights (--config mixtral-8x7b|mixtral-8x22b|mistral-7b|PATH | --model DIR)
//                  [--tokenizer DIR] [--layers N] ... (the same serving flags)
//
// --device auto takes the CUDA backend when the build has it and a GPU is present, else the CPU one;
// --device cuda without a usable GPU is a one-line error at start. --kv-cache-memory sizes the KV
// cache (CPU default 512MiB in fp32; CUDA default: 90% of the GPU memory left after the weights, bf16).
// --random-weights serves a model of the --config shape (the names `mixserve bench` knows, a
// config.json, or --model's folder) with random weights, for benchmarks through HTTP; the tokenizer
// comes from --tokenizer (default: --model's folder). On the CPU backend only small shapes fit.
// On CUDA, steps whose requests are all greedy (no penalties, no logprobs) pick tokens on the GPU
// (CudaModel::ForwardGreedy); MIXSERVE_ENGINE_GREEDY=0 sends them through the host sampler instead.
//
// The listener opens first (/health answers 503 while the model loads); once ready it prints
// "mixserve: serving <names> on http://H:P" to stderr. SIGTERM/SIGINT drain: new requests get 503,
// running ones finish (up to --drain-timeout), then the process exits 0.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <thread>

#include "runtime/backend/cpu/cpu_loader.h"
#ifdef MIXSERVE_HAVE_CUDA
#include "runtime/backend/cuda/cuda_model.h"
#include "runtime/backend/cuda/device_info.h"
#include "runtime/backend/cuda/smoke.h"
#endif
#include "runtime/cli/command.h"
#include "runtime/cli/flags.h"
#include "runtime/engine/engine.h"
#include "runtime/model/chat_template.h"
#include "runtime/model/source.h"
#include "runtime/model/tokenizer.h"
#include "runtime/server/http_server.h"
#include "runtime/server/random_cpu_model.h"
#include "runtime/server/serve_options.h"

namespace mixserve::cli {
namespace {

constexpr const char* kUsage =
    "usage: mixserve serve --model URI [--served-model-name NAME[,NAME...]]... [--host H] [--port P]\n"
    "                      [--api-key-file F] [--max-num-seqs N] [--max-num-batched-tokens N]\n"
    "                      [--max-model-len N] [--kv-cache-memory BYTES|512MiB] [--max-queue N]\n"
    "                      [--drain-timeout 100s] [--tensor-parallel-size 1] [--expert-parallel]\n"
    "                      [--dtype bfloat16|float32|auto] [--device cpu|cuda|auto] [--layers N] [--seed S]\n"
    "       mixserve serve --random-weights (--config mixtral-8x7b|mixtral-8x22b|mistral-7b|PATH | --model DIR)\n"
    "                      [--tokenizer DIR] [--layers N] ... (the serving flags above)";

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

// The model to serve: its shape, and where weights and tokenizer come from.
struct ModelSpec {
  std::string name;           // the default served name
  std::string config_arg;     // a built-in config name, or a config.json / folder
  std::string weights_dir;    // empty: random weights
  std::string tokenizer_dir;
  cpu::ModelShape shape;      // --layers applied
  bool tied = false;
  int64_t max_positions = 0;  // max_position_embeddings
};

// The shape `config_arg` names, with --layers applied: the built-in names where the build has the
// CUDA backend (cuda::ResolveModelConfig holds them), else a config.json or a folder with one.
Status ResolveShape(const std::string& config_arg, int64_t layers, ModelSpec* spec) {
#ifdef MIXSERVE_HAVE_CUDA
  auto c = cuda::ResolveModelConfig(config_arg, static_cast<int>(layers));
  if (!c.ok()) return c.status();
  spec->shape = c->shape;
  spec->tied = c->tie_word_embeddings;
  spec->max_positions = c->max_position_embeddings;
#else
  std::string path = config_arg;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) path += "/config.json";
  if (!std::filesystem::exists(path, ec)) {
    return Status::InvalidArgument("unknown model config '" + config_arg +
                                   "': this build (no CUDA) takes a config.json path or a model folder");
  }
  auto config = model::LoadModelConfig(path);
  if (!config.ok()) return config.status();
  spec->shape = cpu::ShapeFromConfig(*config);
  if (layers > 0 && layers < spec->shape.num_layers) spec->shape.num_layers = static_cast<int>(layers);
  spec->tied = config->tie_word_embeddings;
  spec->max_positions = config->max_position_embeddings;
#endif
  return Status::Ok();
}

// What the backend is built from.
struct BackendSpec {
  std::string device;  // cpu, cuda or auto
  const ModelSpec* model = nullptr;
  std::optional<int64_t> kv_bytes;  // nullopt: the backend's default
  int64_t context = 0;
  int64_t max_num_seqs = 0;
  int64_t max_batched_tokens = 0;
  uint64_t seed = 1;
};

constexpr int kKvBlockTokens = 16;

Result<std::unique_ptr<Backend>> LoadCpu(const BackendSpec& spec) {
  const cpu::ModelShape& shape = spec.model->shape;
  if (spec.model->weights_dir.empty() && server::CpuWeightBytes(shape, spec.model->tied) > server::kMaxRandomCpuWeightBytes) {
    return server::RandomCpuModel(shape, spec.model->tied, spec.seed, kKvBlockTokens, 0).status();  // the size error
  }
  // fp32 K and V per layer, kv head and head dimension.
  const int64_t bytes_per_block = int64_t{2} * shape.num_layers * shape.num_kv_heads * shape.head_dim *
                                  kKvBlockTokens * static_cast<int64_t>(sizeof(float));
  const int64_t kv_bytes = spec.kv_bytes.value_or(512ll << 20);
  const int64_t num_blocks = kv_bytes / bytes_per_block;
  if (num_blocks * kKvBlockTokens < spec.context) {
    return Status::InvalidArgument("--kv-cache-memory " + std::to_string(kv_bytes) + " bytes holds " +
                                   std::to_string(num_blocks * kKvBlockTokens) + " tokens, less than one " +
                                   std::to_string(spec.context) + "-token context: raise it or lower --max-model-len");
  }
  const int blocks = static_cast<int>(std::min<int64_t>(num_blocks, 1 << 30));
  if (spec.model->weights_dir.empty()) {
    auto model = server::RandomCpuModel(shape, spec.model->tied, spec.seed, kKvBlockTokens, blocks);
    if (!model.ok()) return model.status();
    return std::unique_ptr<Backend>(std::move(*model));
  }
  cpu::CpuModelOptions options;
  options.kv_block_tokens = kKvBlockTokens;
  options.num_layers = shape.num_layers;
  options.num_kv_blocks = blocks;
  auto model = cpu::LoadCpuModel(spec.model->weights_dir, options);
  if (!model.ok()) return model.status();
  return std::unique_ptr<Backend>(std::move(*model));
}

#ifdef MIXSERVE_HAVE_CUDA
Result<std::unique_ptr<Backend>> LoadCuda(const BackendSpec& spec) {
  auto cfg = cuda::ResolveModelConfig(spec.model->config_arg, spec.model->shape.num_layers);
  if (!cfg.ok()) return cfg.status();
  cuda::CudaModelOptions options;
  options.kv_block_tokens = kKvBlockTokens;
  options.max_model_len = static_cast<int>(spec.context);
  options.max_seqs = static_cast<int>(spec.max_num_seqs);
  options.max_batch_tokens = static_cast<int>(spec.max_batched_tokens);
  // Prompt logprobs return a row per prompt token of a chunk; otherwise one row per sequence.
  options.max_logit_rows = static_cast<int>(std::max(spec.max_num_seqs, spec.max_batched_tokens));
  options.random_weights = spec.model->weights_dir.empty();
  options.seed = spec.seed;
  if (spec.kv_bytes) {
    const cpu::ModelShape& s = cfg->shape;
    const int64_t bytes_per_block = int64_t{2} * s.num_layers * s.num_kv_heads * s.head_dim * kKvBlockTokens * 2;  // bf16
    options.num_kv_blocks = static_cast<int>(std::min<int64_t>(*spec.kv_bytes / bytes_per_block, 1 << 30));
    if (options.num_kv_blocks < 1) {
      return Status::InvalidArgument("--kv-cache-memory holds no KV block of " + std::to_string(bytes_per_block) +
                                     " bytes");
    }
  }
  auto model = cuda::CudaModel::Create(*cfg, spec.model->weights_dir, options);
  if (!model.ok()) return model.status();
  return std::unique_ptr<Backend>(std::move(*model));
}
#endif

// The backend --device asks for: auto takes the GPU when there is one.
Result<std::unique_ptr<Backend>> LoadBackend(const BackendSpec& spec, std::string* device_used) {
#ifdef MIXSERVE_HAVE_CUDA
  if (spec.device == "cuda" || (spec.device == "auto" && cuda::DeviceCount() > 0)) {
    *device_used = "cuda";
    return LoadCuda(spec);
  }
#else
  if (spec.device == "cuda") return Status::Unavailable("--device cuda: no CUDA backend in this build; use --device cpu");
#endif
  *device_used = "cpu";
  return LoadCpu(spec);
}

// The greedy fast path for the engine, where the backend has one (CUDA) and it is not switched off.
GreedyForward GreedyPath(Backend* backend) {
#ifdef MIXSERVE_HAVE_CUDA
  const char* env = std::getenv("MIXSERVE_ENGINE_GREEDY");
  if (env != nullptr && std::string(env) == "0") return nullptr;
  if (auto* m = dynamic_cast<cuda::CudaModel*>(backend)) {
    return [m](const ForwardBatch& batch, std::vector<int32_t>* next) { return m->ForwardGreedy(batch, next); };
  }
#else
  (void)backend;
#endif
  return nullptr;
}

// Where weights, shape and tokenizer come from: --model, or --random-weights with --config.
Status ResolveSpec(const Flags& flags, int64_t layers, ModelSpec* spec) {
  const bool random = flags.Has("random-weights");
  auto model_uri = flags.Get("model");
  auto config = flags.Get("config");
  if (!random && config) {
    return Status::InvalidArgument("--config is for --random-weights (a checkpoint brings its own config.json)");
  }
  std::string model_dir;
  if (model_uri) {
    model::SourceOptions source_options;
    auto dir = model::ResolveModel(*model_uri, source_options);
    if (!dir.ok()) return dir.status();
    model_dir = *dir;
  }
  if (!random) {
    if (!model_uri) return Status::InvalidArgument("--model is required (or --random-weights --config NAME)");
    spec->weights_dir = model_dir;
    spec->config_arg = model_dir;
    spec->name = server::DefaultServedName(*model_uri);
  } else {
    if (!config && !model_uri) {
      return Status::InvalidArgument("--random-weights needs --config mixtral-8x7b|mixtral-8x22b|mistral-7b|PATH or --model DIR");
    }
    spec->config_arg = config ? *config : model_dir;
    spec->name = config ? server::DefaultServedName(*config) : server::DefaultServedName(*model_uri);
  }
  spec->tokenizer_dir = flags.Get("tokenizer").value_or(model_dir);
  if (spec->tokenizer_dir.empty()) {
    return Status::InvalidArgument("--random-weights --config needs --tokenizer DIR (a folder with tokenizer.json, "
                                   "e.g. tests/data/tiny-mixtral: the Mistral 32000-token vocabulary)");
  }
  return ResolveShape(spec->config_arg, layers, spec);
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
                             "drain-timeout", "tensor-parallel-size", "dtype", "device", "layers", "seed", "config",
                             "tokenizer"},
                            {"expert-parallel", "random-weights", "help"});
  if (!flags.ok()) return Usage(flags.status().message() + " (try --help)");
  if (flags->Has("help")) {
    std::puts(kUsage);
    return 0;
  }
  if (!flags->Has("model") && !flags->Has("random-weights")) return Usage("--model is required");

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
  if (*layers < 0) return Usage("--layers must not be negative");
#ifdef MIXSERVE_HAVE_CUDA
  // Checked before anything else: without a usable GPU, --device cuda is one line and exit 1.
  if (device == "cuda") {
    if (std::string reason = cuda::NoGpuReason(); !reason.empty()) return Fail("--device cuda: " + reason);
  }
#endif
  if (flags->Has("config") && !flags->Has("random-weights")) {
    return Usage("--config is for --random-weights (a checkpoint brings its own config.json)");
  }
  if (flags->Has("random-weights") && !flags->Has("config") && !flags->Has("model")) {
    return Usage("--random-weights needs --config mixtral-8x7b|mixtral-8x22b|mistral-7b|PATH or --model DIR");
  }
  if (flags->Has("random-weights") && !flags->Has("tokenizer") && !flags->Has("model")) {
    return Usage("--random-weights --config needs --tokenizer DIR (a folder with tokenizer.json, e.g. "
                 "tests/data/tiny-mixtral: the Mistral 32000-token vocabulary)");
  }
  std::vector<std::string> names = server::SplitServedNames(flags->GetAll("served-model-name"));
  if (names.empty()) {
    names.push_back(server::DefaultServedName(flags->Has("random-weights") && flags->Has("config")
                                                  ? *flags->Get("config") : *flags->Get("model")));
  }

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

  ModelSpec model_spec;
  if (Status st = ResolveSpec(*flags, *layers, &model_spec); !st.ok()) return Fail(st.message());
  auto tokenizer = model::Tokenizer::Load(model_spec.tokenizer_dir);
  if (!tokenizer.ok()) return Fail(tokenizer.status().message());
  if (tokenizer->vocab_size() > static_cast<size_t>(model_spec.shape.vocab_size)) {
    return Fail("the tokenizer in " + model_spec.tokenizer_dir + " has " + std::to_string(tokenizer->vocab_size()) +
                " tokens, more than the model's vocabulary of " + std::to_string(model_spec.shape.vocab_size));
  }
  std::optional<model::ChatTemplate> chat_template;
  if (auto t = model::ChatTemplate::FromTokenizerConfig(model_spec.tokenizer_dir); t.ok()) {
    chat_template = std::move(*t);
  } else {
    std::fprintf(stderr, "mixserve serve: no chat template (%s); /v1/chat/completions will answer 400\n",
                 t.status().message().c_str());
  }

  if (*max_model_len > model_spec.max_positions) {
    return Fail("--max-model-len " + std::to_string(*max_model_len) + " is longer than the model's context of " +
                std::to_string(model_spec.max_positions) + " tokens (max_position_embeddings)");
  }
  const int64_t context = *max_model_len > 0 ? *max_model_len : model_spec.max_positions;
  BackendSpec spec{device, &model_spec, kv_bytes, context, *max_num_seqs, *max_batched,
                   flags->Has("seed") ? static_cast<uint64_t>(*seed) : 1};
  std::string device_used;
  const auto load_start = std::chrono::steady_clock::now();
  auto backend = LoadBackend(spec, &device_used);
  if (!backend.ok()) return Fail(backend.status().message());
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();

  EngineConfig engine_config;
  engine_config.scheduler.max_num_seqs = static_cast<int>(*max_num_seqs);
  engine_config.scheduler.max_num_batched_tokens = *max_batched;
  engine_config.max_model_len = context;
  engine_config.max_queue = *max_queue;
  engine_config.greedy_forward = GreedyPath(backend->get());
  Engine engine(backend->get(), &*tokenizer, engine_config);
  engine.Start();

  server::ServedModel served;
  served.names = names;
  served.tokenizer = &*tokenizer;
  served.chat_template = chat_template ? &*chat_template : nullptr;
  served.max_model_len = context;
  http.SetModel(&engine, served, (*backend)->num_kv_blocks());
  std::fprintf(stderr, "mixserve: %s backend, %s weights (%d layers) ready in %.1f s, %d KV blocks of %d tokens%s\n",
               device_used.c_str(), model_spec.weights_dir.empty() ? "random" : "loaded", model_spec.shape.num_layers,
               load_s, (*backend)->num_kv_blocks(), (*backend)->kv_block_tokens(),
               engine_config.greedy_forward ? ", greedy steps pick tokens on the GPU" : "");
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

MIXSERVE_COMMAND("serve", "the OpenAI-compatible HTTP server (CPU or CUDA backend)", RunServe);

}  // namespace
}  // namespace mixserve::cli
