#include "runtime/model/hf_hub.h"

#include <cpprest/filestream.h>
#include <cpprest/http_client.h>
#include <cpprest/uri_builder.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "runtime/model/sha256.h"

namespace mixserve::model {
namespace fs = std::filesystem;
namespace http = web::http;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kApiAttempts = 3;       // metadata calls are cheap to repeat but a dead Hub should fail fast
constexpr int kDownloadAttempts = 6;  // a dropped transfer resumes, so retrying costs little
constexpr auto kFirstBackoff = std::chrono::milliseconds(500);
constexpr auto kProgressEvery = std::chrono::seconds(2);
constexpr int kMaxHubRedirects = 5;

std::string HeaderOf(const http::http_response& response, const std::string& name) {
  auto it = response.headers().find(name);
  return it == response.headers().end() ? std::string() : it->second;
}

std::optional<uint64_t> ParseSize(const std::string& text) {
  if (text.empty()) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return value;
}

// "bytes 100-199/200" starts at 100.
bool RangeStartsAt(const std::string& content_range, uint64_t offset) {
  const std::string prefix = "bytes " + std::to_string(offset) + "-";
  return content_range.rfind(prefix, 0) == 0;
}

http::client::http_client_config ClientConfig() {
  http::client::http_client_config config;
  config.set_timeout(std::chrono::seconds(60));  // of silence on the socket, not of the whole transfer
  config.set_max_redirects(0);                   // redirects are followed here, to keep the token at home
  return config;
}

// "1.2/3.0 MB" (B, kB, MB or GB, by the size of the file); `done` alone when the total is unknown.
std::string FormatBytes(uint64_t done, std::optional<uint64_t> total = std::nullopt) {
  const double scale = static_cast<double>(total ? *total : done);
  const char* unit_name = scale >= 1e9 ? " GB" : scale >= 1e6 ? " MB" : scale >= 1e3 ? " kB" : " B";
  const double unit = scale >= 1e9 ? 1e9 : scale >= 1e6 ? 1e6 : scale >= 1e3 ? 1e3 : 1;
  const char* format = scale >= 1e9 ? "%.2f" : scale >= 1e3 ? "%.1f" : "%.0f";
  char text[32];
  std::snprintf(text, sizeof text, format, static_cast<double>(done) / unit);
  std::string out = text;
  if (total) {
    std::snprintf(text, sizeof text, format, static_cast<double>(*total) / unit);
    out += std::string("/") + text;
  }
  return out + unit_name;
}

std::string FormatSeconds(double seconds) {
  long s = static_cast<long>(seconds + 0.5);
  char text[32];
  if (s < 60) {
    std::snprintf(text, sizeof text, "%lds", s);
  } else if (s < 3600) {
    std::snprintf(text, sizeof text, "%ldm%02lds", s / 60, s % 60);
  } else {
    std::snprintf(text, sizeof text, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  }
  return text;
}

// "0.5s": how long a retry waits.
std::string FormatDelay(std::chrono::milliseconds delay) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1fs", static_cast<double>(delay.count()) / 1000.0);
  return text;
}

// Progress of one file's download across its attempts: "<file> 1.2/3.0 MB, 4.5 MB/s, ETA 1s".
// The rate counts only bytes moved by this process, so a resumed file does not look fast.
class DownloadProgress {
 public:
  DownloadProgress(LogFn log, std::string subject, std::optional<uint64_t> total)
      : log_(std::move(log)), subject_(std::move(subject)), total_(total), start_(Clock::now()), last_log_(start_) {}

  // A new attempt begins with `offset` bytes already on disk.
  void StartAttempt(uint64_t offset) {
    std::lock_guard<std::mutex> lock(mu_);
    attempt_offset_ = offset;
    if (!started_) initial_offset_ = offset;
    started_ = true;
  }

  // The current attempt has received `bytes` of its body.
  void OnBytes(uint64_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = attempt_offset_ + bytes;
    auto now = Clock::now();
    if (now - last_log_ < kProgressEvery) return;
    last_log_ = now;
    Emit(now, false);
  }

  void Finish(uint64_t size) {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = size;
    total_ = size;
    Emit(Clock::now(), true);
  }

