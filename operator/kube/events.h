// EventRecorder: core/v1 Events about an object ("why is my LLMService Degraded?" in kubectl
// describe).
//
// Record() creates an Event with involvedObject, type (Normal|Warning), reason, message,
// source.component, count 1 and first/lastTimestamp. A repeat of the same (object, type, reason,
// message) within dedupe_window (10 min) PATCHes the existing Event's count and lastTimestamp
// instead of creating another, as kubelet and client-go do. Failures are logged to stderr, never
// returned: an Event is best effort and must not fail a reconcile. Thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "operator/kube/client.h"

namespace mixserve::kube {

class EventRecorder {
 public:
  // `client` must outlive the recorder; component is e.g. "mixserve-operator".
  EventRecorder(Client* client, std::string component);

  // involved_object: the object as read (apiVersion, kind, metadata.namespace/name/uid/
  // resourceVersion are used). Returns the Status for tests; callers may ignore it.
  Status Record(const nlohmann::json& involved_object, const std::string& type, const std::string& reason,
                const std::string& message);

  void set_dedupe_window(std::chrono::seconds window) { dedupe_window_ = window; }

 private:
  struct Seen {
    std::string event_name;
    std::string ns;
    int64_t count = 0;
    std::chrono::steady_clock::time_point last;
  };

  Client* client_;
  const std::string component_;
  std::chrono::seconds dedupe_window_{600};
  std::mutex mu_;
  std::map<std::string, Seen> seen_;  // dedupe key -> the Event written for it
};

}  // namespace mixserve::kube
