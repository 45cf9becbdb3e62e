// The optimised tokenizers against plain references written the way llama.cpp's are: SPM over
// the whole text with one string-keyed queue (greta merges segment by segment), BPE on strings
// with string-pair merge ranks (greta works on ids with a flat hash). Random texts are built
// from vocab pieces, spaces, digits and raw bytes so that long merges and byte fallback occur.

#include <gtest/gtest.h>

#include <map>
#include <queue>
#include <random>

#include "greta/gguf/gguf_file.h"
#include "greta/tokenizer/pretokenize.h"
#include "greta/tokenizer/unicode_util.h"
#include "greta/tokenizer/vocab.h"
#include "tokenizer/tokenizer_test_util.h"

namespace greta {
namespace {

struct RefSymbol {
  int prev, next;
  size_t start, n;
};

// llama.cpp's llm_tokenizer_spm_session::tokenize on one escaped fragment.
std::vector<TokenId> reference_spm(const Vocab& v, const std::string& text) {
  std::vector<RefSymbol> sym;
  for (size_t off = 0; off < text.size();) {
    const size_t len = std::min(text.size() - off, unicode::utf8_len(static_cast<uint8_t>(text[off])));
    const int idx = static_cast<int>(sym.size());
    sym.push_back({idx - 1, off + len == text.size() ? -1 : idx + 1, off, len});
    off += len;
  }
  struct Bigram {
    float score;
    int left, right;
    size_t size;
  };
  auto cmp = [](const Bigram& l, const Bigram& r) { return l.score < r.score || (l.score == r.score && l.left > r.left); };
  std::priority_queue<Bigram, std::vector<Bigram>, decltype(cmp)> q(cmp);
  auto add = [&](int l, int r) {
    if (l < 0 || r < 0) return;
    const std::string s = text.substr(sym[l].start, sym[l].n + sym[r].n);
    const TokenId id = v.find(s);
    if (id >= 0) q.push({v.scores[id], l, r, s.size()});
  };
  for (size_t i = 1; i < sym.size(); ++i) add(static_cast<int>(i) - 1, static_cast<int>(i));
  while (!q.empty()) {
    const Bigram b = q.top();
    q.pop();
    auto& l = sym[b.left];
    auto& r = sym[b.right];
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    add(l.prev, b.left);
    add(b.left, l.next);
  }
  std::vector<TokenId> out;
  for (int i = 0; !sym.empty() && i != -1; i = sym[i].next) {
    const std::string s = text.substr(sym[i].start, sym[i].n);
    if (TokenId id = v.find(s); id >= 0) {
      out.push_back(id);
      continue;
    }
    for (unsigned char c : s) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "<0x%02X>", c);
      TokenId id = v.find(hex);
      if (id < 0) id = v.find(std::string(1, static_cast<char>(c)));
      out.push_back(id >= 0 ? id : v.unk);
    }
  }
  return out;
}

// llama.cpp's llm_tokenizer_bpe_session::tokenize for one pre-token (already byte-encoded).
std::vector<TokenId> reference_bpe_word(const Vocab& v, const std::map<std::pair<std::string, std::string>, int>& ranks,
                                        const std::string& word) {
  std::vector<RefSymbol> sym;
  for (size_t off = 0; off < word.size();) {
    const size_t len = std::min(word.size() - off, unicode::utf8_len(static_cast<uint8_t>(word[off])));
    const int idx = static_cast<int>(sym.size());
    sym.push_back({idx - 1, off + len == word.size() ? -1 : idx + 1, off, len});
    off += len;
  }
  struct Bigram {
    int rank, left, right;
    std::string text;
  };
  auto cmp = [](const Bigram& l, const Bigram& r) { return l.rank > r.rank || (l.rank == r.rank && l.left > r.left); };
  std::priority_queue<Bigram, std::vector<Bigram>, decltype(cmp)> q(cmp);
  auto add = [&](int l, int r) {
    if (l < 0 || r < 0) return;
    const std::string a = word.substr(sym[l].start, sym[l].n), b = word.substr(sym[r].start, sym[r].n);
    auto it = ranks.find({a, b});
    if (it != ranks.end()) q.push({it->second, l, r, a + b});
  };
  for (size_t i = 1; i < sym.size(); ++i) add(static_cast<int>(i) - 1, static_cast<int>(i));
  while (!q.empty()) {
    const Bigram b = q.top();
    q.pop();
    auto& l = sym[b.left];
    auto& r = sym[b.right];
    if (l.n == 0 || r.n == 0) continue;
    if (word.substr(l.start, l.n) + word.substr(r.start, r.n) != b.text) continue;
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    add(l.prev, b.left);
    add(b.left, l.next);
  }
  std::vector<TokenId> out;
  for (int i = 0; !sym.empty() && i != -1; i = sym[i].next) {
    const std::string s = word.substr(sym[i].start, sym[i].n);
    if (TokenId id = v.find(s); id >= 0) {
      out.push_back(id);
    } else {
      for (char c : s) {
        if (TokenId id1 = v.find(std::string(1, c)); id1 >= 0) out.push_back(id1);
      }
    }
  }
  return out;
}

