#include "runtime/model/hf_snapshot.h"

#include <fnmatch.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "runtime/model/hub_cache.h"

namespace mixserve::model {
namespace fs = std::filesystem;

namespace {

constexpr const char* kIndexFile = "model.safetensors.index.json";

// An ETag becomes a file name in blobs/, so only plain names are accepted from the network.
bool IsPlainBlobName(const std::string& etag) {
  if (etag.empty() || etag.front() == '.') return false;
  return std::all_of(etag.begin(), etag.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_' || c == '.';
  });
}

// The snapshot of repo.revision as the cache alone knows it.
Result<std::string> CachedSnapshot(const HubCache& cache, const HubRepo& repo, const std::string& why) {
  std::string commit = repo.revision;
  if (!LooksLikeCommitHash(commit)) {
    auto ref = cache.ReadRef(repo.revision);
    if (!ref.ok()) return ref.status();
    if (!ref->has_value()) {
      return Status::NotFound(repo.Display() + ": not in the cache at " + cache.RepoDir() + " (" + why + ")");
    }
    commit = **ref;
  }
  std::error_code ec;
  if (!fs::is_directory(cache.SnapshotDir(commit), ec)) {
    return Status::NotFound(repo.Display() + ": snapshot " + commit + " is not in the cache at " + cache.RepoDir() +
                            " (" + why + ")");
  }
  return cache.SnapshotDir(commit);
}

// Fetches the files of one resolved revision into one cache.
class SnapshotFetcher {
 public:
  SnapshotFetcher(const HubRepo& repo, const HubSettings& settings, const SnapshotOptions& options,
                  std::string commit)
      : repo_(repo), cache_(settings.cache_dir, repo.id), client_(settings, options.log), log_(options.log),
        commit_(std::move(commit)) {}

  const HubCache& cache() const { return cache_; }

  // Makes snapshots/<commit>/<file.path> point at a complete, verified blob, downloading it if needed.
  Status Ensure(HubFile file) const {
    if (file.etag.empty()) {
      auto described = client_.Describe(repo_, commit_, file.path);
      if (!described.ok()) return described.status();
      file = *described;
    }
    if (!IsPlainBlobName(file.etag)) {
      return Status::Unavailable(repo_.Display() + ": " + file.path + ": unusable ETag '" + file.etag + "'");
    }
    if (!cache_.HasBlob(file.etag, file.size)) {
      auto lock = FileLock::Acquire(cache_.LockPath(file.etag));
      if (!lock.ok()) return lock.status();
      // Another process may have finished the same blob while this one waited for the lock.
      if (!cache_.HasBlob(file.etag, file.size)) {
        if (Status s = client_.Download(repo_, commit_, file, cache_.IncompletePath(file.etag)); !s.ok()) return s;
        if (Status s = cache_.PublishBlob(file.etag); !s.ok()) return s;
      }
    }
    return cache_.LinkIntoSnapshot(commit_, file.path, file.etag);
  }

  // Ensures every file, `parallel` at a time; stops starting new ones after the first failure.
  Status EnsureAll(const std::vector<HubFile>& files, int parallel) const {
    std::atomic<size_t> next{0};
    std::mutex mu;
    Status first_error;
    auto worker = [&]() {
      for (size_t i = next++; i < files.size(); i = next++) {
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!first_error.ok()) return;
        }
        Status s = Ensure(files[i]);
        if (!s.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          if (first_error.ok()) first_error = s;
        }
      }
    };
    size_t threads = std::min<size_t>(files.size(), static_cast<size_t>(std::max(parallel, 1)));
    std::vector<std::thread> pool;
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
    worker();
    for (auto& thread : pool) thread.join();
    return first_error;
  }

 private:
  HubRepo repo_;
  HubCache cache_;
  HubClient client_;
  LogFn log_;
  std::string commit_;
};

