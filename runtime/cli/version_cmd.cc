// `mixserve version`: the version and the compiled-in backends.
#include <cstdio>

#include "runtime/base/version.h"
#include "runtime/cli/command.h"
#ifdef MIXSERVE_HAVE_CUDA
#include "runtime/backend/cuda/smoke.h"
#endif

namespace mixserve::cli {
namespace {

int RunVersion(const std::vector<std::string>&) {
  std::printf("mixserve %s\n", Version());
#ifdef MIXSERVE_HAVE_CUDA
  int rt = cuda::RuntimeVersion();
  int nccl = cuda::NcclVersion();
  std::printf("cuda: compiled in (runtime %d.%d, nccl %d.%d.%d), %d device(s) visible\n", rt / 1000, (rt % 1000) / 10,
              nccl / 10000, (nccl / 100) % 100, nccl % 100, cuda::DeviceCount());
#else
  std::printf("cuda: not compiled in\n");
#endif
  return 0;
}

MIXSERVE_COMMAND("version", "print the version and the compiled-in backends", RunVersion);

}  // namespace
}  // namespace mixserve::cli