 private:
  void Emit(Clock::time_point now, bool finished) {
    if (!log_) return;
    double elapsed = std::chrono::duration<double>(now - start_).count();
    uint64_t moved = done_ > initial_offset_ ? done_ - initial_offset_ : 0;
    double rate = elapsed > 0 ? static_cast<double>(moved) / elapsed : 0;
    char rate_text[32];
    std::snprintf(rate_text, sizeof rate_text, "%.1f MB/s", rate / 1e6);
    std::string line = subject_ + " " + FormatBytes(done_, total_) + ", " + rate_text;
    if (finished) {
      line += ", done in " + FormatSeconds(elapsed);
    } else if (total_ && rate > 0 && *total_ > done_) {
      line += ", ETA " + FormatSeconds(static_cast<double>(*total_ - done_) / rate);
    }
    log_(line);
  }

  std::mutex mu_;
  LogFn log_;
  std::string subject_;
  std::optional<uint64_t> total_;
  Clock::time_point start_, last_log_;
  uint64_t attempt_offset_ = 0, initial_offset_ = 0, done_ = 0;
  bool started_ = false;
};

// Closes a response stream on every path out of a transfer; errors on close are reported by Close().
class StreamCloser {
 public:
  explicit StreamCloser(concurrency::streams::ostream stream) : stream_(std::move(stream)) {}
  ~StreamCloser() {
    try {
      if (stream_.is_open()) stream_.close().wait();
    } catch (...) {
    }
  }
  Status Close(const std::string& path) {
    try {
      stream_.close().get();
      return Status::Ok();
    } catch (const std::exception& e) {
      return Status::Io(path + ": " + e.what());
    }
  }

 private:
  concurrency::streams::ostream stream_;
};

void TruncateTo(const std::string& path, uint64_t size) {
  std::error_code ec;
  fs::resize_file(path, size, ec);
}

}  // namespace

std::string HubRepo::Display() const { return "hf://" + id + (revision == "main" ? "" : "@" + revision); }

std::string NormalizeEtag(std::string_view value) {
  if (value.rfind("W/", 0) == 0) value.remove_prefix(2);
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
  return std::string(value);
}

