// mixserve: the inference runtime's command line. It only parses the subcommand and dispatches.
#include <cstdio>
#include <cstring>
#include <string>

#include "runtime/base/version.h"
#ifdef MIXSERVE_HAVE_CUDA
#include "runtime/backend/cuda/smoke.h"
#endif

namespace {

const char kUsage[] =
    "usage: mixserve <command> [flags]\n"
    "\n"
    "commands:\n"
    "  version     print the version and the compiled-in backends\n"
    "  serve       OpenAI-compatible HTTP server (not in this build yet)\n"
    "  generate    one completion from the command line (not in this build yet)\n"
    "  bench       engine benchmark (not in this build yet)\n";

int PrintVersion() {
  std::printf("mixserve %s\n", mixserve::Version());
#ifdef MIXSERVE_HAVE_CUDA
  int rt = mixserve::cuda::RuntimeVersion();
  int nccl = mixserve::cuda::NcclVersion();
  std::printf("cuda: compiled in (runtime %d.%d, nccl %d.%d.%d), %d device(s) visible\n", rt / 1000,
              (rt % 1000) / 10, nccl / 10000, (nccl / 100) % 100, nccl % 100, mixserve::cuda::DeviceCount());
#else
  std::printf("cuda: not compiled in\n");
#endif
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  std::string command = argv[1];
  if (command == "version" || command == "--version") return PrintVersion();
  if (command == "serve" || command == "generate" || command == "bench") {
    std::fprintf(stderr, "mixserve: '%s' is not available in this build yet\n", command.c_str());
    return 2;
  }
  std::fprintf(stderr, "mixserve: unknown command '%s' (try 'mixserve --help')\n", command.c_str());
  return 2;
}
