// The CUDA backend's environment switches (MIXSERVE_*, runtime/backend/cuda/NOTES.md): each caller
// reads its switch once into a static, so these run at most once per switch and process.
#pragma once

#include <cstdlib>

namespace mixserve::cuda {

// The integer value of `name`, or `fallback` when it is unset or empty.
inline int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

// An on/off switch: `fallback` when unset; otherwise a switch that is on by default goes off only
// when the value starts with '0', and one that is off by default goes on only when it starts with '1'.
inline bool EnvSwitch(const char* name, bool fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr) return fallback;
  return fallback ? v[0] != '0' : v[0] == '1';
}

}  // namespace mixserve::cuda
