#include "runtime/engine/block_manager.h"

#include <gtest/gtest.h>

#include <numeric>

namespace mixserve {
namespace {

std::vector<int32_t> Tokens(int n, int start = 100) {
  std::vector<int32_t> t(n);
  std::iota(t.begin(), t.end(), start);
  return t;
}

TEST(BlockManager, AllocatesGrowsAndFrees) {
  BlockManager bm(8, 4);
  EXPECT_EQ(bm.BlocksFor(0), 0);
  EXPECT_EQ(bm.BlocksFor(4), 1);
  EXPECT_EQ(bm.BlocksFor(5), 2);
  auto a = bm.Allocate(Tokens(10), 10);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->block_table.size(), 3u);
  EXPECT_EQ(a->cached_tokens, 0);
  EXPECT_EQ(bm.num_free_blocks(), 5);
  EXPECT_TRUE(bm.Grow(a->block_table, 12));  // still 3 blocks
  EXPECT_EQ(bm.num_free_blocks(), 5);
  EXPECT_TRUE(bm.Grow(a->block_table, 13));
  EXPECT_EQ(bm.num_free_blocks(), 4);
  EXPECT_DOUBLE_EQ(bm.usage(), 0.5);
  bm.Free(a->block_table);
  EXPECT_EQ(bm.num_free_blocks(), 8);
  EXPECT_DOUBLE_EQ(bm.usage(), 0.0);
}

TEST(BlockManager, RefusesWhenFullWithoutSideEffects) {
  BlockManager bm(2, 4);
  auto a = bm.Allocate(Tokens(8), 8);
  ASSERT_TRUE(a);
  EXPECT_FALSE(bm.Allocate(Tokens(1, 7), 1));
  EXPECT_FALSE(bm.Grow(a->block_table, 9));
  EXPECT_EQ(a->block_table.size(), 2u);
  EXPECT_EQ(bm.num_free_blocks(), 0);
}

TEST(BlockManager, SharesFullPrefixBlocksAndKeepsOneTokenToCompute) {
  BlockManager bm(16, 4);
  std::vector<int32_t> prompt = Tokens(10);
  auto a = bm.Allocate(prompt, 10);
  ASSERT_TRUE(a);
  bm.CommitFullBlocks(a->block_table, prompt, 10);  // blocks 0 and 1 are full and now findable

  std::vector<int32_t> other = prompt;
  other.resize(9);
  other.push_back(999);  // same first 9 tokens
  auto b = bm.Allocate(other, 10);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->cached_tokens, 8);
  EXPECT_EQ(b->block_table[0], a->block_table[0]);
  EXPECT_EQ(b->block_table[1], a->block_table[1]);
  EXPECT_NE(b->block_table[2], a->block_table[2]);

  // An identical 8-token prompt may reuse only the first block: its last token must be computed.
  std::vector<int32_t> exact(prompt.begin(), prompt.begin() + 8);
  auto c = bm.Allocate(exact, 8);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->cached_tokens, 4);

  // A different first block shares nothing.
  std::vector<int32_t> diff = prompt;
  diff[0] = 1;
  auto d = bm.Allocate(diff, 10);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->cached_tokens, 0);
  EXPECT_EQ(bm.prefix_hits(), 12);
  EXPECT_EQ(bm.prefix_queries(), 38);
}

TEST(BlockManager, FreedBlocksStayCachedUntilReused) {
  BlockManager bm(3, 4);
  std::vector<int32_t> prompt = Tokens(9);
  auto a = bm.Allocate(prompt, 9);
  ASSERT_TRUE(a);
  bm.CommitFullBlocks(a->block_table, prompt, 9);
  bm.Free(a->block_table);
  EXPECT_EQ(bm.num_free_blocks(), 3);
  auto again = bm.Allocate(prompt, 9);  // both full blocks come back from the free list
  ASSERT_TRUE(again);
  EXPECT_EQ(again->cached_tokens, 8);
  bm.Free(again->block_table);
  auto filler = bm.Allocate(Tokens(12, 5000), 12);  // takes all three blocks: the cache is gone
  ASSERT_TRUE(filler);
  bm.Free(filler->block_table);
  auto cold = bm.Allocate(prompt, 9);
  ASSERT_TRUE(cold);
  EXPECT_EQ(cold->cached_tokens, 0);
}

}  // namespace
}  // namespace mixserve
