#include "runtime/engine/block_manager.h"

#include <cassert>

namespace mixserve {

BlockManager::BlockManager(int num_blocks, int kv_block_tokens) : kv_block_tokens_(kv_block_tokens), blocks_(num_blocks) {
  for (int32_t i = 0; i < num_blocks; ++i) blocks_[i].free_pos = free_list_.insert(free_list_.end(), i);
}

uint64_t BlockManager::ChainHash(uint64_t parent, const int32_t* tokens) const {
  // FNV-1a over the parent hash and the block's token ids; collisions would only cost a wrong
  // cache hit between two 64-bit hashes of different prefixes.
  uint64_t h = 1469598103934665603ull ^ parent;
  h *= 1099511628211ull;
  for (int i = 0; i < kv_block_tokens_; ++i) {
    uint32_t t = static_cast<uint32_t>(tokens[i]);
    for (int b = 0; b < 4; ++b) {
      h ^= (t >> (8 * b)) & 0xff;
      h *= 1099511628211ull;
    }
  }
  return h;
}

int32_t BlockManager::TakeFreeBlock() {
  assert(!free_list_.empty());
  int32_t id = free_list_.front();
  free_list_.pop_front();
  Block& b = blocks_[id];
  if (b.hash) {  // its old contents are about to be overwritten
    cached_.erase(*b.hash);
    b.hash.reset();
  }
  b.ref_count = 1;
  return id;
}

void BlockManager::AddRef(int32_t id) {
  Block& b = blocks_[id];
  if (b.ref_count++ == 0) free_list_.erase(b.free_pos);
}

std::optional<BlockManager::Allocation> BlockManager::Allocate(const std::vector<int32_t>& tokens, int64_t num_tokens,
                                                               bool use_prefix_cache) {
  Allocation a;
  // Cached full blocks, but always leave the last token to compute.
  std::vector<int32_t> hits;
  uint64_t h = 0;
  const int64_t max_cached_blocks = use_prefix_cache ? (num_tokens - 1) / kv_block_tokens_ : 0;
  for (int64_t blk = 0; blk < max_cached_blocks; ++blk) {
    h = ChainHash(h, &tokens[blk * kv_block_tokens_]);
    auto it = cached_.find(h);
    if (it == cached_.end()) break;
    hits.push_back(it->second);
  }
  const int needed_new = BlocksFor(num_tokens) - static_cast<int>(hits.size());
  // A hit on a free block takes it off the free list too, so count those against the free pool.
  int hits_on_free = 0;
  for (int32_t id : hits) hits_on_free += blocks_[id].ref_count == 0;
  if (needed_new + hits_on_free > num_free_blocks()) return std::nullopt;

  for (int32_t id : hits) AddRef(id);
  a.block_table = hits;
  for (int i = 0; i < needed_new; ++i) a.block_table.push_back(TakeFreeBlock());
  a.cached_tokens = static_cast<int64_t>(hits.size()) * kv_block_tokens_;
  if (use_prefix_cache) prefix_queries_ += num_tokens;
  prefix_hits_ += a.cached_tokens;
  return a;
}

bool BlockManager::Grow(std::vector<int32_t>& block_table, int64_t num_tokens) {
  int need = BlocksFor(num_tokens) - static_cast<int>(block_table.size());
  if (need <= 0) return true;
  if (need > num_free_blocks()) return false;
  for (int i = 0; i < need; ++i) block_table.push_back(TakeFreeBlock());
  return true;
}

void BlockManager::CommitFullBlocks(const std::vector<int32_t>& block_table, const std::vector<int32_t>& tokens,
                                    int64_t computed_tokens) {
  uint64_t h = 0;
  const int64_t full = std::min<int64_t>(computed_tokens, static_cast<int64_t>(tokens.size())) / kv_block_tokens_;
  for (int64_t blk = 0; blk < full && blk < static_cast<int64_t>(block_table.size()); ++blk) {
    h = ChainHash(h, &tokens[blk * kv_block_tokens_]);
    Block& b = blocks_[block_table[blk]];
    if (b.hash) continue;  // already registered (shared or committed earlier)
    if (cached_.count(h)) continue;  // another block holds the same prefix; keep that one findable
    b.hash = h;
    cached_[h] = block_table[blk];
  }
}

void BlockManager::Free(const std::vector<int32_t>& block_table) {
  // Later blocks are released first so that, among one sequence's blocks, the deepest prefix
  // blocks are reused before the shallow ones that more requests are likely to share.
  for (auto it = block_table.rbegin(); it != block_table.rend(); ++it) {
    Block& b = blocks_[*it];
    assert(b.ref_count > 0);
    if (--b.ref_count == 0) b.free_pos = free_list_.insert(free_list_.end(), *it);
  }
}

}  // namespace mixserve