// The files to fetch from `listing`: the include globs when given, else the defaults (which, with
// an index, means fetching the index first to learn the shards).
Result<std::vector<HubFile>> SelectFiles(const HubRepo& repo, const std::vector<HubFile>& listing,
                                         const SnapshotOptions& options, const SnapshotFetcher& fetcher,
                                         const std::string& commit) {
  std::vector<HubFile> chosen;
  if (!options.include.empty()) {
    for (const auto& file : listing) {
      if (MatchesAnyGlob(file.path, options.include)) chosen.push_back(file);
    }
    return chosen;
  }
  const HubFile* index = nullptr;
  for (const auto& file : listing) {
    if (file.path == kIndexFile) index = &file;
  }
  std::set<std::string> shards;
  if (index != nullptr) {
    if (Status s = fetcher.Ensure(*index); !s.ok()) return s;
    std::string index_path = fetcher.cache().SnapshotPath(commit, kIndexFile);
    std::ifstream in(index_path);
    std::stringstream text;
    text << in.rdbuf();
    auto named = ShardsNamedByIndex(text.str(), repo.Display() + ": " + kIndexFile);
    if (!named.ok()) return named.status();
    shards.insert(named->begin(), named->end());
    for (const auto& shard : shards) {
      bool listed = std::any_of(listing.begin(), listing.end(), [&](const HubFile& f) { return f.path == shard; });
      if (!listed) {
        return Status::NotFound(repo.Display() + ": " + kIndexFile + " names " + shard +
                                ", which the repository does not have");
      }
    }
  }
  for (const auto& file : listing) {
    bool weight = index != nullptr ? shards.count(file.path) > 0 : IsDefaultWeightFile(file.path);
    if ((weight || IsDefaultSupportFile(file.path)) && file.path != kIndexFile) chosen.push_back(file);
  }
  return chosen;
}

}  // namespace

bool IsDefaultSupportFile(const std::string& path) {
  static const std::set<std::string> kNames = {
      "config.json",           "generation_config.json", "tokenizer.json",     "tokenizer_config.json",
      "special_tokens_map.json", "tokenizer.model",      "added_tokens.json",  "vocab.json",
      "merges.txt",            "chat_template.jinja",    "chat_template.json", kIndexFile,
  };
  return kNames.count(path) > 0;
}

bool IsDefaultWeightFile(const std::string& path) {
  return MatchesAnyGlob(path, {"*.safetensors"}) && path.rfind("consolidated", 0) != 0;
}

bool MatchesAnyGlob(const std::string& path, const std::vector<std::string>& globs) {
  return std::any_of(globs.begin(), globs.end(),
                     [&](const std::string& glob) { return ::fnmatch(glob.c_str(), path.c_str(), FNM_PATHNAME) == 0; });
}

Result<std::vector<std::string>> ShardsNamedByIndex(const std::string& index_json, const std::string& source) {
  auto doc = nlohmann::json::parse(index_json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return Status::InvalidArgument(source + ": not a JSON object");
  auto map = doc.find("weight_map");
  if (map == doc.end() || !map->is_object()) return Status::InvalidArgument(source + ": no 'weight_map' object");
  std::set<std::string> shards;
  for (const auto& [tensor, shard] : map->items()) {
    if (!shard.is_string() || !IsSafeRepoPath(shard.get<std::string>())) {
      return Status::InvalidArgument(source + ": tensor '" + tensor + "' maps to something that is not a file name");
    }
    shards.insert(shard.get<std::string>());
  }
  if (shards.empty()) return Status::InvalidArgument(source + ": 'weight_map' is empty");
  return std::vector<std::string>(shards.begin(), shards.end());
}

Result<std::string> DownloadSnapshot(const HubRepo& repo, const HubSettings& settings, const SnapshotOptions& options) {
  if (!IsSafeRepoPath(repo.revision)) return Status::InvalidArgument(repo.Display() + ": bad revision name");
  HubCache cache(settings.cache_dir, repo.id);
  if (settings.offline) return CachedSnapshot(cache, repo, "HF_HUB_OFFLINE is set");

  HubClient client(settings, options.log);
  auto revision = client.ResolveRevision(repo);
  if (!revision.ok()) {
    // Like huggingface_hub: a Hub that cannot be reached is no reason to refuse what is cached.
    if (revision.status().code() == Status::Code::kUnavailable) {
      auto cached = CachedSnapshot(cache, repo, "and the Hub is unreachable");
      if (cached.ok()) {
        if (options.log) options.log(revision.status().message() + "; using the cached snapshot " + *cached);
        return cached;
      }
    }
    return revision.status();
  }
  for (const auto& file : revision->files) {
    if (!IsSafeRepoPath(file.path)) {
      return Status::Unavailable(repo.Display() + ": the Hub listed an unsafe file path '" + file.path + "'");
    }
  }

  SnapshotFetcher fetcher(repo, settings, options, revision->commit);
  auto chosen = SelectFiles(repo, revision->files, options, fetcher, revision->commit);
  if (!chosen.ok()) return chosen.status();
  if (chosen->empty()) {
    std::string what = options.include.empty() ? "config.json, tokenizer or *.safetensors files" : "files matching --include";
    return Status::NotFound(repo.Display() + ": the repository has no " + what + " at " + revision->commit);
  }
  if (Status s = fetcher.EnsureAll(*chosen, options.parallel_files); !s.ok()) return s;
  if (repo.revision != revision->commit) {
    if (Status s = cache.WriteRef(repo.revision, revision->commit); !s.ok()) return s;
  }
  return cache.SnapshotDir(revision->commit);
}

}  // namespace mixserve::model
