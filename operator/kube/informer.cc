#include "operator/kube/informer.h"

#include <random>

namespace mixserve::kube {
namespace {

using nlohmann::json;

constexpr std::chrono::milliseconds kMinBackoff{200};
constexpr std::chrono::milliseconds kMaxBackoff{5000};

std::string ResourceVersionOf(const json& object) {
  if (!object.contains("metadata") || !object["metadata"].is_object()) return "";
  return object["metadata"].value("resourceVersion", "");
}

}  // namespace

std::vector<std::uint8_t> Informer::Encode(const json& object) {
  std::vector<std::uint8_t> packed = json::to_msgpack(object);
  packed.shrink_to_fit();
  return packed;
}

json Informer::Decode(const std::vector<std::uint8_t>& packed) { return json::from_msgpack(packed); }

Informer::Entry Informer::Pack(const json& object) {
  Entry entry;
  entry.resource_version = ResourceVersionOf(object);
  if (object.contains("metadata") && object["metadata"].is_object()) {
    entry.ns = object["metadata"].value("namespace", "");
  }
  entry.packed = Encode(object);
  return entry;
}

Informer::Informer(Client* client, ResourceKind kind, std::string ns, std::string label_selector)
    : client_(client), kind_(std::move(kind)), ns_(std::move(ns)), label_selector_(std::move(label_selector)) {}

Informer::~Informer() { Stop(); }

void Informer::AddHandler(Handler handler) { handlers_.push_back(std::move(handler)); }

void Informer::Start() {
  if (thread_.joinable()) return;
  stop_ = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { Loop(); });
}

void Informer::ResumeFrom(const std::string& resource_version) {
  std::lock_guard<std::mutex> lock(mu_);
  resource_version_ = resource_version;
}

void Informer::Stop() {
  stop_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Informer::HasSynced() const {
  std::lock_guard<std::mutex> lock(mu_);
  return synced_;
}

bool Informer::WaitForSync(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return synced_ || stopping_; }) && synced_;
}

std::optional<json> Informer::Get(const std::string& ns, const std::string& name) const {
  std::vector<std::uint8_t> packed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(ObjectKey(ns, name));
    if (it == cache_.end()) return std::nullopt;
    packed = it->second.packed;  // decode outside the lock
  }
  return Decode(packed);
}

std::vector<json> Informer::List(const std::string& ns) const {
  std::vector<std::vector<std::uint8_t>> packed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, entry] : cache_) {
      if (ns.empty() || entry.ns == ns) packed.push_back(entry.packed);
    }
  }
  std::vector<json> out;
  out.reserve(packed.size());
  for (const auto& bytes : packed) out.push_back(Decode(bytes));
  return out;
}

std::string Informer::last_resource_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return resource_version_;
}

std::string Informer::last_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

bool Informer::SleepUnlessStopped(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return stopping_; });
}

void Informer::Dispatch(const std::string& type, const json& object) {
  for (const auto& handler : handlers_) {
    // A throwing handler (e.g. a JSON type error on an odd object) must not end the informer.
    try {
      handler(type, object);
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(mu_);
      last_error_ = "handler for " + type + " " + ObjectKey(object) + ": " + e.what();
    }
  }
}

void Informer::Loop() {
  bool need_list = last_resource_version().empty();
  auto backoff = kMinBackoff;
  auto fail = [&](const Status& s) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_error_ = s.message();
    }
    SleepUnlessStopped(backoff);
    backoff = std::min(backoff * 2, kMaxBackoff);
  };
  while (!stop_) {
    if (need_list) {
      Status listed = Relist();
      if (!listed.ok()) {
        fail(listed);
        continue;
      }
      need_list = false;
      backoff = kMinBackoff;
    }
    const auto started = std::chrono::steady_clock::now();
    Status watched = WatchOnce();
    if (stop_) break;
    if (IsGone(watched)) {
      need_list = true;  // our resourceVersion is too old: list again, then diff
      continue;
    }
    if (!watched.ok()) {
      fail(watched);  // e.g. the API server is down: retry the watch from the same version
      continue;
    }
    // A watch the server ended normally; one that ends at once (server going away) backs off.
    if (std::chrono::steady_clock::now() - started < std::chrono::seconds(1)) {
      fail(Status::Unavailable("watch of " + kind_.resource + " ended at once"));
    } else {
      backoff = kMinBackoff;
    }
  }
}

Status Informer::Relist() {
  auto list = client_->List(kind_, ns_, label_selector_);
  if (!list.ok()) return list.status();
  const std::string list_version = (*list).contains("metadata") && (*list)["metadata"].is_object()
                                       ? (*list)["metadata"].value("resourceVersion", "")
                                       : "";
  std::map<std::string, Entry> fresh;
  if (list->contains("items") && (*list)["items"].is_array()) {
    for (auto& item : (*list)["items"]) {
      // List items carry no apiVersion/kind; watch events do. Make cached objects uniform.
      item["apiVersion"] = kind_.ApiVersion();
      item["kind"] = kind_.kind;
      if (transform_) transform_(item);
      fresh.emplace(ObjectKey(item), Pack(item));
      item = json();  // free each item's tree as soon as it is packed
    }
  }
  *list = json();
  // (type, key) of the synthetic events; objects are decoded one at a time when dispatched.
  std::vector<std::pair<std::string, std::string>> events;
  std::map<std::string, Entry> gone;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [key, old] : cache_) {
      if (!fresh.count(key)) {
        events.emplace_back("DELETED", key);
        gone.emplace(key, std::move(old));
      }
    }
    for (const auto& [key, entry] : fresh) {
      auto old = cache_.find(key);
      if (old == cache_.end()) {
        events.emplace_back("ADDED", key);
      } else if (old->second.resource_version != entry.resource_version) {
        events.emplace_back("MODIFIED", key);
      }
    }
    cache_ = fresh;
    resource_version_ = list_version;
    last_error_.clear();
  }
  ++relists_;
  for (const auto& [type, key] : events) {
    const auto& from = type == "DELETED" ? gone : fresh;
    Dispatch(type, Decode(from.at(key).packed));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    synced_ = true;
  }
  cv_.notify_all();
  return Status::Ok();
}

void Informer::Apply(const std::string& type, json object) {
  const std::string rv = ResourceVersionOf(object);
  if (transform_ && type != "BOOKMARK") transform_(object);
  Entry entry;
  if (type != "BOOKMARK" && type != "DELETED") entry = Pack(object);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!rv.empty()) resource_version_ = rv;
    if (type == "BOOKMARK") return;
    if (type == "DELETED") {
      cache_.erase(ObjectKey(object));
    } else {
      cache_[ObjectKey(object)] = std::move(entry);  // handlers get `object` below
    }
  }
  if (type != "BOOKMARK") Dispatch(type, object);
}

Status Informer::WatchOnce() {
  static thread_local std::mt19937 rng(std::random_device{}());
  const int base = std::max(1, watch_timeout_seconds_);
  const int timeout = base + std::uniform_int_distribution<int>(0, base / 4)(rng);
  ++watches_;
  return client_->Watch(kind_, ns_, last_resource_version(), label_selector_, timeout,
                        [this](const std::string& type, const json& object) { Apply(type, object); },
                        [this] { return stop_.load(); });
}

}  // namespace mixserve::kube
