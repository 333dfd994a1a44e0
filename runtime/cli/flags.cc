#include "runtime/cli/flags.h"

#include <charconv>
#include <cstdlib>

namespace mixserve::cli {

Result<Flags> Flags::Parse(const std::vector<std::string>& args, const std::set<std::string>& with_value,
                           const std::set<std::string>& booleans) {
  Flags flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.rfind("--", 0) != 0) {
      flags.positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    bool inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    if (booleans.count(name)) {
      if (inline_value) return Status::InvalidArgument("flag --" + name + " takes no value");
      flags.values_[name].push_back("true");
    } else if (with_value.count(name)) {
      if (!inline_value) {
        if (i + 1 >= args.size()) return Status::InvalidArgument("flag --" + name + " needs a value");
        value = args[++i];
      }
      flags.values_[name].push_back(value);
    } else {
      return Status::InvalidArgument("unknown flag --" + name);
    }
  }
  return flags;
}

std::optional<std::string> Flags::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> Flags::GetAll(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

Result<double> Flags::GetDouble(const std::string& name, double fallback) const {
  auto v = Get(name);
  if (!v) return fallback;
  char* end = nullptr;
  double d = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0') return Status::InvalidArgument("flag --" + name + " wants a number, got '" + *v + "'");
  return d;
}

Result<long> Flags::GetInt(const std::string& name, long fallback) const {
  auto v = Get(name);
  if (!v) return fallback;
  long out = 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || ptr != v->data() + v->size()) {
    return Status::InvalidArgument("flag --" + name + " wants an integer, got '" + *v + "'");
  }
  return out;
}

}  // namespace mixserve::cli
