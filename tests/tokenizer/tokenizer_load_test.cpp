// Inconsistent or unsupported tokenizer metadata is a clear load error, never a crash.

#include <gtest/gtest.h>

#include <algorithm>

#include "greta/core/error.h"
#include "greta/gguf/gguf_file.h"
#include "greta/gguf/gguf_writer.h"
#include "greta/tokenizer/tokenizer.h"

namespace greta {
namespace {

using gguf::GgufWriter;
using gguf::ValueType;

// A small valid vocab: SPM ("llama") or BPE ("gpt2"), with hooks to break it.
struct VocabSpec {
  std::string model = "llama";
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>", "a", "b", "ab", "\xE2\x96\x81", "\xE2\x96\x81" "ab"};
  std::vector<float> scores = {0, 0, 0, -1, -2, -3, -4, -5};
  std::vector<int32_t> types = {2, 3, 3, 1, 1, 1, 1, 1};
  std::vector<std::string> merges;
  bool with_scores = true;
  bool with_types = true;
  bool with_merges = false;
  std::string pre;
  int64_t bos = 1;
  int add_bos = -1;  // -1: key absent
  bool add_space_prefix = true;
};

VocabSpec bpe_spec() {
  VocabSpec s;
  s.model = "gpt2";
  s.tokens = {"a", "b", "ab", "\xC4\xA0", "\xC4\xA0" "ab", "<|endoftext|>"};
  s.scores.clear();
  s.types = {1, 1, 1, 1, 1, 3};
  s.merges = {"a b", "\xC4\xA0 ab"};
  s.with_scores = false;
  s.with_merges = true;
  s.pre = "gpt-2";
  s.bos = 5;
  return s;
}

std::unique_ptr<Tokenizer> load(const VocabSpec& s, std::unique_ptr<gguf::GgufFile>* keep = nullptr) {
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_string("tokenizer.ggml.model", s.model);
  if (!s.pre.empty()) w.add_string("tokenizer.ggml.pre", s.pre);
  w.add_string_array("tokenizer.ggml.tokens", s.tokens);
  if (s.with_scores) w.add_array_f32("tokenizer.ggml.scores", s.scores);
  if (s.with_types) w.add_array_i32("tokenizer.ggml.token_type", s.types);
  if (s.with_merges) w.add_string_array("tokenizer.ggml.merges", s.merges);
  w.add_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(s.bos));
  if (s.add_bos >= 0) w.add_bool("tokenizer.ggml.add_bos_token", s.add_bos == 1);
  if (!s.add_space_prefix) w.add_bool("tokenizer.ggml.add_space_prefix", false);
  const std::vector<uint8_t> bytes = w.to_bytes();
  auto file = gguf::GgufFile::from_bytes(bytes.data(), bytes.size(), "vocab.gguf");
  auto tok = Tokenizer::from_gguf(*file);
  if (keep) *keep = std::move(file);
  return tok;
}

std::string load_error(const VocabSpec& s) {
  try {
    load(s);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

constexpr const char* kPrefix = "loading the tokenizer of 'vocab.gguf': tokenizer: ";

TEST(TokenizerLoad, ValidSmallVocabsWork) {
  auto spm = load(VocabSpec{});
  EXPECT_EQ(spm->encode("ab", true, false), (std::vector<TokenId>{1, 7}));
  EXPECT_EQ(spm->decode(spm->encode("ab", true, false), false), "ab");
  auto bpe = load(bpe_spec());
  EXPECT_EQ(bpe->encode("ab ab", false, false), (std::vector<TokenId>{2, 4}));
  EXPECT_EQ(bpe->decode({2, 4}, false), "ab ab");
  EXPECT_FALSE(bpe->add_bos());  // BPE default when add_bos_token is absent
  EXPECT_TRUE(spm->add_bos());   // SPM default
}

TEST(TokenizerLoad, TokenTypeLengthMismatch) {
  VocabSpec s;
  s.types.pop_back();
  EXPECT_EQ(load_error(s), std::string(kPrefix) +
                               "tokenizer.ggml.token_type has 7 entries but tokenizer.ggml.tokens has 8; expected one "
                               "type per token");
}

TEST(TokenizerLoad, ScoresMissingForSpm) {
  VocabSpec s;
  s.with_scores = false;
  EXPECT_EQ(load_error(s), std::string(kPrefix) +
                               "key 'tokenizer.ggml.scores' missing; the SentencePiece (llama) tokenizer needs one "
                               "score per token");
}

TEST(TokenizerLoad, ScoresLengthMismatch) {
  VocabSpec s;
  s.scores.push_back(1.0f);
  EXPECT_EQ(load_error(s), std::string(kPrefix) +
                               "tokenizer.ggml.scores has 9 entries but tokenizer.ggml.tokens has 8; expected one "
                               "score per token");
}

TEST(TokenizerLoad, MergeReferringToUnknownToken) {
  VocabSpec s = bpe_spec();
  s.merges.push_back("ab zz");
  EXPECT_EQ(load_error(s), std::string(kPrefix) +
                               "tokenizer.ggml.merges[2] = 'ab zz' refers to 'zz', which is not in tokenizer.ggml.tokens");
}

TEST(TokenizerLoad, MalformedMerge) {
  VocabSpec s = bpe_spec();
  s.merges[0] = "ab";
  EXPECT_EQ(load_error(s), std::string(kPrefix) + "tokenizer.ggml.merges[0] = 'ab' is not two tokens separated by a space");
}

TEST(TokenizerLoad, MergesMissingForBpe) {
  VocabSpec s = bpe_spec();
  s.with_merges = false;
  EXPECT_EQ(load_error(s), std::string(kPrefix) +
                               "key 'tokenizer.ggml.merges' missing; the BPE (gpt2) tokenizer needs its merges");
}

TEST(TokenizerLoad, UnknownPreTokenizerIsNamed) {
  VocabSpec s = bpe_spec();
  s.pre = "no-such-pre";
  const std::string msg = load_error(s);
  EXPECT_EQ(msg.rfind(std::string("loading the tokenizer of 'vocab.gguf': unknown pre-tokenizer "
                                  "tokenizer.ggml.pre = 'no-such-pre' (supported: "),
                      0),
            0u)
      << msg;
}

TEST(TokenizerLoad, AbsentPreTokenizerIsDefault) {
  VocabSpec s = bpe_spec();
  s.pre.clear();
  auto tok = load(s);
  EXPECT_EQ(tok->pre_name(), "");
  EXPECT_EQ(tok->encode("ab ab", false, false), (std::vector<TokenId>{2, 4}));
}

TEST(TokenizerLoad, UnsupportedModel) {
  VocabSpec s;
  s.model = "bert";
  EXPECT_EQ(load_error(s), std::string(kPrefix) + "unsupported tokenizer.ggml.model 'bert' (supported: llama, gpt2)");
}

TEST(TokenizerLoad, SpecialIdOutOfRange) {
  VocabSpec s;
  s.bos = 8;
  EXPECT_EQ(load_error(s), std::string(kPrefix) + "tokenizer.ggml.bos_token_id = 8 is not a token id (vocab has 8 tokens)");
}

TEST(TokenizerLoad, NoTokenizerAtAll) {
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  const std::vector<uint8_t> bytes = w.to_bytes();
  auto file = gguf::GgufFile::from_bytes(bytes.data(), bytes.size(), "vocab.gguf");
  try {
    Tokenizer::from_gguf(*file);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), std::string(kPrefix) + "key 'tokenizer.ggml.model' missing; the file has no tokenizer");
  }
}

TEST(SpecialPartition, LongestTokenFirstThenLeftToRight) {
  // As llama.cpp: special tokens are applied longest first, so "bcd" wins over the earlier "ab";
  // user-defined tokens split even without parse_special, control tokens only with it.
  VocabSpec s = bpe_spec();
  s.tokens = {"a", "b", "c", "d", "x", "ab", "bcd", "<ctl>"};
  s.types = {1, 1, 1, 1, 1, 4, 4, 3};
  s.merges = {"a b"};
  s.bos = 7;
  auto tok = load(s);
  EXPECT_EQ(tok->encode("xabcdx", false, false), (std::vector<TokenId>{4, 0, 6, 4}));
  EXPECT_EQ(tok->encode("abab", false, false), (std::vector<TokenId>{5, 5}));
  EXPECT_EQ(tok->encode("a<ctl>b", false, true), (std::vector<TokenId>{0, 7, 1}));
  const auto plain = tok->encode("a<ctl>b", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 7), 0);
  EXPECT_EQ(tok->decode(tok->encode("xabcdx", false, false), false), "xabcdx");
}

