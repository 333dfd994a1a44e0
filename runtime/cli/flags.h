// A small flag parser for subcommands: `--name value`, `--name=value` and boolean `--name`.
//
// Commands declare what they accept; anything else is a usage error naming the flag.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "runtime/base/status.h"

namespace mixserve::cli {

class Flags {
 public:
  // `with_value`: flags that take a value (may repeat); `booleans`: flags that take none.
  static Result<Flags> Parse(const std::vector<std::string>& args, const std::set<std::string>& with_value,
                             const std::set<std::string>& booleans);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::optional<std::string> Get(const std::string& name) const;
  std::vector<std::string> GetAll(const std::string& name) const;
  Result<double> GetDouble(const std::string& name, double fallback) const;
  Result<long> GetInt(const std::string& name, long fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

}  // namespace mixserve::cli
