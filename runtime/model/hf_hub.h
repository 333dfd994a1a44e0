// A client for the parts of the Hugging Face Hub HTTP API that model downloads need.
//
//   GET  {endpoint}/api/models/{org}/{name}/revision/{revision}?blobs=true
//        -> the commit the revision names and the files it holds (with ETags and sizes)
//   HEAD {endpoint}/{org}/{name}/resolve/{commit}/{path}
//        -> ETag / X-Linked-Etag / X-Linked-Size, and for LFS files a redirect to where the bytes are
//   GET  <that place>, with `Range: bytes=N-` to resume
//
// Downloads stream to a file (never held in memory), resume from what the file already holds,
// retry dropped connections with backoff, log progress at most every ~2 s, and check LFS files
// against their sha256. The token goes only to the endpoint's own host, never into a message.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/base/status.h"
#include "runtime/model/hub_settings.h"

namespace mixserve::model {

// A repository at a revision, as hf://org/name[@revision] names it.
struct HubRepo {
  std::string id;                  // "org/name"
  std::string revision = "main";   // a branch, tag or commit hash
  // "hf://org/name", with "@revision" when it is not main: how messages name the repo.
  std::string Display() const;
};

// One file of a repository at a commit.
struct HubFile {
  std::string path;               // relative path in the repo, '/'-separated
  std::string etag;               // name of its blob in the cache; empty until known
  std::optional<uint64_t> size;   // bytes, when the Hub said
  bool lfs = false;               // true: etag is the sha256 of the content, checked after download
};

// What a revision resolved to.
struct HubRevision {
  std::string commit;            // 40 hex characters
  std::vector<HubFile> files;
};

// Receives progress and warning lines (one line each, no newline). Called from several threads.
using LogFn = std::function<void(const std::string& line)>;

// Strips a weak-validator "W/" prefix and surrounding quotes from an ETag header value.
std::string NormalizeEtag(std::string_view header_value);

// Parses the model-info JSON of /api/models/.../revision/... (`sha`, `siblings` with `rfilename`
// and, when asked with blobs=true, `blobId`, `size`, `lfs.sha256`). `source` names the answer in errors.
Result<HubRevision> ParseRevisionInfo(const std::string& json_text, const std::string& source);

// True for a full commit hash (40 hex characters).
bool LooksLikeCommitHash(std::string_view text);

class HubClient {
 public:
  // `log` may be empty (no progress lines).
  HubClient(HubSettings settings, LogFn log);

  // Resolves repo.revision to a commit and lists the files there.
  Result<HubRevision> ResolveRevision(const HubRepo& repo) const;

  // Asks the resolve endpoint for one file's ETag, size and kind, for listings that lack them.
  Result<HubFile> Describe(const HubRepo& repo, const std::string& commit, const std::string& path) const;

  // Downloads `file` into `partial_path`, appending to what it already holds (resumed with a Range
  // request; started over when the server ignores the Range). On success the file is complete and,
  // for LFS files, matches the sha256. A file whose sha256 or size is wrong is deleted.
  // REQUIRES: file.etag is known (use Describe first when it is not).
  Status Download(const HubRepo& repo, const std::string& commit, const HubFile& file,
                  const std::string& partial_path) const;

 private:
  struct Located;
  enum class Fetch { kComplete, kRestart, kRetry, kFatal };
  Result<Located> Locate(const HubRepo& repo, const std::string& commit, const std::string& path) const;
  Fetch FetchOnce(const HubRepo& repo, const std::string& commit, const HubFile& file, const std::string& partial_path,
                  uint64_t offset, const std::function<void(uint64_t)>& on_bytes, Status* error) const;

  HubSettings settings_;
  LogFn log_;
};

}  // namespace mixserve::model
