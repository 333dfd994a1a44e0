// mixserve: the inference runtime's command line. It only looks up the subcommand and runs it;
// each subcommand lives in runtime/cli/<name>_cmd.cc.
#include <cstdio>
#include <string>
#include <vector>

#include "runtime/cli/command.h"

namespace mixserve::cli {
std::map<std::string, Command>& Registry() {
  static std::map<std::string, Command> registry;
  return registry;
}
}  // namespace mixserve::cli

namespace {

void PrintUsage(FILE* out) {
  std::fputs("usage: mixserve <command> [flags]   ('mixserve <command> --help' for its flags)\n\ncommands:\n", out);
  for (const auto& [name, cmd] : mixserve::cli::Registry()) std::fprintf(out, "  %-12s %s\n", name.c_str(), cmd.summary.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(stderr);
    return 2;
  }
  std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    PrintUsage(stdout);
    return 0;
  }
  if (name == "--version") name = "version";
  auto& registry = mixserve::cli::Registry();
  auto it = registry.find(name);
  if (it == registry.end()) {
    std::fprintf(stderr, "mixserve: unknown command '%s' (try 'mixserve --help')\n", name.c_str());
    return 2;
  }
  return it->second.run(std::vector<std::string>(argv + 2, argv + argc));
}
