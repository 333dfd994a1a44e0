// Test helpers: this repository's files (the CRD, its samples, test tables) read as JSON.
// The root is $MIXSERVE_ROOT (CTest sets it), else found from this header's own path.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "operator/api/yaml_json.h"

namespace mixserve::testdata {

inline std::filesystem::path RepoRoot() {
  if (const char* root = std::getenv("MIXSERVE_ROOT")) return root;
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().parent_path();
}

// The YAML file at `path` (relative to the repository root, or absolute) as JSON; null, with a
// test failure, if it cannot be read.
inline nlohmann::json LoadYaml(const std::filesystem::path& path) {
  std::ifstream in(path.is_absolute() ? path : RepoRoot() / path);
  if (!in) {
    ADD_FAILURE() << "cannot open " << path;
    return nullptr;
  }
  std::stringstream text;
  text << in.rdbuf();
  auto json = api::YamlToJson(text.str());
  if (!json.ok()) {
    ADD_FAILURE() << path << ": " << json.status().message();
    return nullptr;
  }
  return *json;
}

// crds/samples/*.yaml, sorted by name.
inline std::vector<std::filesystem::path> SamplePaths() {
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(RepoRoot() / "crds" / "samples")) {
    if (entry.path().extension() == ".yaml") paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

}  // namespace mixserve::testdata
