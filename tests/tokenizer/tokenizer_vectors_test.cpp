// llama.cpp's own tokenizer test vectors (test-tokenizer-0), through the library and the CLI,
// plus round trips and the shipped models' prompts.

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <sys/wait.h>
#include <unistd.h>

#include "greta/tokenizer/unicode_util.h"
#include "tokenizer/tokenizer_test_util.h"

namespace greta {
namespace {

using testing::format_out_line;
using testing::read_all;
using testing::split_cases;
using testing::vocab_path;
using testing::vocab_tokenizer;

class VocabVectors : public ::testing::TestWithParam<std::string> {};

TEST_P(VocabVectors, LibraryOutputEqualsOutFile) {
  const std::string path = vocab_path(GetParam());
  const Tokenizer& tok = vocab_tokenizer(GetParam());
  const std::vector<std::string> cases = split_cases(read_all(path + ".inp"));
  ASSERT_EQ(cases.size(), 46u);
  std::string out;
  for (const std::string& c : cases) out += format_out_line(tok.encode(c, false, false));
  EXPECT_EQ(out, read_all(path + ".out"));
}

TEST_P(VocabVectors, CliOutputEqualsOutFile) {
  const std::string bin = std::string(GRETA_BIN_DIR) + "/greta_tokenize";
  ASSERT_EQ(access(bin.c_str(), X_OK), 0) << bin << " is not built (cmake --build ... --target greta_tokenize)";
  const std::string path = vocab_path(GetParam());
  const std::string cmd = "'" + bin + "' -m '" + path + "' --cases '" + path + ".inp'";
  std::FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
  const int status = pclose(p);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(out, read_all(path + ".out"));
}

TEST_P(VocabVectors, RoundTripReproducesEveryCase) {
  // Holds for every case of every paired vocab: SPM's prefix space is removed by decode(), and
  // byte-level BPE is lossless on valid UTF-8.
  const Tokenizer& tok = vocab_tokenizer(GetParam());
  for (const std::string& c : split_cases(read_all(vocab_path(GetParam()) + ".inp"))) {
    EXPECT_EQ(tok.decode(tok.encode(c, false, false), false), c) << "case '" << c << "'";
  }
}

TEST_P(VocabVectors, InvalidUtf8NeverFailsAndFallsBackToBytes) {
  const Tokenizer& tok = vocab_tokenizer(GetParam());
  const std::vector<std::string> inputs = {
      "\x80", "a\xC3", "\xC3(", "\xE2\x82", "\xE2\x82(x", "\xF0\x9F\x98", "\xED\xA0\x80 surrogate",
      "\xC0\x80 overlong", "\xF4\x90\x80\x80 too big", "\xFE\xFF", "ok \xF8\x88\x80\x80\x80 ok", std::string("\0x", 2),
  };
  const bool spm = tok.model_name() == "llama";
  for (const std::string& s : inputs) {
    const std::vector<TokenId> ids = tok.encode(s, true, true);
    for (TokenId id : ids) ASSERT_TRUE(id >= 0 && id < tok.vocab_size());
    if (spm) {
      // SPM: unknown characters fall back to <0xNN> byte tokens, so the bytes survive exactly.
      EXPECT_EQ(tok.decode(tok.encode(s, false, false), false), s);
    } else {
      // BPE: llama.cpp decodes to code points first; every invalid byte becomes U+FFFD.
      EXPECT_EQ(tok.decode(tok.encode(s, false, false), false), unicode::sanitize_utf8(s));
      EXPECT_EQ(tok.encode(s, false, false), tok.encode(unicode::sanitize_utf8(s), false, false));
    }
  }
}

// What an SPM round trip gives, as in llama.cpp: spaces are escaped to U+2581 before the text is
// cut into characters by lead byte, and only a U+2581 that is a whole character comes back as a
// space. So a literal U+2581 in the text becomes a space, and a space right after a truncated
// UTF-8 sequence (whose character swallows part of the U+2581) comes back as the bytes of U+2581.
std::string spm_round_trip(const std::string& s) {
  std::string esc = "\xE2\x96\x81";
  for (char c : s) esc += (c == ' ') ? std::string("\xE2\x96\x81") : std::string(1, c);
  std::string out;
  for (size_t i = 0; i < esc.size();) {
    const size_t len = std::min(esc.size() - i, unicode::utf8_len(static_cast<uint8_t>(esc[i])));
    const std::string unit = esc.substr(i, len);
    out += unit == "\xE2\x96\x81" ? std::string(" ") : unit;
    i += len;
  }
  return out.substr(1);
}

// What a BPE round trip gives, as in llama.cpp: invalid UTF-8 becomes U+FFFD, and a byte whose
// GPT-2 character is not in the vocab (falcon lacks some ASCII control bytes) is dropped.
std::string bpe_round_trip(const std::vector<bool>& present, const std::string& s) {
  std::string out;
  for (char c : unicode::sanitize_utf8(s)) {
    if (present[static_cast<uint8_t>(c)]) out += c;
  }
  return out;
}

// present[b]: the vocab has a token for byte b's GPT-2 character.
std::vector<bool> bpe_bytes_present(const Tokenizer& tok) {
  std::vector<bool> present(256, false);
  for (TokenId id = 0; id < tok.vocab_size(); ++id) {
    const std::string_view t = tok.token_text(id);
    if (t.size() > 2) continue;
    for (int b = 0; b < 256; ++b) {
      if (t == unicode::byte_to_utf8(static_cast<uint8_t>(b))) present[b] = true;
    }
  }
  return present;
}

TEST_P(VocabVectors, RandomBytesNeverFail) {
  const Tokenizer& tok = vocab_tokenizer(GetParam());
  const bool spm = tok.model_name() == "llama";
  const std::vector<bool> present = spm ? std::vector<bool>() : bpe_bytes_present(tok);
  std::mt19937 rng(7);
  for (int iter = 0; iter < 300; ++iter) {
    std::string s(rng() % 64, '\0');
    for (char& c : s) c = static_cast<char>(rng() % 4 == 0 ? "<>|s/ \n"[rng() % 7] : rng() % 256);
    for (const bool special : {false, true}) {
      const std::vector<TokenId> ids = tok.encode(s, true, special);
      for (TokenId id : ids) ASSERT_TRUE(id >= 0 && id < tok.vocab_size());
      (void)tok.decode(ids, special);
    }
    const std::string back = tok.decode(tok.encode(s, false, false), false);
    EXPECT_EQ(back, spm ? spm_round_trip(s) : bpe_round_trip(present, s));
  }
}

INSTANTIATE_TEST_SUITE_P(Paired, VocabVectors, ::testing::ValuesIn(testing::paired_vocabs()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = (c == '-') ? '_' : c;
                           return n;
                         });

TEST(ShippedModels, Stories260KOnceUponATime) {
  auto t = testing::load_tokenizer(std::string(GRETA_SOURCE_DIR) + "/models/stories260K.gguf");
  EXPECT_EQ(t.tok->encode("Once upon a time", true, false), (std::vector<TokenId>{1, 403, 407, 261, 378}));
  EXPECT_EQ(t.tok->encode("Once upon a time", true, true), (std::vector<TokenId>{1, 403, 407, 261, 378}));
}

TEST(ShippedModels, TinyStoriesTieBreaking) {
  // Every score is -1000 and there are no byte tokens: the leftmost pair always wins.
  auto t = testing::load_tokenizer(std::string(GRETA_SOURCE_DIR) + "/models/TinyStories-656K-Q8_0.gguf");
  EXPECT_EQ(t.tok->encode("Once upon a time", true, true), (std::vector<TokenId>{1, 80, 147, 201, 282, 57}));
  EXPECT_EQ(t.tok->encode("Hello", true, true), (std::vector<TokenId>{1, 80, 1288, 67}));
  EXPECT_EQ(t.tok->bos(), 1);
  EXPECT_EQ(t.tok->eos(), 2);
  EXPECT_TRUE(t.tok->is_eog(2));
  EXPECT_EQ(t.tok->token_to_piece(1, true), "<|start_story|>");
  EXPECT_EQ(t.tok->token_to_piece(1, false), "");
  EXPECT_EQ(t.tok->decode({1, 80, 147, 201, 282, 57}, false), "Once upon a time");
}

}  // namespace
}  // namespace greta
