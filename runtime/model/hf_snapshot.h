// Brings one revision of a Hugging Face Hub repository into the local Hub cache and returns the
// snapshot folder, the way huggingface_hub's snapshot_download does (same layout, same locks), so
// a cache filled by either is used by the other.
//
// By default only what serving needs is fetched: config.json, generation_config.json, tokenizer and
// chat-template files, and the safetensors weights (the shards model.safetensors.index.json names
// when there is an index, else the top-level *.safetensors other than Mistral's consolidated*).
// *.bin, *.pt, *.gguf and sub-folders such as original/ are left on the Hub.
#pragma once

#include <string>
#include <vector>

#include "runtime/base/status.h"
#include "runtime/model/hf_hub.h"
#include "runtime/model/hub_settings.h"

namespace mixserve::model {

struct SnapshotOptions {
  std::vector<std::string> include;  // globs over repo paths ('*' stays within one folder); empty: defaults
  int parallel_files = 4;            // files downloaded at once
  LogFn log;                         // progress and warnings; may be empty
};

// Resolves repo.revision, downloads what is missing and returns <cache>/models--org--name/snapshots/<commit>.
// Offline (settings.offline), or when the Hub cannot be reached, answers from refs/ and snapshots/ alone.
Result<std::string> DownloadSnapshot(const HubRepo& repo, const HubSettings& settings, const SnapshotOptions& options);

// True for the non-weight files a model needs (config, tokenizer, chat template, weight index).
bool IsDefaultSupportFile(const std::string& path);
// True for weights fetched when there is no index: top-level *.safetensors except consolidated*.
bool IsDefaultWeightFile(const std::string& path);
// True when `path` matches one of `globs` (shell patterns; '*' and '?' do not cross '/').
bool MatchesAnyGlob(const std::string& path, const std::vector<std::string>& globs);
// The distinct shard files of a model.safetensors.index.json's weight_map, sorted.
Result<std::vector<std::string>> ShardsNamedByIndex(const std::string& index_json, const std::string& source);

}  // namespace mixserve::model
