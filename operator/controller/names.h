// Names and labels of the objects rendered for an LLMService.
//
// An LLMService's name is a DNS-1123 subdomain of up to 253 characters, but Services need a
// DNS-1035 label (a letter first, no dots, at most 63 characters), label values at most 63
// characters, and a StatefulSet at most 52 (its pods' controller-revision-hash label adds 11).
// Names that do not fit are shortened deterministically, with a hash of the full name to keep
// them distinct.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace mixserve::controller {

inline constexpr size_t kMaxNameLength = 63;
inline constexpr size_t kMaxStatefulSetNameLength = 52;

inline constexpr char kLabelName[] = "app.kubernetes.io/name";
inline constexpr char kLabelInstance[] = "app.kubernetes.io/instance";
inline constexpr char kLabelManagedBy[] = "app.kubernetes.io/managed-by";
inline constexpr char kLabelService[] = "mixserve.io/llmservice";
inline constexpr char kLabelReplica[] = "mixserve.io/replica";            // replica group of a multi-node pod
inline constexpr char kLabelPodIndex[] = "apps.kubernetes.io/pod-index";  // set by the StatefulSet controller

// `owner + suffix` when that is a DNS-1035 label of at most `max_len` characters; otherwise a
// prefix of `owner` (dots turned into dashes, a leading 'm' if it would start with a digit), a dash,
// 8 hex digits of a hash of `owner`, then `suffix`. REQUIRES: suffix is "" or starts with '-' and
// is made of [-a-z0-9]; suffix.size() + 10 <= max_len.
std::string ChildName(const std::string& owner, const std::string& suffix = "", size_t max_len = kMaxNameLength);

// `name` when it is at most 63 characters, else shortened like ChildName (a valid label value).
std::string LabelValue(const std::string& name);

// Labels on every child and pod: name=mixserve, instance, managed-by, and mixserve.io/llmservice.
nlohmann::json CommonLabels(const std::string& service_name);

// The labels that select every pod of one LLMService (a subset of CommonLabels).
nlohmann::json SelectorLabels(const std::string& service_name);

}  // namespace mixserve::controller
