// Apply planning: which rendered children need a server-side apply, and which owned children must go.
//
// A resync must write nothing, so the controller applies a child only when the live object (from
// the informer cache) is missing, carries a different rendered-hash annotation (the desired object
// changed, including fields render dropped), or no longer holds a value the desired object sets
// (someone edited or the API server lost it). The last check is a subset comparison: fields the API
// server or other managers add (defaults, status, other labels) do not count as differences.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mixserve::controller {

inline constexpr char kRenderedHashAnnotation[] = "mixserve.io/rendered-hash";

// 16 hex digits of the SHA-256 of `object`'s JSON (sorted keys, so the same object always hashes
// the same).
std::string ContentHash(const nlohmann::json& object);

// `child` with metadata.annotations[kRenderedHashAnnotation] = ContentHash(child as given).
nlohmann::json StampRenderedHash(nlohmann::json child);

// Whether every field `desired` sets is in `live` with the same value: objects by key (extra keys
// in `live` allowed; a key missing from `live` whose desired value is a zero value — false, 0, "",
// {} or [] — counts as present, since the API server drops those), arrays element by element
// (same length), scalars equal (a number and the same number written as a string, as quantities
// come back, count as equal).
bool ContainsFields(const nlohmann::json& live, const nlohmann::json& desired);

// Whether `stamped` (from StampRenderedHash) must be applied over `live` (null: missing).
bool NeedsApply(const nlohmann::json& stamped, const nlohmann::json& live);

// Whether `object`'s metadata.ownerReferences has a controller reference to the owner `uid`.
bool ControlledBy(const nlohmann::json& object, const std::string& uid);

// "Kind/name": one child's identity within its LLMService's namespace.
std::string ChildId(const nlohmann::json& object);

// The objects of `owned` (children controlled by the LLMService) whose ChildId is not among `rendered`.
std::vector<nlohmann::json> Orphans(const std::vector<nlohmann::json>& owned, const std::vector<nlohmann::json>& rendered);

}  // namespace mixserve::controller
