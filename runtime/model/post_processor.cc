#include "runtime/model/post_processor.h"

#include <limits>
#include <string>

#include "runtime/model/tokenizer_json.h"

namespace mixserve::model {
namespace {

Result<std::vector<TokenId>> ParseIds(const nlohmann::json& ids, const std::string& where) {
  if (!ids.is_array()) return Status::InvalidArgument(where + ": 'ids' must be a list");
  std::vector<TokenId> out;
  for (const auto& id : ids) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > std::numeric_limits<TokenId>::max()) {
      return Status::InvalidArgument(where + ": token ids must be non-negative 32-bit integers");
    }
    out.push_back(static_cast<TokenId>(id.get<int64_t>()));
  }
  return out;
}

// TemplateProcessing's "single": special tokens around the sequence placeholder "A".
Result<SpecialTokenTemplate> ParseTemplate(const nlohmann::json& spec) {
  const std::string where = "post_processor TemplateProcessing";
  auto single = spec.find("single");
  if (single == spec.end() || !single->is_array()) return Status::InvalidArgument(where + ": 'single' must be a list");
  auto specials = spec.find("special_tokens");
  SpecialTokenTemplate result;
  bool seen_sequence = false;
  for (const auto& piece : *single) {
    if (piece.is_object() && piece.contains("Sequence")) {
      const auto& seq = piece["Sequence"];
      auto id = tokenizer_json::GetString(seq, "id", where);
      if (seen_sequence || !id.ok() || *id != "A") {
        return Status::InvalidArgument(where + ": 'single' must hold the sequence $A exactly once");
      }
      seen_sequence = true;
      continue;
    }
    if (!piece.is_object() || !piece.contains("SpecialToken") || !piece["SpecialToken"].is_object()) {
      return Status::InvalidArgument(where + ": template pieces must be {\"SpecialToken\": ...} or {\"Sequence\": ...}");
    }
    auto name = tokenizer_json::GetString(piece["SpecialToken"], "id", where);
    if (!name.ok()) return name.status();
    if (specials == spec.end() || !specials->is_object() || !specials->contains(*name)) {
      return Status::InvalidArgument(where + ": special token '" + *name + "' is not in 'special_tokens'");
    }
    const auto& entry = (*specials)[*name];
    if (!entry.is_object() || !entry.contains("ids")) return Status::InvalidArgument(where + ": special token '" + *name + "' has no ids");
    auto ids = ParseIds(entry["ids"], where);
    if (!ids.ok()) return ids.status();
    auto& side = seen_sequence ? result.suffix : result.prefix;
    side.insert(side.end(), ids->begin(), ids->end());
  }
  if (!seen_sequence) return Status::InvalidArgument(where + ": 'single' must hold the sequence $A exactly once");
  return result;
}

// BertProcessing / RobertaProcessing: "cls" before and "sep" after, each a [token, id] pair.
Result<SpecialTokenTemplate> ParseClsSep(const nlohmann::json& spec, const std::string& type) {
  SpecialTokenTemplate result;
  for (const char* key : {"cls", "sep"}) {
    auto it = spec.find(key);
    if (it == spec.end() || !it->is_array() || it->size() != 2 || !(*it)[1].is_number_integer() ||
        (*it)[1].get<int64_t>() < 0 || (*it)[1].get<int64_t>() > std::numeric_limits<TokenId>::max()) {
      return Status::InvalidArgument("post_processor " + type + ": '" + key + "' must be [token, id]");
    }
    const auto id = static_cast<TokenId>((*it)[1].get<int64_t>());
    (std::string(key) == "cls" ? result.prefix : result.suffix).push_back(id);
  }
  return result;
}

}  // namespace

Result<SpecialTokenTemplate> ParsePostProcessor(const nlohmann::json& spec) {
  if (spec.is_null()) return SpecialTokenTemplate{};
  const std::string type = tokenizer_json::TypeOf(spec);
  if (type == "TemplateProcessing") return ParseTemplate(spec);
  if (type == "BertProcessing" || type == "RobertaProcessing") return ParseClsSep(spec, type);
  if (type == "ByteLevel") return SpecialTokenTemplate{};  // only adjusts offsets, which we do not report
  if (type == "Sequence") {
    auto it = spec.find("processors");
    if (it == spec.end() || !it->is_array()) return Status::InvalidArgument("post_processor Sequence: 'processors' must be a list");
    // Each processor wraps the output of the ones before it.
    SpecialTokenTemplate result;
    for (const auto& child : *it) {
      auto inner = ParsePostProcessor(child);
      if (!inner.ok()) return inner.status();
      result.prefix.insert(result.prefix.begin(), inner->prefix.begin(), inner->prefix.end());
      result.suffix.insert(result.suffix.end(), inner->suffix.begin(), inner->suffix.end());
    }
    return result;
  }
  if (type.empty()) return Status::InvalidArgument("post_processor without a \"type\"");
  return Status::InvalidArgument("unsupported post_processor type '" + type + "'");
}

}  // namespace mixserve::model
