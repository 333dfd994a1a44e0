#include "runtime/model/bpe_model.h"

#include <cstdio>
#include <limits>
#include <queue>

#include "runtime/model/tokenizer_json.h"
#include "runtime/model/utf8.h"

namespace mixserve::model {
namespace {

// A merge waiting in the queue: merge the symbol at `position` with its right neighbour.
struct Candidate {
  uint32_t rank;
  uint32_t position;
  TokenId merged_id;
  // priority_queue pops the largest; "larger" here means lower priority (higher rank, then to the right).
  bool operator<(const Candidate& other) const {
    if (rank != other.rank) return rank > other.rank;
    return position > other.position;
  }
};

// One entry of "merges": "left right" (older files) or ["left", "right"].
Result<std::pair<std::string, std::string>> ParseMergeEntry(const nlohmann::json& entry, size_t index) {
  if (entry.is_string()) {
    const std::string& line = entry.get_ref<const std::string&>();
    const size_t space = line.find(' ');
    if (space != std::string::npos && line.find(' ', space + 1) == std::string::npos) {
      return std::make_pair(line.substr(0, space), line.substr(space + 1));
    }
  } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string()) {
    return std::make_pair(entry[0].get<std::string>(), entry[1].get<std::string>());
  }
  return Status::InvalidArgument("model BPE: merge #" + std::to_string(index) +
                                 " is not a pair of tokens (\"left right\" or [\"left\", \"right\"])");
}

}  // namespace

Result<BpeModel> BpeModel::FromJson(const nlohmann::json& model) {
  const std::string type = tokenizer_json::TypeOf(model);
  // Files written by older `tokenizers` versions leave the type out of a BPE model.
  if (!type.empty() && type != "BPE") return Status::InvalidArgument("unsupported tokenizer model type '" + type + "'");
  if (!model.is_object()) return Status::InvalidArgument("tokenizer.json has no \"model\" object");
  const std::string where = "model BPE";

  BpeModel bpe;
  if (auto it = model.find("dropout"); it != model.end() && !it->is_null()) {
    if (!it->is_number() || it->get<double>() != 0.0) {
      return Status::InvalidArgument(where + ": dropout is not supported (it makes encoding random)");
    }
  }
  auto fuse_unk = tokenizer_json::GetBool(model, "fuse_unk", where, false);
  auto byte_fallback = tokenizer_json::GetBool(model, "byte_fallback", where, false);
  auto ignore_merges = tokenizer_json::GetBool(model, "ignore_merges", where, false);
  for (const auto* flag : {&fuse_unk, &byte_fallback, &ignore_merges}) {
    if (!flag->ok()) return flag->status();
  }
  bpe.fuse_unk_ = *fuse_unk;
  bpe.byte_fallback_ = *byte_fallback;
  bpe.ignore_merges_ = *ignore_merges;
  if (auto it = model.find("unk_token"); it != model.end() && !it->is_null()) {
    if (!it->is_string()) return Status::InvalidArgument(where + ": field 'unk_token' must be a string");
    bpe.unk_token_ = it->get<std::string>();
  }
  for (auto [key, target] : {std::pair{"continuing_subword_prefix", &bpe.continuing_subword_prefix_},
                             std::pair{"end_of_word_suffix", &bpe.end_of_word_suffix_}}) {
    if (auto it = model.find(key); it != model.end() && !it->is_null()) {
      if (!it->is_string()) return Status::InvalidArgument(where + ": field '" + key + "' must be a string");
      *target = it->get<std::string>();
    }
  }

  auto vocab = model.find("vocab");
  if (vocab == model.end() || !vocab->is_object()) return Status::InvalidArgument(where + ": 'vocab' must be an object");
  bpe.vocab_.reserve(vocab->size());
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    const auto& id = it.value();
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > std::numeric_limits<TokenId>::max()) {
      return Status::InvalidArgument(where + ": the id of '" + it.key() + "' is not a non-negative 32-bit integer");
    }
    const auto token_id = static_cast<TokenId>(id.get<int64_t>());
    auto [entry, inserted] = bpe.vocab_.emplace(it.key(), token_id);
    if (inserted) bpe.id_to_token_.emplace(token_id, &entry->first);
    bpe.max_id_ = std::max(bpe.max_id_, token_id);
  }

  auto merges = model.find("merges");
  if (merges == model.end() || !merges->is_array()) return Status::InvalidArgument(where + ": 'merges' must be a list");
  if (merges->size() > std::numeric_limits<uint32_t>::max()) return Status::InvalidArgument(where + ": too many merges");
  bpe.merges_.reserve(merges->size());
  const size_t prefix_bytes = bpe.continuing_subword_prefix_.size();
  for (size_t rank = 0; rank < merges->size(); ++rank) {
    auto pair = ParseMergeEntry((*merges)[rank], rank);
    if (!pair.ok()) return pair.status();
    const auto& [left, right] = *pair;
    auto left_id = bpe.TokenToId(left);
    auto right_id = bpe.TokenToId(right);
    if (!left_id || !right_id) {
      return Status::InvalidArgument(where + ": merge #" + std::to_string(rank) + " uses a token not in the vocabulary: '" +
                                     (left_id ? right : left) + "'");
    }
    // The merged token drops the right side's continuing-subword prefix ("##").
    if (right.size() < prefix_bytes) {
      return Status::InvalidArgument(where + ": merge #" + std::to_string(rank) + " right side '" + right +
                                     "' is shorter than the continuing_subword_prefix");
    }
    const std::string merged = left + right.substr(prefix_bytes);
    auto merged_id = bpe.TokenToId(merged);
    if (!merged_id) {
      return Status::InvalidArgument(where + ": merge #" + std::to_string(rank) + " makes '" + merged +
                                     "', which is not in the vocabulary");
    }
    bpe.merges_[PairKey(*left_id, *right_id)] = Merge{static_cast<uint32_t>(rank), *merged_id};
  }

  for (int byte = 0; byte < 256; ++byte) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", byte);
    bpe.byte_ids_[byte] = bpe.TokenToId(name).value_or(-1);
  }
  return bpe;
}

