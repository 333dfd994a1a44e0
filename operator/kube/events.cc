#include "operator/kube/events.h"

#include <cstdio>
#include <optional>

#include "operator/kube/exec_credential.h"

namespace mixserve::kube {
namespace {

using nlohmann::json;

constexpr size_t kMaxMessageBytes = 1024;

std::string Meta(const json& object, const char* field) {
  if (!object.contains("metadata") || !object["metadata"].is_object()) return "";
  const auto& meta = object["metadata"];
  return meta.contains(field) && meta[field].is_string() ? meta[field].get<std::string>() : "";
}

}  // namespace

EventRecorder::EventRecorder(Client* client, std::string component) : client_(client), component_(std::move(component)) {}

Status EventRecorder::Record(const json& involved_object, const std::string& type, const std::string& reason,
                             const std::string& message) {
  const std::string name = Meta(involved_object, "name");
  std::string ns = Meta(involved_object, "namespace");
  if (ns.empty()) ns = "default";  // events about cluster-scoped objects live in default
  std::string text = message.size() > kMaxMessageBytes ? message.substr(0, kMaxMessageBytes) : message;
  const std::string kind = involved_object.value("kind", "");
  const std::string key = ns + "\n" + kind + "\n" + name + "\n" + Meta(involved_object, "uid") + "\n" + type + "\n" +
                          reason + "\n" + text;
  const auto now = std::chrono::system_clock::now();
  const std::string now_text = FormatRfc3339(now);

  // The lock guards only the dedupe table, never an API call, so a slow API server cannot make
  // reconcilers queue up behind each other here.
  std::optional<Seen> previous;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto seen = seen_.find(key);
    if (seen != seen_.end() && std::chrono::steady_clock::now() - seen->second.last < dedupe_window_) {
      previous = seen->second;
    }
  }
  if (previous) {
    json patch = {{"count", previous->count + 1}, {"lastTimestamp", now_text}};
    auto patched = client_->MergePatch(kEventKind, previous->ns, previous->event_name, patch);
    if (patched.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      Seen& s = seen_[key];
      s = *previous;
      s.count = patched->value("count", previous->count + 1);
      s.last = std::chrono::steady_clock::now();
      return Status::Ok();
    }
    if (!IsNotFound(patched.status())) {
      std::fprintf(stderr, "event %s/%s: %s\n", ns.c_str(), reason.c_str(), patched.status().message().c_str());
      return patched.status();
    }
    // The Event expired or was deleted: write a new one.
  }

  char suffix[32];
  std::snprintf(suffix, sizeof(suffix), ".%llx",
                static_cast<unsigned long long>(
                    std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count()));
  json involved = {{"apiVersion", involved_object.value("apiVersion", "")},
                   {"kind", kind},
                   {"name", name},
                   {"namespace", Meta(involved_object, "namespace")}};
  if (!Meta(involved_object, "uid").empty()) involved["uid"] = Meta(involved_object, "uid");
  if (!Meta(involved_object, "resourceVersion").empty()) {
    involved["resourceVersion"] = Meta(involved_object, "resourceVersion");
  }
  json event = {{"apiVersion", "v1"},
                {"kind", "Event"},
                {"metadata", {{"name", name + suffix}, {"namespace", ns}}},
                {"involvedObject", involved},
                {"reason", reason},
                {"message", text},
                {"type", type},
                {"source", {{"component", component_}}},
                {"reportingComponent", component_},
                {"count", 1},
                {"firstTimestamp", now_text},
                {"lastTimestamp", now_text}};
  auto created = client_->Create(kEventKind, ns, event);
  if (!created.ok()) {
    std::fprintf(stderr, "event %s/%s: %s\n", ns.c_str(), reason.c_str(), created.status().message().c_str());
    return created.status();
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (seen_.size() >= 4096) {  // forget Events whose dedupe window has passed
    for (auto it = seen_.begin(); it != seen_.end();) {
      it = std::chrono::steady_clock::now() - it->second.last >= dedupe_window_ ? seen_.erase(it) : std::next(it);
    }
  }
  seen_[key] = Seen{name + suffix, ns, 1, std::chrono::steady_clock::now()};
  return Status::Ok();
}

}  // namespace mixserve::kube
