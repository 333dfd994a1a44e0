// Model sources: turns what a user writes after --model into a local model folder.
//
//   /abs/path, ./rel/path, any path without "://"   a folder on this machine
//   file:///abs/path                                 the same, as a URI
//   hf://org/name[@revision]                         a Hugging Face Hub repository, downloaded into
//                                                    the shared Hub cache (see hf_snapshot.h)
//
// Other schemes (s3://, pvc://, ...) are errors naming the scheme: the operator mounts volumes and
// passes their paths, so the runtime never sees pvc://.
#pragma once

#include <string>
#include <vector>

#include "runtime/base/status.h"
#include "runtime/model/hf_hub.h"
#include "runtime/model/hub_settings.h"

namespace mixserve::model {

// What a model URI names, before anything touches the disk or the network.
struct ModelSource {
  enum class Kind { kLocalDir, kHub };
  Kind kind = Kind::kLocalDir;
  std::string path;  // kLocalDir: the path as written (file:// URIs decoded)
  HubRepo repo;      // kHub
};

// Parses a model URI; errors name the URI and what is wrong with it.
Result<ModelSource> ParseModelSource(const std::string& uri);

struct SourceOptions {
  std::string cache_dir;             // the Hub cache root; empty: from HF_HUB_CACHE / HF_HOME / HOME
  std::string revision;              // overrides the @revision of an hf:// URI; empty: keep it
  std::vector<std::string> include;  // globs of repo files to fetch; empty: what serving needs
  int parallel_files = 4;
  EnvLookup env = ProcessEnvironment();
  LogFn log = LogToStderr();         // progress lines and warnings

  static LogFn LogToStderr();
};

// A local model folder as an absolute path, or a one-line error naming what is missing
// (the folder, or its config.json).
Result<std::string> ResolveLocalDir(const std::string& path);

// Resolves `uri` to a local folder holding the model, downloading from the Hub as needed
// (nothing at all when the snapshot is cached and HF_HUB_OFFLINE=1).
Result<std::string> ResolveModel(const std::string& uri, const SourceOptions& options);

}  // namespace mixserve::model
