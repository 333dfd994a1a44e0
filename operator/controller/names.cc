#include "operator/controller/names.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>

namespace mixserve::controller {
namespace {

bool IsDns1035Label(const std::string& s) {
  if (s.empty() || s.size() > kMaxNameLength || !std::islower(static_cast<unsigned char>(s.front()))) return false;
  if (s.back() == '-') return false;
  for (char c : s) {
    if (!std::islower(static_cast<unsigned char>(c)) && !std::isdigit(static_cast<unsigned char>(c)) && c != '-') {
      return false;
    }
  }
  return true;
}

// 8 hex digits of the 64-bit FNV-1a hash of `s`: stable across builds and platforms.
std::string Hash8(const std::string& s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char out[9];
  std::snprintf(out, sizeof(out), "%08x", static_cast<unsigned>(h ^ (h >> 32)));
  return out;
}

// The first `keep` characters of `name` as a DNS-1035 label start: dots become dashes, a leading
// digit gets an 'm' in front, trailing dashes go.
std::string Stem(const std::string& name, size_t keep) {
  std::string stem;
  for (char c : name) stem += c == '.' ? '-' : c;
  if (stem.empty() || !std::islower(static_cast<unsigned char>(stem.front()))) stem.insert(stem.begin(), 'm');
  stem.resize(std::min(stem.size(), keep));
  while (!stem.empty() && stem.back() == '-') stem.pop_back();
  return stem;
}

}  // namespace

std::string ChildName(const std::string& owner, const std::string& suffix, size_t max_len) {
  std::string direct = owner + suffix;
  if (direct.size() <= max_len && IsDns1035Label(direct)) return direct;
  return Stem(owner, max_len - suffix.size() - 9) + "-" + Hash8(owner) + suffix;
}

std::string LabelValue(const std::string& name) {
  if (name.size() <= kMaxNameLength) return name;
  return Stem(name, kMaxNameLength - 9) + "-" + Hash8(name);
}

nlohmann::json CommonLabels(const std::string& service_name) {
  const std::string value = LabelValue(service_name);
  return {{kLabelName, "mixserve"},
          {kLabelInstance, value},
          {kLabelManagedBy, "mixserve-operator"},
          {kLabelService, value}};
}

nlohmann::json SelectorLabels(const std::string& service_name) {
  return {{kLabelName, "mixserve"}, {kLabelService, LabelValue(service_name)}};
}

}  // namespace mixserve::controller
