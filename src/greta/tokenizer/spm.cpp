// SentencePiece-style tokenizer (tokenizer.ggml.model = "llama"), as llama.cpp's
// llm_tokenizer_spm: start from UTF-8 characters, repeatedly merge the adjacent pair whose
// concatenation is the vocab entry with the highest score (ties: leftmost pair), then emit the
// symbols, falling back to <0xNN> byte tokens for symbols that are not in the vocab.

#include <cstdlib>
#include <queue>

#include "greta/tokenizer/unicode_util.h"
#include "greta/tokenizer/vocab_tokenizer.h"

namespace greta {

namespace {

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581 '▁'

class SpmTokenizer final : public VocabTokenizer {
 public:
  explicit SpmTokenizer(Vocab vocab) : VocabTokenizer(std::move(vocab)) {
    for (int b = 0; b < 256; ++b) {
      static const char* kHex = "0123456789ABCDEF";
      const char hex[7] = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>', 0};
      byte_token_[b] = vocab_.find(hex);
      if (byte_token_[b] < 0) {
        // llama.cpp falls back to the byte as a one-character token.
        const char one = static_cast<char>(b);
        byte_token_[b] = vocab_.find(std::string_view(&one, 1));
      }
    }
    build_piece_cache();
  }

 protected:
  void encode_text(std::string_view fragment, bool after_special, std::vector<TokenId>& out) const override;

  std::string normal_piece(TokenId id) const override {
    const std::string_view t = vocab_.text(id);
    if (vocab_.attrs[id] & kAttrByte) {
      // "<0xNN>"
      // "<0xNN>", read as llama.cpp's token_to_byte does.
      if (t.size() < 5) return std::string(t);
      const std::string hex(t.substr(3, 2));
      return std::string(1, static_cast<char>(std::strtol(hex.c_str(), nullptr, 16)));
    }
    std::string s;
    s.reserve(t.size());
    for (size_t i = 0; i < t.size();) {
      if (t.substr(i, 3) == kSpaceMarker) {
        s += ' ';
        i += 3;
      } else {
        s += t[i++];
      }
    }
    return s;
  }

 private:
  struct Symbol {
    int32_t prev;
    int32_t next;
    uint32_t start;  // byte offset in the escaped text
    uint32_t n;      // byte length; 0 once merged into its left neighbour
  };
  struct Bigram {
    float score;
    int32_t left;
    int32_t right;
    uint32_t size;
  };
  struct BigramOrder {
    // Highest score first; among equal scores the leftmost pair.
    bool operator()(const Bigram& l, const Bigram& r) const {
      return l.score < r.score || (l.score == r.score && l.left > r.left);
    }
  };

  TokenId byte_token_[256];
};

void SpmTokenizer::encode_text(std::string_view fragment, bool after_special, std::vector<TokenId>& out) const {
  // Escape spaces as U+2581, with the SentencePiece prefix space at the start of the input and
  // after each special token.
  std::string text;
  text.reserve(fragment.size() + fragment.size() / 4 + 3);
  if (vocab_.add_space_prefix && after_special) text += kSpaceMarker;
  for (char c : fragment) {
    if (c == ' ') {
      text += kSpaceMarker;
    } else {
      text += c;
    }
  }
  if (text.empty()) return;

  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  for (size_t off = 0; off < text.size();) {
    const uint32_t len =
        static_cast<uint32_t>(std::min(text.size() - off, unicode::utf8_len(static_cast<uint8_t>(text[off]))));
    const int32_t idx = static_cast<int32_t>(symbols.size());
    symbols.push_back({idx - 1, off + len == text.size() ? -1 : idx + 1, static_cast<uint32_t>(off), len});
    off += len;
  }

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const std::string_view s(text.data() + symbols[left].start, symbols[left].n + symbols[right].n);
    const TokenId id = vocab_.find(s);
    if (id < 0) return;
    queue.push({vocab_.scores[id], left, right, static_cast<uint32_t>(s.size())});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = symbols[b.left];
    Symbol& r = symbols[b.right];
    // Skip pairs made stale by an earlier merge.
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  for (int32_t i = 0; i != -1; i = symbols[i].next) {
    const Symbol& s = symbols[i];
    const std::string_view piece(text.data() + s.start, s.n);
    const TokenId id = vocab_.find(piece);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    // Every merged symbol is a vocab entry, so only single characters reach the byte fallback.
    // Where the vocab has no token for a byte, llama.cpp throws; greta emits the unknown token.
    bool all_bytes = true;
    for (char c : piece) all_bytes = all_bytes && byte_token_[static_cast<uint8_t>(c)] >= 0;
    if (all_bytes) {
      for (char c : piece) out.push_back(byte_token_[static_cast<uint8_t>(c)]);
    } else if (vocab_.unk >= 0) {
      out.push_back(vocab_.unk);
    }
  }
}

}  // namespace

std::unique_ptr<Tokenizer> make_spm_tokenizer(Vocab vocab) { return std::make_unique<SpmTokenizer>(std::move(vocab)); }

}  // namespace greta
