// Tokenizer pieces on small hand-written tokenizer.json specs: BPE merge order, byte fallback, unk,
// added tokens, the special-token template and tokenizer_config.json, pre-tokenizer split
// behaviors, incremental detokenization, and one-line errors for what is unsupported or malformed.
#include "runtime/model/tokenizer.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/model/detokenizer.h"
#include "runtime/model/pre_tokenizer.h"
#include "runtime/model/utf8.h"

namespace mixserve::model {
namespace {

using nlohmann::json;
using Ids = std::vector<TokenId>;

// A BPE tokenizer.json with the given vocabulary and merges and no other components.
json BpeSpec(json vocab, json merges) {
  return json{{"version", "1.0"},
              {"added_tokens", json::array()},
              {"normalizer", nullptr},
              {"pre_tokenizer", nullptr},
              {"post_processor", nullptr},
              {"decoder", nullptr},
              {"model", {{"type", "BPE"}, {"vocab", std::move(vocab)}, {"merges", std::move(merges)}}}};
}

// A Mistral-style SentencePiece BPE: <unk> <s> </s>, the 256 <0xXX> tokens (ids 3..258), then
// "▁", "a", "b", "▁a", "ab", "▁ab".
json SentencePieceSpec() {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  char name[8];
  for (int byte = 0; byte < 256; ++byte) {
    std::snprintf(name, sizeof(name), "<0x%02X>", byte);
    vocab[name] = 3 + byte;
  }
  vocab["▁"] = 259;
  vocab["a"] = 260;
  vocab["b"] = 261;
  vocab["▁a"] = 262;
  vocab["ab"] = 263;
  vocab["▁ab"] = 264;
  json spec = BpeSpec(vocab, json::array({"▁ a", "a b", "▁a b"}));
  spec["model"]["byte_fallback"] = true;
  spec["model"]["unk_token"] = "<unk>";
  spec["model"]["fuse_unk"] = true;
  spec["normalizer"] = {{"type", "Sequence"},
                        {"normalizers",
                         {{{"type", "Prepend"}, {"prepend", "▁"}},
                          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "▁"}}}}};
  spec["decoder"] = {{"type", "Sequence"},
                     {"decoders",
                      {{{"type", "Replace"}, {"pattern", {{"String", "▁"}}}, {"content", " "}},
                       {{"type", "ByteFallback"}},
                       {{"type", "Fuse"}},
                       {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  for (int id = 0; id < 3; ++id) {
    const char* names[] = {"<unk>", "<s>", "</s>"};
    spec["added_tokens"].push_back({{"id", id},
                                    {"content", names[id]},
                                    {"single_word", false},
                                    {"lstrip", false},
                                    {"rstrip", false},
                                    {"normalized", false},
                                    {"special", true}});
  }
  spec["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
      {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}};
  return spec;
}

Tokenizer Load(const json& spec, const std::string& config = "") {
  auto tokenizer = Tokenizer::FromJson(spec.dump(), config);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status().message();
  return std::move(tokenizer).value();
}

Ids Encode(const Tokenizer& tokenizer, const std::string& text, bool add_special = false) {
  auto ids = tokenizer.Encode(text, add_special);
  EXPECT_TRUE(ids.ok()) << ids.status().message();
  return ids.ok() ? *ids : Ids{};
}

std::string Decode(const Tokenizer& tokenizer, const Ids& ids, bool skip_special = false) {
  auto text = tokenizer.Decode(ids, skip_special);
  EXPECT_TRUE(text.ok()) << text.status().message();
  return text.ok() ? *text : std::string();
}

std::string LoadError(const json& spec, const std::string& config = "") {
  auto tokenizer = Tokenizer::FromJson(spec.dump(), config);
  return tokenizer.ok() ? std::string("(loaded)") : tokenizer.status().message();
}

TEST(BpeTest, LowerRankMergesFirst) {
  const json vocab = {{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"bc", 4}};
  EXPECT_EQ(Encode(Load(BpeSpec(vocab, {"a b", "b c"})), "abc"), (Ids{3, 2}));
  EXPECT_EQ(Encode(Load(BpeSpec(vocab, {"b c", "a b"})), "abc"), (Ids{0, 4}));
}

TEST(BpeTest, MergesChainAndTiesGoLeftmost) {
  const json vocab = {{"a", 0}, {"aa", 1}, {"aaaa", 2}};
  const Tokenizer tokenizer = Load(BpeSpec(vocab, json::array({json::array({"a", "a"}), json::array({"aa", "aa"})})));
  EXPECT_EQ(Encode(tokenizer, "aaa"), (Ids{1, 0}));
  EXPECT_EQ(Encode(tokenizer, "aaaaa"), (Ids{2, 0}));
  EXPECT_EQ(Encode(tokenizer, std::string(4000, 'a')), Ids(1000, 2));
}

TEST(BpeTest, IgnoreMergesTakesWholeWordsFromTheVocabulary) {
  json spec = BpeSpec({{"a", 0}, {"b", 1}, {"ab", 2}, {"abab", 3}}, {"a b"});
  EXPECT_EQ(Encode(Load(spec), "abab"), (Ids{2, 2}));
  spec["model"]["ignore_merges"] = true;
  EXPECT_EQ(Encode(Load(spec), "abab"), (Ids{3}));
}

TEST(BpeTest, UnknownCharactersFuseIntoOneUnkOrAreDropped) {
  json spec = BpeSpec({{"<unk>", 0}, {"a", 1}}, json::array());
  EXPECT_EQ(Encode(Load(spec), "aéßa"), (Ids{1, 1}));  // no unk token: dropped
  spec["model"]["unk_token"] = "<unk>";
  EXPECT_EQ(Encode(Load(spec), "aéßa"), (Ids{1, 0, 0, 1}));
  spec["model"]["fuse_unk"] = true;
  EXPECT_EQ(Encode(Load(spec), "aéßa"), (Ids{1, 0, 1}));
  spec["model"]["unk_token"] = "<missing>";
  auto ids = Load(spec).Encode("é", false);
  ASSERT_FALSE(ids.ok());
  EXPECT_NE(ids.status().message().find("<missing>"), std::string::npos);
}

TEST(SentencePieceTest, EncodesWithPrefixAndByteFallback) {
  const Tokenizer tokenizer = Load(SentencePieceSpec());
  EXPECT_EQ(Encode(tokenizer, "ab a"), (Ids{264, 262}));
  EXPECT_EQ(Encode(tokenizer, "ab a", true), (Ids{1, 264, 262}));
  // "é" is not in the vocabulary: its UTF-8 bytes C3 A9 become byte tokens.
  EXPECT_EQ(Encode(tokenizer, "aé"), (Ids{262, 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(Encode(tokenizer, ""), Ids{});
  EXPECT_EQ(Encode(tokenizer, "", true), (Ids{1}));
}

TEST(SentencePieceTest, DecodesBytesAndStripsTheLeadingSpace) {
  const Tokenizer tokenizer = Load(SentencePieceSpec());
  for (const std::string text : {"ab a", "aé", " a", "a  b", "😀 中文 \xF4\x8F\xBF\xBF"}) {
    EXPECT_EQ(Decode(tokenizer, Encode(tokenizer, text)), text);
  }
  // A byte run that is not valid UTF-8 decodes to one U+FFFD per byte token.
  EXPECT_EQ(Decode(tokenizer, {262, 3 + 0xC3, 3 + 0x41, 262}), "a\xEF\xBF\xBD\xEF\xBF\xBD a");
  EXPECT_EQ(Decode(tokenizer, {1, 262, 2}), "<s> a</s>");
  EXPECT_EQ(Decode(tokenizer, {1, 262, 2}, /*skip_special=*/true), "a");
  EXPECT_EQ(Decode(tokenizer, {262, 99999, -5, 262}), "a a");  // unknown ids are skipped
}

TEST(AddedTokensTest, SpecialTextIsMatchedEvenWithoutSpecialTokens) {
  const Tokenizer tokenizer = Load(SentencePieceSpec());
  // Each stretch between added tokens is normalized on its own, so it gets its own "▁".
  EXPECT_EQ(Encode(tokenizer, "a<s>a"), (Ids{262, 1, 262}));
  EXPECT_EQ(Encode(tokenizer, "<s></s>", true), (Ids{1, 1, 2}));
  EXPECT_EQ(Encode(tokenizer, "<s"), (Ids{259, 3 + '<', 3 + 's'}));
}

TEST(AddedTokensTest, LongestMatchWinsAndStripOptionsEatSpaces) {
  json spec = BpeSpec({{"x", 0}, {" ", 1}}, json::array());
  const auto added = [](int id, const char* content, bool lstrip, bool rstrip, bool single_word) {
    return json{{"id", id},         {"content", content}, {"single_word", single_word}, {"lstrip", lstrip},
                {"rstrip", rstrip}, {"normalized", false}, {"special", true}};
  };
  spec["added_tokens"] = {added(2, "<a>", false, false, false), added(3, "<a><b>", false, false, false),
                          added(4, "[L]", true, false, false), added(5, "[R]", false, true, false),
                          added(6, "w", false, false, true)};
  const Tokenizer tokenizer = Load(spec);
  EXPECT_EQ(Encode(tokenizer, "<a><b><a>"), (Ids{3, 2}));
  EXPECT_EQ(Encode(tokenizer, "x  [L]x"), (Ids{0, 4, 0}));
  EXPECT_EQ(Encode(tokenizer, "x[R]  x"), (Ids{0, 5, 0}));
  EXPECT_EQ(Encode(tokenizer, "x w xwx"), (Ids{0, 1, 6, 1, 0, 0}));  // "w" inside a word is not the token
  EXPECT_EQ(tokenizer.TokenToId("<a><b>"), 3);
  EXPECT_EQ(tokenizer.IdToToken(4), "[L]");
  EXPECT_TRUE(tokenizer.IsSpecial(4));
  EXPECT_FALSE(tokenizer.IsSpecial(0));
  EXPECT_EQ(tokenizer.vocab_size(), 7u);
}

TEST(AddedTokensTest, NormalizedTokensMatchTheNormalizedTextAndNumberAfterTheVocabulary) {
  json spec = SentencePieceSpec();
  spec["added_tokens"].push_back({{"id", 999}, {"content", "b a"}, {"normalized", true}, {"special", false}});
  const Tokenizer tokenizer = Load(spec);
  // The token's normalized form is "▁b▁a"; its id follows the 265 vocabulary entries.
  EXPECT_EQ(tokenizer.TokenToId("b a"), 265);
  EXPECT_EQ(Encode(tokenizer, "b a"), (Ids{265}));
  EXPECT_EQ(Encode(tokenizer, "a b a"), (Ids{262, 265}));
  EXPECT_EQ(Decode(tokenizer, {262, 265}), "a b a");
}

TEST(ConfigTest, AddBosAndEosFromTokenizerConfig) {
  const json spec = SentencePieceSpec();
  Tokenizer both = Load(spec, R"({"add_bos_token": true, "add_eos_token": true,
                                  "bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>"})");
  EXPECT_EQ(Encode(both, "a", true), (Ids{1, 262, 2}));
  EXPECT_EQ(both.bos_id(), 1);
  EXPECT_EQ(both.eos_id(), 2);
  Tokenizer none = Load(spec, R"({"add_bos_token": false, "bos_token": "<s>", "eos_token": "</s>"})");
  EXPECT_EQ(Encode(none, "a", true), (Ids{262}));
  // Only add_eos_token given: BOS stays as the post_processor has it.
  Tokenizer eos_only = Load(spec, R"({"add_eos_token": true, "bos_token": "<s>", "eos_token": "</s>"})");
  EXPECT_EQ(Encode(eos_only, "a", true), (Ids{1, 262, 2}));
  EXPECT_EQ(Encode(eos_only, "a", false), (Ids{262}));
  EXPECT_NE(LoadError(spec, R"({"add_bos_token": true, "bos_token": "<nope>"})").find("<nope>"), std::string::npos);
  EXPECT_NE(LoadError(spec, "{not json").find("tokenizer_config.json"), std::string::npos);
}

TEST(ErrorsTest, UnsupportedComponentsAreNamed) {
  json wordpiece = BpeSpec(json::object(), json::array());
  wordpiece["model"]["type"] = "WordPiece";
  EXPECT_NE(LoadError(wordpiece).find("WordPiece"), std::string::npos);
  const std::pair<const char*, const char*> components[] = {
      {"pre_tokenizer", "Whitespace"}, {"normalizer", "Lowercase"}, {"decoder", "CTC"}, {"post_processor", "Bogus"}};
  for (const auto& [member, type] : components) {
    json spec = BpeSpec({{"a", 0}}, json::array());
    spec[member] = {{"type", type}};
    const std::string error = LoadError(spec);
    EXPECT_NE(error.find(type), std::string::npos) << member << ": " << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
}

TEST(ErrorsTest, MalformedFilesFailCleanly) {
  const std::string good = SentencePieceSpec().dump();
  for (size_t cut : {size_t{0}, size_t{1}, good.size() / 3, good.size() / 2, good.size() - 1}) {
    EXPECT_FALSE(Tokenizer::FromJson(good.substr(0, cut), "").ok()) << cut;
  }
  EXPECT_NE(LoadError(BpeSpec({{"a", 0}}, {"a b"})).find("'b'"), std::string::npos);
  EXPECT_NE(LoadError(BpeSpec({{"a", 0}}, {"a a"})).find("'aa'"), std::string::npos);
  EXPECT_NE(LoadError(BpeSpec({{"a", -1}}, json::array())).find("non-negative"), std::string::npos);
  EXPECT_NE(LoadError(BpeSpec("oops", json::array())).find("vocab"), std::string::npos);
  EXPECT_NE(LoadError(BpeSpec({{"a", 0}}, {"a-b-c"})).find("merge #0"), std::string::npos);
  json bad_regex = BpeSpec({{"a", 0}}, json::array());
  bad_regex["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  EXPECT_NE(LoadError(bad_regex).find("(unclosed"), std::string::npos);
  json bad_flag = SentencePieceSpec();
  bad_flag["added_tokens"][0]["special"] = "yes";
  EXPECT_NE(LoadError(bad_flag).find("special"), std::string::npos);
  // A Sequence nested thousands deep is refused before the recursive parse could overflow the stack.
  std::string deep = SentencePieceSpec().dump();
  const std::string nested_open = R"({"type": "Sequence", "normalizers": [)";
  std::string normalizer;
  for (int i = 0; i < 20000; ++i) normalizer += nested_open;
  for (int i = 0; i < 20000; ++i) normalizer += "]}";
  deep.replace(deep.find("\"normalizer\":"), std::string("\"normalizer\":").size(), "\"normalizer\":" + normalizer + ", \"old\":");
  auto nested = Tokenizer::FromJson(deep, "");
  ASSERT_FALSE(nested.ok());
  EXPECT_NE(nested.status().message().find("nests more than"), std::string::npos) << nested.status().message();
  json dropout = BpeSpec({{"a", 0}}, json::array());
  dropout["model"]["dropout"] = 0.1;
  EXPECT_NE(LoadError(dropout).find("dropout"), std::string::npos);
}

TEST(ErrorsTest, MissingPathAndInvalidTextAreErrors) {
  auto missing = Tokenizer::Load("/nonexistent/mixserve-model");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_NE(missing.status().message().find("/nonexistent/mixserve-model"), std::string::npos);
  auto ids = Load(SentencePieceSpec()).Encode("ok \xC3\x28", false);
  ASSERT_FALSE(ids.ok());
  EXPECT_NE(ids.status().message().find("UTF-8"), std::string::npos);
}

std::vector<std::string> SplitWith(const json& spec, const std::string& text, bool at_input_start = true) {
  auto pre = ParsePreTokenizer(spec);
  EXPECT_TRUE(pre.ok()) << pre.status().message();
  std::vector<Piece> pieces{{text, at_input_start}};
  EXPECT_TRUE((*pre)->Split(pieces).ok());
  std::vector<std::string> out;
  for (const Piece& piece : pieces) out.push_back(piece.text);
  return out;
}

TEST(PreTokenizerTest, SplitBehaviors) {
  using Strings = std::vector<std::string>;
  const auto split = [](const char* behavior, bool invert = false) {
    return json{{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", invert}};
  };
  EXPECT_EQ(SplitWith(split("Removed"), "a-b--c"), (Strings{"a", "b", "c"}));
  EXPECT_EQ(SplitWith(split("Isolated"), "a-b--c"), (Strings{"a", "-", "b", "-", "-", "c"}));
  EXPECT_EQ(SplitWith(split("MergedWithPrevious"), "a-b--c"), (Strings{"a-", "b-", "-", "c"}));
  EXPECT_EQ(SplitWith(split("MergedWithNext"), "a-b--c"), (Strings{"a", "-b", "-", "-c"}));
  EXPECT_EQ(SplitWith(split("Contiguous"), "a-b--c"), (Strings{"a", "-", "b", "--", "c"}));
  EXPECT_EQ(SplitWith(split("Removed", true), "a-b--c"), (Strings{"-", "-", "-"}));
  EXPECT_EQ(SplitWith(split("MergedWithPrevious", true), "a-b--c"), (Strings{"a", "-b", "-", "-c"}));
}

TEST(PreTokenizerTest, ByteLevelAndMetaspace) {
  using Strings = std::vector<std::string>;
  const json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  EXPECT_EQ(SplitWith(byte_level, "Hi  there's é"), (Strings{"ĠHi", "Ġ", "Ġthere", "'s", "ĠÃ©"}));
  const json first = {{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "first"}, {"split", true}};
  EXPECT_EQ(SplitWith(first, "a b", true), (Strings{"▁a", "▁b"}));
  EXPECT_EQ(SplitWith(first, "a b", false), (Strings{"a", "▁b"}));
  const json never = {{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "never"}, {"split", false}};
  EXPECT_EQ(SplitWith(never, "a b"), (Strings{"a▁b"}));
}

TEST(PreTokenizerTest, WhiteSpaceIsUnicodeWhiteSpace) {
  using Strings = std::vector<std::string>;
  const json split = {{"type", "Split"}, {"pattern", {{"Regex", R"(\s+)"}}}, {"behavior", "Removed"}};
  // U+3000 is White_Space; U+180E is not (PCRE2's own \s would say it is).
  EXPECT_EQ(SplitWith(split, "a\u3000b\u180Ec\td"), (Strings{"a", "b\u180Ec", "d"}));
  const json hex = {{"type", "Split"}, {"pattern", {{"Regex", R"(\h+)"}}}, {"behavior", "Removed"}};
  EXPECT_EQ(SplitWith(hex, "x0fz g"), (Strings{"x", "z g"}));
}

// Streams `ids` one at a time; returns the pieces, the last one from Finish.
std::vector<std::string> Stream(const Tokenizer& tokenizer, const Ids& ids, bool skip_special) {
  IncrementalDetokenizer stream(tokenizer, skip_special);
  std::vector<std::string> pieces;
  for (const TokenId id : ids) {
    auto piece = stream.Step(id);
    EXPECT_TRUE(piece.ok()) << piece.status().message();
    pieces.push_back(piece.ok() ? *piece : "");
  }
  auto rest = stream.Finish();
  EXPECT_TRUE(rest.ok()) << rest.status().message();
  pieces.push_back(rest.ok() ? *rest : "");
  return pieces;
}

std::string Join(const std::vector<std::string>& pieces) {
  std::string out;
  for (const std::string& piece : pieces) out += piece;
  return out;
}

TEST(DetokenizerTest, LeadingSpaceIsStrippedOnlyAtTheStart) {
  const Tokenizer tokenizer = Load(SentencePieceSpec());
  const Ids ids = Encode(tokenizer, "ab a ab");  // ▁ab ▁a ▁ab
  EXPECT_EQ(Stream(tokenizer, ids, false), (std::vector<std::string>{"ab", " a", " ab", ""}));
  // Skipped special tokens give no text, so the context must reach back past them.
  const Ids with_specials = {1, 264, 2, 2, 262, 1};
  EXPECT_EQ(Stream(tokenizer, with_specials, true), (std::vector<std::string>{"", "ab", "", "", " a", "", ""}));
  EXPECT_EQ(Join(Stream(tokenizer, with_specials, false)), Decode(tokenizer, with_specials));
}

TEST(DetokenizerTest, HoldsBackByteRunsUntilTheyEnd) {
  const Tokenizer tokenizer = Load(SentencePieceSpec());
  const TokenId c3 = 3 + 0xC3, a9 = 3 + 0xA9, e4 = 3 + 0xE4, b8 = 3 + 0xB8, ad = 3 + 0xAD;
  // "é" arrives as two byte tokens and appears once its run is closed by a normal token.
  EXPECT_EQ(Stream(tokenizer, {262, c3, a9, 262}, false), (std::vector<std::string>{"a", "", "", "é a", ""}));
  // At the end of the stream, Finish releases it.
  EXPECT_EQ(Stream(tokenizer, {262, e4, b8, ad}, false), (std::vector<std::string>{"a", "", "", "", "中"}));
  // A later byte can spoil a run that looked complete: "é" must never have been sent.
  const Ids spoiled = {262, c3, a9, 3 + 0x80, 262};
  EXPECT_EQ(Join(Stream(tokenizer, spoiled, false)), Decode(tokenizer, spoiled));
  EXPECT_EQ(Decode(tokenizer, spoiled), "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD a");
}

TEST(DetokenizerTest, RandomStreamsConcatenateToTheFullDecode) {
  const Tokenizer tokenizer = Load(SentencePieceSpec());
  std::mt19937 rng(7);
  // Ids from the whole vocabulary plus a few unknown ones, biased towards byte tokens.
  std::uniform_int_distribution<int> any_id(-2, 267);
  std::uniform_int_distribution<int> byte_id(3 + 0x80, 3 + 0xF4);
  for (int round = 0; round < 2000; ++round) {
    Ids ids(round % 23);
    for (TokenId& id : ids) id = rng() % 3 == 0 ? byte_id(rng) : any_id(rng);
    for (const bool skip : {false, true}) {
      const std::vector<std::string> pieces = Stream(tokenizer, ids, skip);
      ASSERT_EQ(Join(pieces), Decode(tokenizer, ids, skip)) << "round " << round;
      for (const std::string& piece : pieces) EXPECT_TRUE(utf8::IsValid(piece));
    }
  }
}

}  // namespace
}  // namespace mixserve::model