std::optional<TokenId> BpeModel::TokenToId(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::IdToToken(TokenId id) const {
  auto it = id_to_token_.find(id);
  return it == id_to_token_.end() ? nullptr : it->second;
}

std::optional<TokenId> BpeModel::ByteFallbackId(uint8_t byte) const {
  if (byte_ids_[byte] < 0) return std::nullopt;
  return byte_ids_[byte];
}

const BpeModel::Merge* BpeModel::FindMerge(TokenId left, TokenId right) const {
  auto it = merges_.find(PairKey(left, right));
  return it == merges_.end() ? nullptr : &it->second;
}

Status BpeModel::InitialSymbols(std::string_view piece, std::vector<TokenId>& symbols) const {
  TokenId pending_unk = -1;  // an unk symbol not yet emitted, so the next unknown can fuse into it
  std::string decorated;
  size_t pos = 0;
  while (pos < piece.size()) {
    const size_t begin = pos;
    utf8::Next(piece, pos);
    std::string_view character = piece.substr(begin, pos - begin);
    const bool first = begin == 0;
    const bool last = pos == piece.size();
    if ((!first && !continuing_subword_prefix_.empty()) || (last && !end_of_word_suffix_.empty())) {
      decorated.assign(first ? std::string() : continuing_subword_prefix_);
      decorated.append(character);
      if (last) decorated.append(end_of_word_suffix_);
      character = decorated;
    }
    if (auto id = TokenToId(character)) {
      if (pending_unk >= 0) symbols.push_back(pending_unk);
      pending_unk = -1;
      symbols.push_back(*id);
      continue;
    }
    if (byte_fallback_) {
      bool all_bytes_known = true;
      for (const char c : character) all_bytes_known &= byte_ids_[static_cast<uint8_t>(c)] >= 0;
      if (all_bytes_known) {
        // Note: a pending unk stays pending across byte tokens, as in `tokenizers`.
        for (const char c : character) symbols.push_back(byte_ids_[static_cast<uint8_t>(c)]);
        continue;
      }
    }
    if (!unk_token_) continue;  // no unk token configured: the character is dropped
    auto unk_id = TokenToId(*unk_token_);
    if (!unk_id) return Status::InvalidArgument("model BPE: unk_token '" + *unk_token_ + "' is not in the vocabulary");
    if (pending_unk >= 0 && !fuse_unk_) symbols.push_back(pending_unk);
    pending_unk = *unk_id;
  }
  if (pending_unk >= 0) symbols.push_back(pending_unk);
  return Status::Ok();
}

void BpeModel::MergeAll(std::vector<TokenId>& symbols) const {
  const size_t n = symbols.size();
  if (n < 2) return;
  // A doubly linked list over `symbols`; merged-away symbols are marked dead.
  std::vector<int64_t> prev(n), next(n);
  std::vector<bool> alive(n, true);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int64_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int64_t>(i + 1) : -1;
  }
  std::vector<Candidate> initial;
  initial.reserve(n);
  for (size_t i = 0; i + 1 < n; ++i) {
    if (const Merge* m = FindMerge(symbols[i], symbols[i + 1])) {
      initial.push_back({m->rank, static_cast<uint32_t>(i), m->merged_id});
    }
  }
  std::priority_queue<Candidate> queue(std::less<Candidate>(), std::move(initial));
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    const size_t left = top.position;
    if (!alive[left] || next[left] < 0) continue;
    const auto right = static_cast<size_t>(next[left]);
    // Skip entries made stale by earlier merges: the pair must still merge into the same token.
    const Merge* current = FindMerge(symbols[left], symbols[right]);
    if (current == nullptr || current->merged_id != top.merged_id) continue;
    symbols[left] = top.merged_id;
    alive[right] = false;
    next[left] = next[right];
    if (next[left] >= 0) prev[static_cast<size_t>(next[left])] = static_cast<int64_t>(left);
    if (prev[left] >= 0) {
      const auto before = static_cast<size_t>(prev[left]);
      if (const Merge* m = FindMerge(symbols[before], symbols[left])) {
        queue.push({m->rank, static_cast<uint32_t>(before), m->merged_id});
      }
    }
    if (next[left] >= 0) {
      if (const Merge* m = FindMerge(symbols[left], symbols[static_cast<size_t>(next[left])])) {
        queue.push({m->rank, static_cast<uint32_t>(left), m->merged_id});
      }
    }
  }
  size_t kept = 0;
  for (size_t i = 0; i < n; ++i) {
    if (alive[i]) symbols[kept++] = symbols[i];
  }
  symbols.resize(kept);
}

Status BpeModel::Encode(std::string_view piece, std::vector<TokenId>& ids) const {
  if (piece.empty()) return Status::Ok();
  if (ignore_merges_) {
    if (auto id = TokenToId(piece)) {
      ids.push_back(*id);
      return Status::Ok();
    }
  }
  std::vector<TokenId> symbols;
  symbols.reserve(piece.size());
  if (Status s = InitialSymbols(piece, symbols); !s.ok()) return s;
  MergeAll(symbols);
  ids.insert(ids.end(), symbols.begin(), symbols.end());
  return Status::Ok();
}

}  // namespace mixserve::model
