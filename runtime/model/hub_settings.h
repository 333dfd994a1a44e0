// Where the Hugging Face Hub is, where its cache lives and which token to send.
//
// Read from the environment variables huggingface_hub reads (HF_ENDPOINT, HF_HUB_CACHE, HF_HOME,
// HF_TOKEN, HF_TOKEN_PATH, HF_HUB_OFFLINE, ...), so mixserve and Python tools share one cache and one
// login. The environment comes in through an EnvLookup so tests can hand in their own.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "runtime/base/status.h"

namespace mixserve::model {

// Returns the value of an environment variable, or nullopt when it is unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// The real process environment.
EnvLookup ProcessEnvironment();

// Hub connection and cache settings. The token is a secret: never put it in a message or a log line.
struct HubSettings {
  std::string endpoint = "https://huggingface.co";  // no trailing slash
  std::string cache_dir;     // the hub cache root, the folder that holds models--{org}--{name}
  std::string token;         // empty: anonymous requests
  std::string token_origin;  // where the token came from ("HF_TOKEN" or a file path), for messages
  std::string token_file;    // where a token file is looked for, for hints in access-denied errors
  bool offline = false;      // HF_HUB_OFFLINE: answer from the cache only, never touch the network
};

// Reads the settings; a token file that exists but cannot be read is an error, a missing one is not.
Result<HubSettings> HubSettingsFromEnvironment(const EnvLookup& env);

}  // namespace mixserve::model
