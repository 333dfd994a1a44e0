// `mixserve generate`: one completion from the command line, through the same engine as the server.
//
//   mixserve generate --model URI --prompt TEXT [--chat] --max-tokens N [--temperature T]
//                     [--top-p P] [--top-k K] [--min-p P] [--seed S] [--logprobs N] [--json]
//
// Streams the completion to stdout as it is generated; with --json prints one object at the end:
// {"ids": [...], "text": "...", "logprobs": [...], "finish_reason": "...", "usage": {...}}.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "runtime/backend/cpu/cpu_loader.h"
#include "runtime/cli/command.h"
#include "runtime/cli/flags.h"
#include "runtime/engine/engine.h"
#include "runtime/model/chat_template.h"
#include "runtime/model/source.h"
#include "runtime/model/tokenizer.h"

namespace mixserve::cli {
namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "mixserve generate: %s\n", message.c_str());
  return 1;
}

int RunGenerate(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args,
                            {"model", "prompt", "max-tokens", "temperature", "top-p", "top-k", "min-p", "seed",
                             "logprobs", "layers"},
                            {"chat", "json", "ignore-eos", "help"});
  if (!flags.ok()) {
    std::fprintf(stderr, "mixserve generate: %s (try --help)\n", flags.status().message().c_str());
    return 2;
  }
  if (flags->Has("help")) {
    std::puts("usage: mixserve generate --model URI --prompt TEXT [--chat] --max-tokens N [--temperature T]\n"
              "                         [--top-p P] [--top-k K] [--min-p P] [--seed S] [--logprobs N]\n"
              "                         [--ignore-eos] [--json]");
    return 0;
  }
  auto model_uri = flags->Get("model");
  auto prompt = flags->Get("prompt");
  if (!model_uri || !prompt) {
    std::fprintf(stderr, "mixserve generate: --model and --prompt are required\n");
    return 2;
  }
  Request req;
  auto max_tokens = flags->GetInt("max-tokens", 16);
  auto temperature = flags->GetDouble("temperature", 1.0);
  auto top_p = flags->GetDouble("top-p", 1.0);
  auto top_k = flags->GetInt("top-k", 0);
  auto min_p = flags->GetDouble("min-p", 0.0);
  auto logprobs = flags->GetInt("logprobs", -1);
  for (const Status* s : {&max_tokens.status(), &temperature.status(), &top_p.status(), &top_k.status(),
                          &min_p.status(), &logprobs.status()}) {
    if (!s->ok()) {
      std::fprintf(stderr, "mixserve generate: %s\n", s->message().c_str());
      return 2;
    }
  }
  req.id = "generate-0";
  req.max_tokens = *max_tokens;
  req.sampling.temperature = static_cast<float>(*temperature);
  req.sampling.top_p = static_cast<float>(*top_p);
  req.sampling.top_k = static_cast<int>(*top_k);
  req.sampling.min_p = static_cast<float>(*min_p);
  if (auto seed = flags->GetInt("seed", -1); seed.ok() && *seed >= 0) req.sampling.seed = static_cast<uint64_t>(*seed);
  req.logprobs = *logprobs >= 0;
  req.sampling.top_logprobs = std::max<int>(0, static_cast<int>(*logprobs));
  req.ignore_eos = flags->Has("ignore-eos");

  model::SourceOptions source_options;
  auto dir = model::ResolveModel(*model_uri, source_options);
  if (!dir.ok()) return Fail(dir.status().message());
  auto tokenizer = model::Tokenizer::Load(*dir);
  if (!tokenizer.ok()) return Fail(tokenizer.status().message());

  std::string text = *prompt;
  bool add_special = true;
  if (flags->Has("chat")) {
    auto tmpl = model::ChatTemplate::FromTokenizerConfig(*dir + "/tokenizer_config.json");
    if (!tmpl.ok()) return Fail(tmpl.status().message());
    nlohmann::json messages = nlohmann::json::array({{{"role", "user"}, {"content", *prompt}}});
    auto rendered = tmpl->Render(messages, true, nlohmann::json::object());
    if (!rendered.ok()) return Fail(rendered.status().message());
    text = *rendered;
    add_special = false;  // the template writes BOS itself
  }
  auto ids = tokenizer->Encode(text, add_special);
  if (!ids.ok()) return Fail(ids.status().message());
  req.prompt.assign(ids->begin(), ids->end());

  cpu::CpuModelOptions model_options;
  model_options.kv_block_tokens = 16;
  const int64_t need_tokens = static_cast<int64_t>(req.prompt.size()) + req.max_tokens;
  model_options.num_kv_blocks = static_cast<int>((need_tokens + 15) / 16);
  if (auto layers = flags->GetInt("layers", 0); layers.ok()) model_options.num_layers = static_cast<int>(*layers);
  auto config = model::LoadModelConfig(*dir + "/config.json");
  if (!config.ok()) return Fail(config.status().message());
  if (need_tokens > config->max_position_embeddings) {
    return Fail("prompt (" + std::to_string(req.prompt.size()) + " tokens) + max tokens (" +
                std::to_string(req.max_tokens) + ") exceed the model's context of " +
                std::to_string(config->max_position_embeddings) + " tokens");
  }
  auto model = cpu::LoadCpuModel(*dir, model_options);
  if (!model.ok()) return Fail(model.status().message());

  const bool json_out = flags->Has("json");
  nlohmann::json result = {{"ids", nlohmann::json::array()}, {"text", ""}, {"logprobs", nlohmann::json::array()}};
  bool done = false;
  req.on_output = [&](const RequestOutput& out) {
    for (size_t i = 0; i < out.token_ids.size(); ++i) {
      result["ids"].push_back(out.token_ids[i]);
      if (i < out.logprobs.size()) {
        nlohmann::json top = nlohmann::json::array();
        for (const auto& t : out.logprobs[i].top_logprobs) top.push_back({{"id", t.token}, {"logprob", t.logprob}});
        result["logprobs"].push_back({{"id", out.token_ids[i]}, {"logprob", out.logprobs[i].logprob}, {"top_logprobs", top}});
      }
    }
    result["text"] = result["text"].get<std::string>() + out.text;
    if (!json_out) {
      std::fputs(out.text.c_str(), stdout);
      std::fflush(stdout);
    }
    if (out.finished) {
      done = true;
      result["finish_reason"] = FinishReasonName(out.finish_reason);
      result["usage"] = {{"prompt_tokens", out.prompt_tokens}, {"completion_tokens", out.completion_tokens}};
    }
  };

  EngineConfig engine_config;
  engine_config.max_model_len = need_tokens;
  Engine engine(model->get(), &*tokenizer, engine_config);
  if (Status s = engine.Submit(std::move(req)); !s.ok()) return Fail(s.message());
  while (!done && engine.Step()) {
  }
  if (!done) return Fail("the engine stopped before the request finished");
  if (json_out) {
    std::puts(result.dump().c_str());
  } else {
    std::fputc('\n', stdout);
  }
  return 0;
}

MIXSERVE_COMMAND("generate", "one completion from the command line (CPU backend)", RunGenerate);

}  // namespace
}  // namespace mixserve::cli