TEST(TokenizerLoad, SpecialTokenDefaultsAndOverrides) {
  VocabSpec llama3 = bpe_spec();
  llama3.pre = "llama-bpe";  // the Llama-3 family adds BOS by default, as in llama.cpp
  EXPECT_TRUE(load(llama3)->add_bos());
  EXPECT_EQ(load(llama3)->encode("ab", true, false), (std::vector<TokenId>{5, 2}));
  llama3.add_bos = 0;
  EXPECT_FALSE(load(llama3)->add_bos());
  VocabSpec spm;
  spm.add_bos = 0;
  EXPECT_EQ(load(spm)->encode("ab", true, false), (std::vector<TokenId>{7}));
  spm.add_space_prefix = false;
  EXPECT_EQ(load(spm)->encode("ab", true, false), (std::vector<TokenId>{5}));
  auto tok = load(VocabSpec{});
  EXPECT_EQ(tok->eos(), 2);  // SPM default when eos_token_id is absent
  EXPECT_TRUE(tok->is_eog(2));
  EXPECT_FALSE(tok->is_eog(1));
  // "<|endoftext|>" is an end-of-generation text; BPE has no default EOS in a 6-token vocab.
  auto bpe = load(bpe_spec());
  EXPECT_TRUE(bpe->is_eog(5));
  EXPECT_EQ(bpe->eos(), -1);
}

TEST(TokenizerLoad, OutOfRangeIdsAreErrorsNotCrashes) {
  auto tok = load(VocabSpec{});
  EXPECT_THROW(tok->token_to_piece(8, true), Error);
  EXPECT_THROW(tok->token_to_piece(-1, true), Error);
  EXPECT_THROW(tok->token_text(100), Error);
  EXPECT_FALSE(tok->is_eog(-5));
}

}  // namespace
}  // namespace greta
