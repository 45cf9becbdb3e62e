// Pre-tokenizer splits, special-token parsing, pieces and the UTF-8 streamer.

#include <gtest/gtest.h>

#include <algorithm>

#include "greta/core/error.h"
#include "greta/tokenizer/pretokenize.h"
#include "greta/tokenizer/unicode_util.h"
#include "tokenizer/tokenizer_test_util.h"

namespace greta {
namespace {

std::vector<std::string> split(std::string_view pre, std::string_view text) {
  auto p = PreTokenizer::create(pre);
  std::vector<std::string> out;
  for (const TextSpan& s : p->split(text)) out.emplace_back(text.substr(s.offset, s.length));
  return out;
}

using Words = std::vector<std::string>;

TEST(PreTokenizer, Gpt2) {
  EXPECT_EQ(split("gpt-2", "Hello world's  123!!\n\n x"),
            (Words{"Hello", " world", "'s", " ", " 123", "!!", "\n\n", " x"}));
  EXPECT_EQ(split("gpt-2", "   "), (Words{"   "}));
  // Non-ASCII whitespace (U+3000) is whitespace; U+00E9 is a letter.
  EXPECT_EQ(split("gpt-2", "caf\xC3\xA9\xE3\x80\x80x"), (Words{"caf\xC3\xA9", "\xE3\x80\x80", "x"}));
}

TEST(PreTokenizer, Llama3AndQwen2DigitGroups) {
  EXPECT_EQ(split("llama-bpe", "12345 I'M ok"), (Words{"123", "45", " I", "'M", " ok"}));
  EXPECT_EQ(split("qwen2", "123"), (Words{"1", "2", "3"}));
}

TEST(PreTokenizer, DefaultSplitsPunctuationRunsFirst) {
  // llama.cpp's default list: punctuation runs, then GPT-2, then digit runs and digit triples.
  EXPECT_EQ(split("", "a...b 1234567"), (Words{"a", "...", "b", " ", "123", "456", "7"}));
  EXPECT_EQ(split("default", "a...b"), (Words{"a", "...", "b"}));
}

TEST(PreTokenizer, DeepseekLlmTrailingWhitespaceAndCjk) {
  EXPECT_EQ(split("deepseek-llm", "ab \n"), (Words{"ab", " ", "\n"}));
  EXPECT_EQ(split("deepseek-llm", "\xE4\xBD\xA0\xE5\xA5\xBD ok"), (Words{"\xE4\xBD\xA0\xE5\xA5\xBD", " ok"}));
}

TEST(PreTokenizer, SurrogatesDoNotBreakMatching) {
  // ED A0 80 is an encoded surrogate, which llama.cpp lets through; it is neither L, N nor \s.
  EXPECT_EQ(split("gpt-2", "a\xED\xA0\x80!b"), (Words{"a", "\xED\xA0\x80!", "b"}));
}

TEST(PreTokenizer, EverySupportedNameCompilesAndSplits) {
  for (const char* name : {"", "default", "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral",
                           "midm-2.0", "lfm2", "dbrx", "smaug-bpe", "deepseek-llm", "deepseek-coder", "falcon",
                           "starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "gpt-2",
                           "phi-2", "mpt", "olmo", "jais", "jina-es", "jina-de", "gigachat", "jina-v1-en",
                           "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "qwen2", "deepseek-r1-qwen", "megrez",
                           "stablelm2", "gpt-4o", "llama4", "poro-chat", "bloom", "gpt3-finnish"}) {
    const std::string text = "Hello, World! It's 2024.\n\n  \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x98\x80 x";
    std::string joined;
    for (const std::string& w : split(name, text)) joined += w;
    EXPECT_EQ(joined, text) << name;  // the pieces always cover the text exactly
  }
}

TEST(PreTokenizer, Gpt4oCaseSplits) {
  EXPECT_EQ(split("gpt-4o", "HelloWorld I'M"), (Words{"Hello", "World", " I'M"}));
}

TEST(PreTokenizer, UnknownNameIsAnError) {
  try {
    PreTokenizer::create("bogus");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.ggml.pre = 'bogus'"), std::string::npos);
  }
}

TEST(PreTokenizer, WhitespaceRewrite) {
  EXPECT_EQ(pretokenize_rewrite_whitespace(R"(a\sb)"),
            R"(a[\t-\r\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}]b)");
  EXPECT_EQ(pretokenize_rewrite_whitespace(R"([^\s\p{L}])"),
            R"([^\t-\r\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\p{L}])");
  EXPECT_EQ(pretokenize_rewrite_whitespace(R"(\\s)"), R"(\\s)");
}

TEST(SpecialTokens, ParseSpecialOnlyWhenAsked) {
  const Tokenizer& tok = testing::vocab_tokenizer("llama-spm");
  EXPECT_EQ(tok.encode("<s>Hello</s>", false, true), (std::vector<TokenId>{1, 15043, 2}));
  const auto plain = tok.encode("<s>Hello</s>", false, false);
  for (TokenId id : plain) EXPECT_TRUE(id != 1 && id != 2);
  EXPECT_EQ(tok.decode(plain, false), "<s>Hello</s>");
  // BOS/EOS follow the metadata with add_special.
  EXPECT_EQ(tok.encode("Hello", true, false), (std::vector<TokenId>{1, 15043}));
  EXPECT_EQ(tok.encode("", true, false), (std::vector<TokenId>{1}));
  EXPECT_EQ(tok.encode("", false, false), (std::vector<TokenId>{}));
}

TEST(SpecialTokens, BpeEndOfText) {
  const Tokenizer& tok = testing::vocab_tokenizer("gpt-2");
  EXPECT_EQ(tok.encode("a<|endoftext|>b", false, true), (std::vector<TokenId>{64, 50256, 65}));
  // Without parse_special the control token's text is plain text.
  const auto plain = tok.encode("a<|endoftext|>b", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 50256), 0);
  EXPECT_EQ(tok.decode(plain, false), "a<|endoftext|>b");
  EXPECT_TRUE(tok.is_eog(50256));
  EXPECT_EQ(tok.token_to_piece(50256, false), "");
  EXPECT_EQ(tok.token_to_piece(50256, true), "<|endoftext|>");
}

TEST(Pieces, SpmAndBpe) {
  const Tokenizer& spm = testing::vocab_tokenizer("llama-spm");
  EXPECT_EQ(spm.token_to_piece(15043, false), " Hello");
  EXPECT_EQ(spm.token_text(15043), "\xE2\x96\x81Hello");
  EXPECT_EQ(spm.token_to_piece(13, false), "\n");  // <0x0A>
  EXPECT_EQ(spm.token_to_piece(2, false), "");
  EXPECT_EQ(spm.token_to_piece(2, true), "</s>");
  const Tokenizer& bpe = testing::vocab_tokenizer("gpt-2");
  EXPECT_EQ(bpe.token_text(995), "\xC4\xA0world");
  EXPECT_EQ(bpe.token_to_piece(995, false), " world");
}

TEST(Utf8Streamer, ReassemblesCharactersSplitAcrossTokens) {
  Utf8Streamer s;
  EXPECT_EQ(s.push("a\xE2"), "a");
  EXPECT_EQ(s.push("\x82"), "");
  EXPECT_EQ(s.push("\xAC" "b"), "\xE2\x82\xAC" "b");
  EXPECT_EQ(s.flush(), "");
}

TEST(Utf8Streamer, InvalidBytesBecomeReplacementCharacters) {
  Utf8Streamer s;
  EXPECT_EQ(s.push("\x80x"), "\xEF\xBF\xBDx");
  EXPECT_EQ(s.push("\xE2\x82(" ), "\xEF\xBF\xBD\xEF\xBF\xBD(");
  EXPECT_EQ(s.push("\xF0\x9F"), "");
  EXPECT_EQ(s.flush(), "\xEF\xBF\xBD");
  EXPECT_EQ(s.push("ok"), "ok");
}

TEST(Utf8Streamer, StreamsSpmByteTokens) {
  // "€" in llama-spm is three <0xNN> byte tokens; the streamer emits it once complete.
  const Tokenizer& tok = testing::vocab_tokenizer("llama-spm");
  const std::vector<TokenId> ids = tok.encode("\xE2\x82\xAC", false, false);
  Utf8Streamer s;
  std::string out;
  for (TokenId id : ids) out += s.push(tok.token_to_piece(id, false));
  out += s.flush();
  EXPECT_EQ(out, " \xE2\x82\xAC");
}

TEST(Unicode, SanitizeLikeLlamaCpp) {
  EXPECT_EQ(unicode::sanitize_utf8("ok"), "ok");
  EXPECT_EQ(unicode::sanitize_utf8("\xC3("), "\xEF\xBF\xBD(");
  EXPECT_EQ(unicode::sanitize_utf8(std::string("\xC0\x80", 2)), std::string("\0", 1));  // lenient overlong
  EXPECT_EQ(unicode::sanitize_utf8("\xED\xA0\x80"), "\xED\xA0\x80");                     // surrogate kept
}

}  // namespace
}  // namespace greta
