// BlockManager: the paged KV cache's bookkeeping — which blocks are free, which sequence holds
// which, and which full blocks can be shared between requests with the same prefix.
//
// Blocks hold kv_block_tokens token slots. A full block is identified by a hash chained over every
// token up to its end (hash of the previous block's hash and this block's tokens), so two
// sequences that agree on a prefix map it to the same blocks. Blocks are reference-counted; a
// block whose count drops to zero keeps its contents and stays findable by hash until it is
// reused, least recently freed first (automatic prefix caching, as in vLLM).
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <unordered_map>
#include <vector>

namespace mixserve {

class BlockManager {
 public:
  BlockManager(int num_blocks, int kv_block_tokens);

  int num_blocks() const { return static_cast<int>(blocks_.size()); }
  int kv_block_tokens() const { return kv_block_tokens_; }
  int num_free_blocks() const { return static_cast<int>(free_list_.size()); }
  // Blocks referenced by at least one sequence, over all blocks: what /metrics calls KV usage.
  double usage() const { return 1.0 - static_cast<double>(num_free_blocks()) / num_blocks(); }

  // Blocks needed to hold `num_tokens` tokens.
  int BlocksFor(int64_t num_tokens) const { return static_cast<int>((num_tokens + kv_block_tokens_ - 1) / kv_block_tokens_); }

  // Reuses cached blocks for the longest full-block prefix of `tokens` and allocates fresh blocks for
  // the rest, up to `num_tokens` tokens. Returns the block table and how many leading tokens are
  // already in the cache (a multiple of kv_block_tokens, never all of them: at least one token is
  // left to compute so the step yields logits). nullopt when there are not enough free blocks; then
  // nothing changed. Without `use_prefix_cache` every block is fresh (and no lookup is counted).
  struct Allocation {
    std::vector<int32_t> block_table;
    int64_t cached_tokens = 0;
  };
  std::optional<Allocation> Allocate(const std::vector<int32_t>& tokens, int64_t num_tokens, bool use_prefix_cache = true);

  // Grows `block_table` to cover `num_tokens`; false (and nothing changed) when out of blocks.
  bool Grow(std::vector<int32_t>& block_table, int64_t num_tokens);

  // Registers the full blocks of `tokens` (the sequence's tokens whose K/V are computed) in the
  // prefix cache. Safe to call repeatedly as a sequence grows.
  void CommitFullBlocks(const std::vector<int32_t>& block_table, const std::vector<int32_t>& tokens,
                        int64_t computed_tokens);

  // Drops one reference to each block of the table.
  void Free(const std::vector<int32_t>& block_table);

  // Prefix-cache statistics: tokens looked up in Allocate and tokens found.
  int64_t prefix_queries() const { return prefix_queries_; }
  int64_t prefix_hits() const { return prefix_hits_; }

 private:
  struct Block {
    int ref_count = 0;
    std::optional<uint64_t> hash;  // set while the block is a findable full prefix block
    std::list<int32_t>::iterator free_pos;
  };

  uint64_t ChainHash(uint64_t parent, const int32_t* tokens) const;
  int32_t TakeFreeBlock();  // REQUIRES: a free block exists
  void AddRef(int32_t id);

  int kv_block_tokens_;
  std::vector<Block> blocks_;
  std::list<int32_t> free_list_;  // front: reused first (least recently freed)
  std::unordered_map<uint64_t, int32_t> cached_;  // chain hash -> block
  int64_t prefix_queries_ = 0;
  int64_t prefix_hits_ = 0;
};

}  // namespace mixserve
