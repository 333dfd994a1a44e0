// Informer: a local, always-current copy of one kind of object (list + watch), with change handlers.
//
// Start() runs a background thread that lists the collection, then watches from the list's
// resourceVersion (bookmarks keep it fresh), resumes a watch that ended from the last version seen,
// reconnects with exponential backoff (0.2 s doubling to 5 s) while the API server is unreachable,
// and relists when the server answers 410 Gone. After every relist it compares the new list with
// the cache and calls the handlers with synthetic DELETED (objects that vanished), ADDED (new) and
// MODIFIED (resourceVersion changed) events, so no change is lost across a gap. Handlers run on the
// informer thread, in order; they must not block for long (queue keys, do not reconcile inline).
// The cache is readable from any thread. Each cached object is kept as MessagePack bytes (a 3 KB
// Deployment takes about 3 KB that way, against over 20 KB as an nlohmann::json tree), so Get and
// List decode a fresh copy: callers own what they receive.
//
//   kube::Informer pods(&client, kube::kPodKind, "default", "app=web");
//   pods.AddHandler([&](const std::string& type, const nlohmann::json& pod) { queue.Add(...); });
//   pods.Start();
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "operator/kube/client.h"
#include "operator/kube/resource.h"

namespace mixserve::kube {

class Informer {
 public:
  using Handler = std::function<void(const std::string& type, const nlohmann::json& object)>;

  // ns empty: all namespaces. `client` must outlive the informer.
  Informer(Client* client, ResourceKind kind, std::string ns, std::string label_selector = "");
  ~Informer();  // Stop()s

  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // REQUIRES: before Start().
  void AddHandler(Handler handler);
  // Applied to every object (listed or watched) before it is cached and handlers see it, e.g. to
  // drop metadata.managedFields and save memory. REQUIRES: before Start().
  void SetTransform(std::function<void(nlohmann::json& object)> transform) { transform_ = std::move(transform); }
  // Server-side watch length per request (default 60 s, randomised up to +25% per watch).
  void set_watch_timeout_seconds(int seconds) { watch_timeout_seconds_ = seconds; }

  // Starts the thread. After a Stop(), Start() resumes: it keeps the cache and watches from the
  // last resourceVersion (relisting only if the server says it is too old).
  void Start();
  // Ends the watch and joins the thread; returns within about a second. Idempotent.
  void Stop();
  // For tests: the next watch resumes from `resource_version` (e.g. "1", long compacted, to
  // force a 410 and a relist). REQUIRES: the informer is stopped.
  void ResumeFrom(const std::string& resource_version);

  // True once the first list has been stored in the cache (and its handlers have run).
  bool HasSynced() const;
  // Blocks until HasSynced() or `timeout`; returns HasSynced().
  bool WaitForSync(std::chrono::milliseconds timeout) const;

  std::optional<nlohmann::json> Get(const std::string& ns, const std::string& name) const;
  // All cached objects, or those in namespace `ns` when it is not empty.
  std::vector<nlohmann::json> List(const std::string& ns = "") const;

  // Number of lists done (the first one included), for tests and metrics.
  int64_t relists() const { return relists_.load(); }
  // Number of watch requests started.
  int64_t watches() const { return watches_.load(); }
  // The resourceVersion the next watch resumes from.
  std::string last_resource_version() const;
  // Why the last list or watch failed ("" after a successful list), for logs and /readyz.
  std::string last_error() const;

  const ResourceKind& kind() const { return kind_; }

  // How the cache stores an object, and back: Decode(Encode(o)) == o for any JSON value.
  static std::vector<std::uint8_t> Encode(const nlohmann::json& object);
  static nlohmann::json Decode(const std::vector<std::uint8_t>& packed);

 private:
  void Loop();
  Status Relist();
  Status WatchOnce();
  void Dispatch(const std::string& type, const nlohmann::json& object);
  void Apply(const std::string& type, nlohmann::json object);

  // One cached object: what List filters and Relist compares on, and the object itself, packed.
  struct Entry {
    std::string ns;
    std::string resource_version;
    std::vector<std::uint8_t> packed;  // Encode(object)
  };
  static Entry Pack(const nlohmann::json& object);
  bool SleepUnlessStopped(std::chrono::milliseconds d);

  Client* client_;
  const ResourceKind kind_;
  const std::string ns_;
  const std::string label_selector_;
  int watch_timeout_seconds_ = 60;
  std::vector<Handler> handlers_;
  std::function<void(nlohmann::json&)> transform_;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::map<std::string, Entry> cache_;  // ObjectKey -> object
  std::string resource_version_;
  std::string last_error_;
  bool synced_ = false;
  bool stopping_ = false;

  std::atomic<int64_t> relists_{0};
  std::atomic<int64_t> watches_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace mixserve::kube
