// The Hugging Face Hub cache on disk, laid out as huggingface_hub lays it out so that one volume
// serves mixserve, transformers, vLLM and the `hf` CLI alike:
//
//   <root>/models--{org}--{name}/blobs/<etag>               file contents, named by their ETag
//   <root>/models--{org}--{name}/blobs/<etag>.incomplete    a download in progress, resumed next time
//   <root>/models--{org}--{name}/snapshots/<commit>/<path>  relative symlink to ../../blobs/<etag>
//   <root>/models--{org}--{name}/refs/<revision>            the commit the revision last resolved to
//   <root>/.locks/models--{org}--{name}/<etag>.lock         flock(2)ed while the blob is written
//
// Only complete, verified blobs get a name without `.incomplete`, and only those are linked into a
// snapshot, so a reader of snapshots/ never sees partial data.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "runtime/base/status.h"

namespace mixserve::model {

// "models--org--name": the cache folder name of repo id "org/name".
std::string RepoFolderName(const std::string& repo_id);

// True when `path` (a file path inside a repo, as the Hub lists it) stays inside a snapshot: not
// empty, not absolute, no empty, "." or ".." segments. Paths from the network are checked with this
// before they become file names.
bool IsSafeRepoPath(const std::string& path);

// One repository's part of the cache. Cheap to copy; touches the disk only in the methods that say so.
class HubCache {
 public:
  HubCache(std::string root, std::string repo_id);

  const std::string& root() const { return root_; }
  std::string RepoDir() const;
  std::string BlobPath(const std::string& etag) const;
  std::string IncompletePath(const std::string& etag) const;
  std::string LockPath(const std::string& etag) const;
  std::string SnapshotDir(const std::string& commit) const;
  std::string SnapshotPath(const std::string& commit, const std::string& file) const;
  std::string RefPath(const std::string& revision) const;
  // What the snapshot entry for `file` points to: "../../blobs/<etag>", one more "../" per folder in `file`.
  static std::string LinkTarget(const std::string& file, const std::string& etag);

  // True when the complete blob exists (and has `size` bytes, when a size is given).
  bool HasBlob(const std::string& etag, std::optional<uint64_t> size) const;
  // The commit that refs/<revision> names, or nullopt when there is no such ref.
  Result<std::optional<std::string>> ReadRef(const std::string& revision) const;
  // Points refs/<revision> at `commit`, replacing the file atomically.
  Status WriteRef(const std::string& revision, const std::string& commit) const;
  // Renames blobs/<etag>.incomplete to blobs/<etag>: the download is complete and verified.
  Status PublishBlob(const std::string& etag) const;
  // Makes snapshots/<commit>/<file> a relative symlink to the blob, replacing any old entry atomically.
  // REQUIRES: IsSafeRepoPath(file).
  Status LinkIntoSnapshot(const std::string& commit, const std::string& file, const std::string& etag) const;

 private:
  std::string root_;
  std::string repo_id_;
};

// An exclusive flock(2) on a lock file, held until destruction. huggingface_hub locks the same
// files (through the `filelock` package, also flock), so two tools never write one blob at once.
class FileLock {
 public:
  // Creates the file (and its folders) if needed and blocks until the lock is ours.
  static Result<FileLock> Acquire(const std::string& path);
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace mixserve::model