// Random text from vocab pieces (as plain text), spaces, digits, punctuation and raw bytes.
std::string random_text(const Tokenizer& tok, std::mt19937& rng, size_t n_parts) {
  std::string s;
  std::uniform_int_distribution<int> kind(0, 9);
  std::uniform_int_distribution<TokenId> id(0, tok.vocab_size() - 1);
  for (size_t i = 0; i < n_parts; ++i) {
    switch (kind(rng)) {
      case 0: s += ' '; break;
      case 1: s += std::to_string(rng() % 100000); break;
      case 2: s += ",.!?'\n\t  "[rng() % 10]; break;
      case 3: s += static_cast<char>(rng() % 256); break;
      default: s += tok.token_to_piece(id(rng), false); break;
    }
  }
  return s;
}

void compare_spm(const std::string& path) {
  auto file = gguf::GgufFile::open(path);
  const Vocab v = vocab_load(*file);
  auto tok = Tokenizer::from_gguf(*file);
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 200; ++iter) {
    // Every other text repeats itself, so greta's per-call segment memo is exercised.
    std::string text = random_text(*tok, rng, 1 + iter % 40);
    if (iter % 2) text += " " + text + "\n" + text;
    std::string escaped = v.add_space_prefix ? "\xE2\x96\x81" : "";
    for (char c : text) escaped += (c == ' ') ? std::string("\xE2\x96\x81") : std::string(1, c);
    ASSERT_EQ(tok->encode(text, false, false), reference_spm(v, escaped)) << "text '" << text << "'";
  }
}

TEST(ReferenceSpm, LlamaSpmVocab) { compare_spm(testing::vocab_path("llama-spm")); }
TEST(ReferenceSpm, TinyStoriesVocabWithSpacesInsideTokens) {
  compare_spm(std::string(GRETA_SOURCE_DIR) + "/models/TinyStories-656K-Q8_0.gguf");
}

void compare_bpe(const std::string& name) {
  auto file = gguf::GgufFile::open(testing::vocab_path(name));
  const Vocab v = vocab_load(*file);
  auto tok = Tokenizer::from_gguf(*file);
  std::map<std::pair<std::string, std::string>, int> ranks;
  const auto& merges = file->get_array("tokenizer.ggml.merges", gguf::ValueType::STRING);
  for (size_t i = 0; i < merges.size; ++i) {
    const std::string_view m = merges.strings[i];
    const size_t pos = m.find(' ', 1);
    ranks.emplace(std::make_pair(std::string(m.substr(0, pos)), std::string(m.substr(pos + 1))), static_cast<int>(i));
  }
  auto pre = PreTokenizer::create(v.pre);
  std::mt19937 rng(99);
  for (int iter = 0; iter < 200; ++iter) {
    std::string text = unicode::sanitize_utf8(random_text(*tok, rng, 1 + iter % 40));
    if (iter % 2) text += " " + text + "\n" + text;
    std::vector<TokenId> expected;
    for (const TextSpan& span : pre->split(text)) {
      std::string word;
      for (char c : text.substr(span.offset, span.length)) word += unicode::byte_to_utf8(static_cast<uint8_t>(c));
      for (TokenId id : reference_bpe_word(v, ranks, word)) expected.push_back(id);
    }
    // Special-token text can occur in the random text (user-defined tokens are always split out),
    // so compare only texts where the partition leaves a single fragment.
    if (vocab_partition_special(v, text, false).size() != 1) continue;
    ASSERT_EQ(tok->encode(text, false, false), expected) << "text '" << text << "'";
  }
}

TEST(ReferenceBpe, Gpt2) { compare_bpe("gpt-2"); }
TEST(ReferenceBpe, DeepseekCoder) { compare_bpe("deepseek-coder"); }
TEST(ReferenceBpe, Falcon) { compare_bpe("falcon"); }

}  // namespace
}  // namespace greta
