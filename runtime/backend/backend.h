// Backend: what the engine needs from a device to run a model, whatever the device is.
//
// A backend owns the weights and the paged KV cache (num_kv_blocks() blocks of kv_block_tokens()
// token slots per layer). The engine owns the block tables: it decides which blocks each sequence
// uses and passes them in every ForwardBatch. Forward() appends the new tokens' K/V to those blocks
// and returns logits.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/base/status.h"

namespace mixserve {

// One sequence's slice of a forward step.
struct SeqForward {
  std::vector<int32_t> tokens;       // the new tokens of this step (prefill chunk, or 1 for decode)
  int32_t start_pos = 0;             // position of tokens[0]; the cache already holds [0, start_pos)
  std::vector<int32_t> block_table;  // KV blocks covering positions [0, start_pos + tokens.size())
  bool all_logits = false;           // logits for every new token, else only for the last one
};

struct ForwardBatch {
  std::vector<SeqForward> seqs;
};

// Logits rows in batch order: for each sequence, tokens.size() rows if all_logits, else one row.
struct ForwardOutput {
  int vocab_size = 0;
  std::vector<float> logits;         // (rows, vocab_size)
  std::vector<int32_t> row_begin;    // first row of each sequence; row_begin.size() == seqs.size()
  const float* row(int r) const { return logits.data() + static_cast<int64_t>(r) * vocab_size; }
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual int vocab_size() const = 0;
  virtual int kv_block_tokens() const = 0;
  virtual int num_kv_blocks() const = 0;

  // REQUIRES: every block_table covers start_pos + tokens.size() positions with block ids in
  // [0, num_kv_blocks()); blocks of different sequences are disjoint where they are written.
  virtual Status Forward(const ForwardBatch& batch, ForwardOutput* out) = 0;
};

}  // namespace mixserve