bool LooksLikeCommitHash(std::string_view text) {
  if (text.size() != 40) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Result<HubRevision> ParseRevisionInfo(const std::string& json_text, const std::string& source) {
  auto doc = nlohmann::json::parse(json_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return Status::Unavailable(source + ": the answer is not a JSON object");
  auto sha = doc.find("sha");
  if (sha == doc.end() || !sha->is_string() || !LooksLikeCommitHash(sha->get<std::string>())) {
    return Status::Unavailable(source + ": the answer has no commit hash in 'sha'");
  }
  auto siblings = doc.find("siblings");
  if (siblings == doc.end() || !siblings->is_array()) return Status::Unavailable(source + ": the answer has no 'siblings' list");
  HubRevision revision;
  revision.commit = sha->get<std::string>();
  for (const auto& sibling : *siblings) {
    if (!sibling.is_object() || !sibling.contains("rfilename") || !sibling["rfilename"].is_string()) {
      return Status::Unavailable(source + ": a sibling lacks 'rfilename'");
    }
    HubFile file;
    file.path = sibling["rfilename"].get<std::string>();
    auto lfs = sibling.find("lfs");
    if (lfs != sibling.end() && lfs->is_object() && lfs->contains("sha256") && (*lfs)["sha256"].is_string()) {
      file.etag = (*lfs)["sha256"].get<std::string>();
      file.lfs = true;
      if (lfs->contains("size") && (*lfs)["size"].is_number_unsigned()) file.size = (*lfs)["size"].get<uint64_t>();
    } else if (sibling.contains("blobId") && sibling["blobId"].is_string()) {
      file.etag = sibling["blobId"].get<std::string>();
      if (sibling.contains("size") && sibling["size"].is_number_unsigned()) file.size = sibling["size"].get<uint64_t>();
    }
    revision.files.push_back(std::move(file));
  }
  return revision;
}

// Where one file's bytes are served, and what the resolve endpoint said about it.
struct HubClient::Located {
  std::string url;
  bool same_origin = true;  // the endpoint's host: the token may be sent
  HubFile file;
};

namespace {

// The Hub's answer to a failed call, as one line. `subject` names the repo (and file).
Status HttpError(const std::string& subject, int status, const std::string& error_code, const HubSettings& settings,
                 const std::string& url) {
  if (status == 401 || status == 403) {
    std::string code = "(" + std::to_string(status) + ")";
    if (error_code == "GatedRepo") {
      return Status::PermissionDenied(subject + ": access denied " + code +
                                      ": the repository is gated; accept its conditions on the Hub with the account "
                                      "whose token you use");
    }
    if (settings.token.empty()) {
      std::string where = settings.token_file.empty() ? "" : " or write a token to " + settings.token_file;
      return Status::PermissionDenied(subject + ": access denied " + code + "; set HF_TOKEN" + where +
                                      " (or check the repository name)");
    }
    return Status::PermissionDenied(subject + ": access denied " + code + " with the token from " +
                                    settings.token_origin + "; it cannot read this repository");
  }
  if (status == 404) {
    if (error_code == "EntryNotFound") return Status::NotFound(subject + ": not found in the repository");
    return Status::NotFound(subject + ": repository or revision not found");
  }
  std::string text = subject + ": HTTP " + std::to_string(status) + " from " + url;
  if (status == 429 || status >= 500) return Status::Unavailable(text);
  return Status::InvalidArgument(text);
}

// Runs `call` until it succeeds, fails with something other than kUnavailable, or runs out of tries.
template <typename T>
Result<T> WithRetries(int attempts, const LogFn& log, const std::function<Result<T>()>& call) {
  auto delay = kFirstBackoff;
  for (int attempt = 1;; ++attempt) {
    Result<T> result = call();
    if (result.ok() || result.status().code() != Status::Code::kUnavailable || attempt == attempts) return result;
    if (log) log(result.status().message() + "; retrying in " + FormatDelay(delay));
    std::this_thread::sleep_for(delay);
    delay *= 2;
  }
}

}  // namespace

HubClient::HubClient(HubSettings settings, LogFn log) : settings_(std::move(settings)), log_(std::move(log)) {}

Result<HubRevision> HubClient::ResolveRevision(const HubRepo& repo) const {
  const std::string url = settings_.endpoint + "/api/models/" + repo.id + "/revision/" +
                          web::uri::encode_data_string(repo.revision) + "?blobs=true";
  return WithRetries<HubRevision>(kApiAttempts, log_, [&]() -> Result<HubRevision> {
    try {
      http::client::http_client client(url, ClientConfig());
      http::http_request request(http::methods::GET);
      if (!settings_.token.empty()) request.headers().add("Authorization", "Bearer " + settings_.token);
      request.headers().add("Accept", "application/json");
      http::http_response response = client.request(request).get();
      std::string body = response.extract_utf8string(true).get();
      if (response.status_code() != http::status_codes::OK) {
        return HttpError(repo.Display(), response.status_code(), HeaderOf(response, "X-Error-Code"), settings_, url);
      }
      return ParseRevisionInfo(body, repo.Display() + ": " + url);
    } catch (const std::exception& e) {
      return Status::Unavailable(repo.Display() + ": GET " + url + ": " + e.what());
    }
  });
}

Result<HubClient::Located> HubClient::Locate(const HubRepo& repo, const std::string& commit,
                                             const std::string& path) const {
  const std::string subject = repo.Display() + ": " + path;
  std::string url = settings_.endpoint + "/" + repo.id + "/resolve/" + commit + "/" +
                    web::uri::encode_uri(path, web::uri::components::path);
  return WithRetries<Located>(kApiAttempts, log_, [&]() -> Result<Located> {
    std::string current = url;
    try {
      const web::uri endpoint(settings_.endpoint);
      // The Hub redirects within itself (renamed repos) and, for LFS files, to a storage host; the
      // first redirect that leaves the endpoint's host is where the bytes are.
      for (int hop = 0; hop <= kMaxHubRedirects; ++hop) {
        http::client::http_client client(current, ClientConfig());
        http::http_request request(http::methods::HEAD);
        if (!settings_.token.empty()) request.headers().add("Authorization", "Bearer " + settings_.token);
        request.headers().add("Accept-Encoding", "identity");
        http::http_response response = client.request(request).get();
        int status = response.status_code();
        Located located;
        located.file.path = path;
        std::string linked = HeaderOf(response, "X-Linked-Etag");
        located.file.etag = NormalizeEtag(linked.empty() ? HeaderOf(response, "ETag") : linked);
        located.file.lfs = !linked.empty() && LooksLikeSha256(located.file.etag);
        std::string size = HeaderOf(response, "X-Linked-Size");
        located.file.size = ParseSize(size.empty() ? HeaderOf(response, "Content-Length") : size);
        if (status >= 300 && status < 400) {
          std::string location = HeaderOf(response, "Location");
          if (location.empty()) return Status::Unavailable(subject + ": redirect without Location from " + current);
          web::uri next(web::uri(current).resolve_uri(location));
          if (next.has_same_authority(endpoint) && located.file.etag.empty()) {
            current = next.to_string();
            continue;
          }
          located.url = next.to_string();
          located.same_origin = next.has_same_authority(endpoint);
          return located;
        }
        if (status != http::status_codes::OK) {
          return HttpError(subject, status, HeaderOf(response, "X-Error-Code"), settings_, current);
        }
        located.url = current;
        located.same_origin = web::uri(current).has_same_authority(endpoint);
        return located;
      }
      return Status::Unavailable(subject + ": too many redirects from " + url);
    } catch (const std::exception& e) {
      return Status::Unavailable(subject + ": HEAD " + current + ": " + e.what());
    }
  });
}

Result<HubFile> HubClient::Describe(const HubRepo& repo, const std::string& commit, const std::string& path) const {
  auto located = Locate(repo, commit, path);
  if (!located.ok()) return located.status();
  if (located->file.etag.empty()) {
    return Status::Unavailable(repo.Display() + ": " + path + ": the Hub sent no ETag for it");
  }
  return located->file;
}

HubClient::Fetch HubClient::FetchOnce(const HubRepo& repo, const std::string& commit, const HubFile& file,
                                      const std::string& partial_path, uint64_t offset,
                                      const std::function<void(uint64_t)>& on_bytes, Status* error) const {
  const std::string subject = repo.Display() + ": " + file.path;
  auto located = Locate(repo, commit, file.path);
  if (!located.ok()) {
    *error = located.status();
    return error->code() == Status::Code::kUnavailable ? Fetch::kRetry : Fetch::kFatal;
  }
  concurrency::streams::ostream sink;
  try {
    sink = concurrency::streams::file_stream<uint8_t>::open_ostream(partial_path, std::ios::out | std::ios::app).get();
  } catch (const std::exception& e) {
    *error = Status::Io(subject + ": cannot write " + partial_path + ": " + e.what());
    return Fetch::kFatal;
  }
  StreamCloser closer(sink);

  http::http_request request(http::methods::GET);
  if (located->same_origin && !settings_.token.empty()) {
    request.headers().add("Authorization", "Bearer " + settings_.token);
  }
  request.headers().add("Accept-Encoding", "identity");
  if (offset > 0) request.headers().add("Range", "bytes=" + std::to_string(offset) + "-");
  request.set_response_stream(sink);
  request.set_progress_handler([on_bytes](http::message_direction::direction direction, utility::size64_t bytes) {
    if (direction == http::message_direction::download) on_bytes(bytes);
  });
  // The body streams into the file as soon as the headers are in, so an answer that is not the
  // expected range is cancelled and whatever it wrote is cut off again.
  pplx::cancellation_token_source cancel;
  // The URL may be a presigned storage URL: messages name only its host and path.
  const web::uri target(located->url);
  const std::string shown_url = web::uri_builder(target).set_query("").set_fragment("").to_string();
  try {
    http::client::http_client client(located->url, ClientConfig());
    http::http_response response = client.request(request, cancel.get_token()).get();
    int status = response.status_code();
    bool wanted = (offset == 0 && status == http::status_codes::OK) ||
                  (status == http::status_codes::PartialContent && RangeStartsAt(HeaderOf(response, "Content-Range"), offset));
    if (!wanted) {
      cancel.cancel();
      try {
        response.content_ready().wait();
      } catch (...) {
      }
      closer.Close(partial_path);
      TruncateTo(partial_path, offset);
      if (status == http::status_codes::OK || status == 416) {
        *error = Status::Unavailable(subject + ": the server did not resume at byte " + std::to_string(offset));
        return Fetch::kRestart;
      }
      if (status == http::status_codes::PartialContent) {
        *error = Status::Unavailable(subject + ": the server sent a range other than the one asked for");
        return Fetch::kRestart;
      }
      if (!located->same_origin && (status == 401 || status == 403)) {
        // A storage host refusing a presigned URL usually means it expired; the next attempt asks
        // the Hub for a fresh one.
        *error = Status::Unavailable(subject + ": HTTP " + std::to_string(status) + " from " + shown_url);
        return Fetch::kRetry;
      }
      *error = HttpError(subject, status, HeaderOf(response, "X-Error-Code"), settings_, shown_url);
      return error->code() == Status::Code::kUnavailable ? Fetch::kRetry : Fetch::kFatal;
    }
    response.content_ready().get();
  } catch (const std::exception& e) {
    closer.Close(partial_path);
    *error = Status::Unavailable(subject + ": GET " + shown_url + ": " + e.what());
    return Fetch::kRetry;
  }
  *error = closer.Close(partial_path);
  return error->ok() ? Fetch::kComplete : Fetch::kFatal;
}

Status HubClient::Download(const HubRepo& repo, const std::string& commit, const HubFile& file,
                           const std::string& partial_path) const {
  const std::string subject = repo.Display() + ": " + file.path;
  std::error_code ec;
  fs::create_directories(fs::path(partial_path).parent_path(), ec);
  if (ec) return Status::Io(subject + ": cannot create " + fs::path(partial_path).parent_path().string());
  auto on_disk = [&]() -> uint64_t {
    std::error_code size_ec;
    auto size = fs::file_size(partial_path, size_ec);
    return size_ec ? 0 : size;
  };

  DownloadProgress progress(log_, subject, file.size);
  auto delay = kFirstBackoff;
  int failures = 0;
  for (bool restarted = false;;) {
    uint64_t offset = on_disk();
    if (file.size && offset > *file.size) {
      TruncateTo(partial_path, 0);
      offset = 0;
    }
    if (file.size && offset == *file.size) break;
    if (offset > 0 && log_) log_(subject + ": resuming at " + FormatBytes(offset));
    progress.StartAttempt(offset);
    Status error;
    Fetch outcome = FetchOnce(repo, commit, file, partial_path, offset,
                              [&progress](uint64_t bytes) { progress.OnBytes(bytes); }, &error);
    if (outcome == Fetch::kComplete) {
      // A server that just stops sending (no length, no chunked encoding) looks complete; the size tells.
      if (!file.size || on_disk() >= *file.size) break;
      outcome = Fetch::kRetry;
      error = Status::Unavailable(subject + ": the transfer ended after " + std::to_string(on_disk()) + " of " +
                                  std::to_string(*file.size) + " bytes");
    }
    if (outcome == Fetch::kFatal) return error;
    if (outcome == Fetch::kRestart && !restarted) {
      // One free start from byte 0 when the server cannot serve ranges; after that it is a failure.
      restarted = true;
      TruncateTo(partial_path, 0);
      continue;
    }
    if (outcome == Fetch::kRestart) TruncateTo(partial_path, 0);
    if (++failures >= kDownloadAttempts) {
      return Status::Unavailable(error.message() + " (gave up after " + std::to_string(failures) + " attempts)");
    }
    if (log_) log_(error.message() + "; retrying in " + FormatDelay(delay));
    std::this_thread::sleep_for(delay);
    delay *= 2;
  }

  uint64_t size = on_disk();
  if (file.size && size != *file.size) {
    fs::remove(partial_path, ec);
    return Status::Io(subject + ": size mismatch: expected " + std::to_string(*file.size) + " bytes, got " +
                      std::to_string(size));
  }
  if (file.lfs) {
    auto digest = Sha256OfFile(partial_path);
    if (!digest.ok()) return digest.status().WithContext(subject);
    if (*digest != file.etag) {
      fs::remove(partial_path, ec);
      return Status::Io(subject + ": sha256 mismatch: expected " + file.etag + ", got " + *digest);
    }
  }
  progress.Finish(size);
  return Status::Ok();
}

}  // namespace mixserve::model
