// `mixserve download`: fetches a model into the Hugging Face Hub cache (or checks a local folder)
// and prints the local folder to load it from. Progress goes to stderr, the folder to stdout.
#include <cstdio>

#include "runtime/cli/command.h"
#include "runtime/cli/flags.h"
#include "runtime/model/source.h"

namespace mixserve::cli {
namespace {

constexpr const char* kUsage =
    "usage: mixserve download --model URI [--revision REV] [--cache-dir DIR] [--include GLOB ...] [--parallel N]\n"
    "\n"
    "  --model URI       a local folder, file:///path or hf://org/name[@revision]\n"
    "  --revision REV    branch, tag or commit of an hf:// model (default: main, or the URI's @revision)\n"
    "  --cache-dir DIR   Hub cache root (default: HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub)\n"
    "  --include GLOB    fetch only repo files matching GLOB (repeatable; default: config, tokenizer and\n"
    "                    *.safetensors files)\n"
    "  --parallel N      files downloaded at once (default 4)\n"
    "\n"
    "Environment: HF_ENDPOINT, HF_TOKEN (or the file HF_TOKEN_PATH / $HF_HOME/token), HF_HUB_OFFLINE=1.\n";

int RunDownload(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"model", "revision", "cache-dir", "include", "parallel"}, {"help"});
  if (!flags.ok()) {
    std::fprintf(stderr, "mixserve download: %s\n%s", flags.status().message().c_str(), kUsage);
    return 2;
  }
  if (flags->Has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  auto model = flags->Get("model");
  auto parallel = flags->GetInt("parallel", 4);
  if (!model || !flags->positional().empty() || !parallel.ok() || *parallel < 1) {
    std::string why = !model ? "--model is required"
                      : !flags->positional().empty() ? "unexpected argument '" + flags->positional().front() + "'"
                      : !parallel.ok() ? parallel.status().message()
                                       : "--parallel wants at least 1";
    std::fprintf(stderr, "mixserve download: %s\n%s", why.c_str(), kUsage);
    return 2;
  }

  model::SourceOptions options;
  options.revision = flags->Get("revision").value_or("");
  options.cache_dir = flags->Get("cache-dir").value_or("");
  options.include = flags->GetAll("include");
  options.parallel_files = static_cast<int>(*parallel);
  auto dir = model::ResolveModel(*model, options);
  if (!dir.ok()) {
    std::fprintf(stderr, "mixserve download: %s\n", dir.status().message().c_str());
    return 1;
  }
  std::printf("%s\n", dir->c_str());
  return 0;
}

MIXSERVE_COMMAND("download", "fetch a model (hf://org/name[@rev]) into the Hub cache and print its folder",
                 RunDownload);

}  // namespace
}  // namespace mixserve::cli
