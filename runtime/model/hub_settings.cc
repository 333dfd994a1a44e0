#include "runtime/model/hub_settings.h"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace mixserve::model {
namespace {

// The variable's value when it is set and not empty.
std::optional<std::string> NonEmpty(const EnvLookup& env, const std::string& name) {
  auto value = env(name);
  if (!value || value->empty()) return std::nullopt;
  return value;
}

std::string Trim(const std::string& text) {
  size_t begin = 0, end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return text.substr(begin, end - begin);
}

bool IsTruthy(const std::string& value) {
  std::string upper;
  for (char c : Trim(value)) upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return upper == "1" || upper == "ON" || upper == "YES" || upper == "TRUE";
}

}  // namespace

EnvLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Result<HubSettings> HubSettingsFromEnvironment(const EnvLookup& env) {
  HubSettings s;
  auto home = NonEmpty(env, "HOME");
  // "~/x" in a path variable means the home folder, as Python's expanduser reads it.
  auto expand = [&](const std::string& path) -> Result<std::string> {
    if (path != "~" && path.rfind("~/", 0) != 0) return path;
    if (!home) return Status::InvalidArgument("'" + path + "' starts with ~ but HOME is not set");
    return *home + path.substr(1);
  };

  if (auto endpoint = NonEmpty(env, "HF_ENDPOINT")) {
    s.endpoint = *endpoint;
    while (!s.endpoint.empty() && s.endpoint.back() == '/') s.endpoint.pop_back();
  }

  std::string hf_home;
  if (auto value = NonEmpty(env, "HF_HOME")) {
    hf_home = *value;
  } else if (auto xdg = NonEmpty(env, "XDG_CACHE_HOME")) {
    hf_home = *xdg + "/huggingface";
  } else if (home) {
    hf_home = *home + "/.cache/huggingface";
  }
  auto expanded_home = expand(hf_home);
  if (!expanded_home.ok()) return expanded_home.status();
  hf_home = *expanded_home;

  std::optional<std::string> cache = NonEmpty(env, "HF_HUB_CACHE");
  if (!cache) cache = NonEmpty(env, "HUGGINGFACE_HUB_CACHE");
  if (!cache && hf_home.empty()) {
    return Status::InvalidArgument("cannot place the Hugging Face cache: set HF_HUB_CACHE, HF_HOME or HOME");
  }
  auto cache_dir = expand(cache ? *cache : hf_home + "/hub");
  if (!cache_dir.ok()) return cache_dir.status();
  s.cache_dir = *cache_dir;

  if (auto path = NonEmpty(env, "HF_TOKEN_PATH")) {
    auto expanded = expand(*path);
    if (!expanded.ok()) return expanded.status();
    s.token_file = *expanded;
  } else if (!hf_home.empty()) {
    s.token_file = hf_home + "/token";
  }

  std::optional<std::string> token = NonEmpty(env, "HF_TOKEN");
  std::string token_origin = "HF_TOKEN";
  if (!token) {
    token = NonEmpty(env, "HUGGING_FACE_HUB_TOKEN");
    token_origin = "HUGGING_FACE_HUB_TOKEN";
  }
  if (token) {
    s.token = Trim(*token);
    s.token_origin = token_origin;
  } else if (!s.token_file.empty()) {
    std::error_code ec;
    if (std::filesystem::exists(s.token_file, ec)) {
      std::ifstream in(s.token_file);
      std::stringstream text;
      text << in.rdbuf();
      if (!in) return Status::Io("token file " + s.token_file + " exists but cannot be read");
      s.token = Trim(text.str());
      if (!s.token.empty()) s.token_origin = s.token_file;
    }
  }

  if (auto offline = NonEmpty(env, "HF_HUB_OFFLINE")) s.offline = IsTruthy(*offline);
  return s;
}

}  // namespace mixserve::model
