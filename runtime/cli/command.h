// The `mixserve` subcommand registry.
//
// Each subcommand lives in its own runtime/cli/<name>_cmd.cc and registers itself with
// MIXSERVE_COMMAND; main.cc only looks the name up and calls it. A command returns the process exit
// code: 0 success, 1 failure at run time, 2 bad usage. Errors are one line on stderr.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace mixserve::cli {

using CommandFn = std::function<int(const std::vector<std::string>& args)>;

struct Command {
  std::string summary;  // one line for `mixserve --help`
  CommandFn run;
};

std::map<std::string, Command>& Registry();

struct Registrar {
  Registrar(const std::string& name, const std::string& summary, CommandFn fn) {
    Registry()[name] = Command{summary, std::move(fn)};
  }
};

}  // namespace mixserve::cli

#define MIXSERVE_COMMAND_CONCAT2(a, b) a##b
#define MIXSERVE_COMMAND_CONCAT(a, b) MIXSERVE_COMMAND_CONCAT2(a, b)
#define MIXSERVE_COMMAND(name, summary, fn) \
  static ::mixserve::cli::Registrar MIXSERVE_COMMAND_CONCAT(mixserve_command_, __LINE__)(name, summary, fn)
