#include "runtime/model/source.h"

#include <cpprest/base_uri.h>

#include <cctype>
#include <cstdio>
#include <filesystem>

#include "runtime/model/hf_snapshot.h"
#include "runtime/model/hub_cache.h"

namespace mixserve::model {
namespace fs = std::filesystem;

namespace {

// One half of a repo id: what the Hub accepts as an org or a model name.
bool IsRepoNamePart(const std::string& part) {
  if (part.empty() || part.size() > 96 || !std::isalnum(static_cast<unsigned char>(part.front()))) return false;
  if (part.find("--") != std::string::npos || part.find("..") != std::string::npos) return false;
  for (char c : part) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return part.back() != '.' && part.back() != '-';
}

Result<ModelSource> ParseHub(const std::string& uri, const std::string& rest) {
  ModelSource source;
  source.kind = ModelSource::Kind::kHub;
  std::string id = rest;
  if (auto at = rest.find('@'); at != std::string::npos) {
    id = rest.substr(0, at);
    source.repo.revision = rest.substr(at + 1);
    if (!IsSafeRepoPath(source.repo.revision)) {
      return Status::InvalidArgument("model source '" + uri + "': bad revision '" + source.repo.revision + "'");
    }
  }
  auto slash = id.find('/');
  if (slash == std::string::npos || !IsRepoNamePart(id.substr(0, slash)) || !IsRepoNamePart(id.substr(slash + 1))) {
    return Status::InvalidArgument("model source '" + uri + "': expected hf://org/name[@revision]");
  }
  source.repo.id = id;
  return source;
}

Result<ModelSource> ParseFile(const std::string& uri, const std::string& rest) {
  // file://<host><path>: only an empty host or localhost names this machine.
  auto slash = rest.find('/');
  std::string host = slash == std::string::npos ? rest : rest.substr(0, slash);
  if (slash == std::string::npos || (!host.empty() && host != "localhost")) {
    return Status::InvalidArgument("model source '" + uri + "': a file URI needs an absolute path, as in file:///models/x");
  }
  ModelSource source;
  source.path = web::uri::decode(rest.substr(slash));
  return source;
}

}  // namespace

Result<ModelSource> ParseModelSource(const std::string& uri) {
  if (uri.empty()) return Status::InvalidArgument("empty model source (want a folder, file:// or hf://org/name)");
  auto separator = uri.find("://");
  if (separator == std::string::npos) {
    ModelSource source;
    source.path = uri;
    return source;
  }
  std::string scheme;
  for (char c : uri.substr(0, separator)) scheme.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  std::string rest = uri.substr(separator + 3);
  if (scheme == "hf") return ParseHub(uri, rest);
  if (scheme == "file") return ParseFile(uri, rest);
  return Status::InvalidArgument("model source '" + uri + "': unsupported scheme '" + scheme +
                                 "' (use a local folder, file:// or hf://)");
}

LogFn SourceOptions::LogToStderr() {
  return [](const std::string& line) {
    std::string out = line + "\n";
    std::fwrite(out.data(), 1, out.size(), stderr);
  };
}

Result<std::string> ResolveLocalDir(const std::string& path) {
  std::error_code ec;
  fs::path absolute = fs::absolute(path, ec).lexically_normal();
  if (ec) return Status::Io("model folder " + path + ": " + ec.message());
  std::string shown = absolute.string();
  if (shown.size() > 1 && shown.back() == '/') shown.pop_back();
  if (!fs::exists(absolute, ec)) {
    std::string hint;
    if (ParseHub(path, path).ok()) hint = " (for a Hugging Face Hub repository write hf://" + path + ")";
    return Status::NotFound("model folder " + shown + " does not exist" + hint);
  }
  if (!fs::is_directory(absolute, ec)) return Status::InvalidArgument("model source " + shown + " is not a folder");
  if (!fs::exists(absolute / "config.json", ec)) {
    return Status::NotFound(shown + "/config.json: not found (is " + shown + " a model folder?)");
  }
  return shown;
}

Result<std::string> ResolveModel(const std::string& uri, const SourceOptions& options) {
  auto source = ParseModelSource(uri);
  if (!source.ok()) return source.status();
  if (source->kind == ModelSource::Kind::kLocalDir) {
    if (!options.revision.empty()) {
      return Status::InvalidArgument("model source '" + uri + "': a revision applies only to hf:// sources");
    }
    return ResolveLocalDir(source->path);
  }

  HubRepo repo = source->repo;
  if (!options.revision.empty()) {
    bool pinned = uri.find('@') != std::string::npos;
    if (pinned && repo.revision != options.revision) {
      return Status::InvalidArgument("model source '" + uri + "' pins revision '" + repo.revision +
                                     "' but revision '" + options.revision + "' was also asked for");
    }
    if (!IsSafeRepoPath(options.revision)) {
      return Status::InvalidArgument("model source '" + uri + "': bad revision '" + options.revision + "'");
    }
    repo.revision = options.revision;
  }
  auto settings = HubSettingsFromEnvironment(options.env);
  if (!settings.ok()) return settings.status();
  if (!options.cache_dir.empty()) settings->cache_dir = options.cache_dir;

  SnapshotOptions snapshot_options;
  snapshot_options.include = options.include;
  snapshot_options.parallel_files = options.parallel_files;
  snapshot_options.log = options.log;
  auto snapshot = DownloadSnapshot(repo, *settings, snapshot_options);
  if (!snapshot.ok()) return snapshot.status();
  std::error_code ec;
  if (options.include.empty() && !fs::exists(fs::path(*snapshot) / "config.json", ec)) {
    return Status::NotFound(repo.Display() + ": the snapshot has no config.json (" + *snapshot + ")");
  }
  return snapshot;
}

}  // namespace mixserve::model
