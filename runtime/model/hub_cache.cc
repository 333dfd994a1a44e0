#include "runtime/model/hub_cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace mixserve::model {
namespace fs = std::filesystem;

namespace {

// A name next to `path` that no other writer in this or another process picks.
std::string TempSibling(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

Status MakeParentDirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return Status::Io("cannot create " + fs::path(path).parent_path().string() + ": " + ec.message());
  return Status::Ok();
}

}  // namespace

std::string RepoFolderName(const std::string& repo_id) {
  std::string name = "models--";
  for (char c : repo_id) {
    if (c == '/') {
      name += "--";
    } else {
      name.push_back(c);
    }
  }
  return name;
}

bool IsSafeRepoPath(const std::string& path) {
  if (path.empty() || path.front() == '/' || path.find('\0') != std::string::npos) return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string segment = path.substr(start, end - start);
    if (segment.empty() || segment == "." || segment == "..") return false;
    start = end + 1;
  }
  return true;
}

HubCache::HubCache(std::string root, std::string repo_id) : root_(std::move(root)), repo_id_(std::move(repo_id)) {}

std::string HubCache::RepoDir() const { return root_ + "/" + RepoFolderName(repo_id_); }
std::string HubCache::BlobPath(const std::string& etag) const { return RepoDir() + "/blobs/" + etag; }
std::string HubCache::IncompletePath(const std::string& etag) const { return BlobPath(etag) + ".incomplete"; }
std::string HubCache::LockPath(const std::string& etag) const {
  return root_ + "/.locks/" + RepoFolderName(repo_id_) + "/" + etag + ".lock";
}
std::string HubCache::SnapshotDir(const std::string& commit) const { return RepoDir() + "/snapshots/" + commit; }
std::string HubCache::SnapshotPath(const std::string& commit, const std::string& file) const {
  return SnapshotDir(commit) + "/" + file;
}
std::string HubCache::RefPath(const std::string& revision) const { return RepoDir() + "/refs/" + revision; }

std::string HubCache::LinkTarget(const std::string& file, const std::string& etag) {
  std::string target = "../../";
  for (char c : file) {
    if (c == '/') target += "../";
  }
  return target + "blobs/" + etag;
}

bool HubCache::HasBlob(const std::string& etag, std::optional<uint64_t> size) const {
  std::error_code ec;
  auto status = fs::status(BlobPath(etag), ec);
  if (ec || !fs::is_regular_file(status)) return false;
  if (!size) return true;
  auto actual = fs::file_size(BlobPath(etag), ec);
  return !ec && actual == *size;
}

Result<std::optional<std::string>> HubCache::ReadRef(const std::string& revision) const {
  std::error_code ec;
  if (!fs::exists(RefPath(revision), ec)) return std::optional<std::string>();
  std::ifstream in(RefPath(revision));
  std::string commit;
  if (!(in >> commit)) return Status::Io(RefPath(revision) + ": cannot read the commit it should hold");
  return std::optional<std::string>(commit);
}

Status HubCache::WriteRef(const std::string& revision, const std::string& commit) const {
  std::string path = RefPath(revision);
  if (Status s = MakeParentDirs(path); !s.ok()) return s;
  std::string temp = TempSibling(path);
  {
    std::ofstream out(temp, std::ios::trunc);
    out << commit;
    if (!out.flush()) {
      std::error_code ignored;
      fs::remove(temp, ignored);
      return Status::Io("cannot write " + temp);
    }
  }
  std::error_code ec;
  fs::rename(temp, path, ec);
  if (ec) {
    fs::remove(temp, ec);
    return Status::Io("cannot write " + path + ": " + ec.message());
  }
  return Status::Ok();
}

Status HubCache::PublishBlob(const std::string& etag) const {
  std::error_code ec;
  fs::rename(IncompletePath(etag), BlobPath(etag), ec);
  if (ec) return Status::Io("cannot rename " + IncompletePath(etag) + " to " + BlobPath(etag) + ": " + ec.message());
  return Status::Ok();
}

Status HubCache::LinkIntoSnapshot(const std::string& commit, const std::string& file, const std::string& etag) const {
  std::string link = SnapshotPath(commit, file);
  if (Status s = MakeParentDirs(link); !s.ok()) return s;
  std::string temp = TempSibling(link);
  std::error_code ec;
  fs::create_symlink(LinkTarget(file, etag), temp, ec);
  if (ec) return Status::Io("cannot create the symlink " + link + ": " + ec.message());
  fs::rename(temp, link, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    return Status::Io("cannot create the symlink " + link + ": " + ec.message());
  }
  return Status::Ok();
}

Result<FileLock> FileLock::Acquire(const std::string& path) {
  if (Status s = MakeParentDirs(path); !s.ok()) return s;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Io("cannot open the lock file " + path + ": " + std::strerror(errno));
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    int err = errno;
    ::close(fd);
    return Status::Io("cannot lock " + path + ": " + std::strerror(err));
  }
  return FileLock(fd);
}

FileLock::FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

}  // namespace mixserve::model
