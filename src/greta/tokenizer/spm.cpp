// SentencePiece-style tokenizer (tokenizer.ggml.model = "llama"), as llama.cpp's
// llm_tokenizer_spm: start from UTF-8 characters, repeatedly merge the adjacent pair whose
// concatenation is the vocab entry with the highest score (ties: leftmost pair), then emit the
// symbols, falling back to <0xNN> byte tokens for symbols that are not in the vocab.

#include <algorithm>
#include <cstdlib>
#include <unordered_map>

#include "greta/tokenizer/u64_set.h"

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
    for (TokenId id = 0; id < vocab_.size(); ++id) {
      const std::string_view t = vocab_.text(id);
      Symbol prev{0, 0, 0, 0};
      for (size_t off = 0; off < t.size();) {
        const uint32_t len = static_cast<uint32_t>(std::min(t.size() - off, unicode::utf8_len(static_cast<uint8_t>(t[off]))));
        const Symbol cur{0, 0, static_cast<uint32_t>(off), len};
        if (off > 0) pairs_.insert(pair_key(t, prev, cur));
        prev = cur;
        off += len;
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

  static uint32_t unit_code(std::string_view text, const Symbol& s) {
    uint32_t v = 0;
    for (uint32_t k = 0; k < s.n && k < 4; ++k) v |= static_cast<uint32_t>(static_cast<uint8_t>(text[s.start + k])) << (8 * k);
    return v;
  }
  static uint64_t pair_key(std::string_view text, const Symbol& a, const Symbol& b) {
    return (static_cast<uint64_t>(unit_code(text, a)) << 32) | unit_code(text, b);
  }
  // Runs the merge loop over symbols [begin, end), which are linked among themselves.
  void merge_segment(std::string_view text, std::vector<Symbol>& symbols, int32_t begin, int32_t end,
                     std::vector<Bigram>& heap) const;
  // Appends the token of a final symbol, or its byte tokens.
  void emit(std::string_view text, const Symbol& s, std::vector<TokenId>& out) const;

  TokenId byte_token_[256];
  // Every (character, next character) pair that occurs inside some vocab token.
  U64Set pairs_;
};

void SpmTokenizer::merge_segment(std::string_view text, std::vector<Symbol>& symbols, int32_t begin, int32_t end,
                                 std::vector<Bigram>& heap) const {
  if (end - begin < 2) return;
  const BigramOrder order;
  heap.clear();
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const std::string_view s(text.data() + symbols[left].start, symbols[left].n + symbols[right].n);
    const TokenId id = vocab_.find(s);
    if (id < 0) return;
    heap.push_back({vocab_.scores[id], left, right, static_cast<uint32_t>(s.size())});
    std::push_heap(heap.begin(), heap.end(), order);
  };
  for (int32_t i = begin + 1; i < end; ++i) try_add(i - 1, i);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), order);
    const Bigram b = heap.back();
    heap.pop_back();
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
}

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

  // Merging happens segment by segment: a boundary between two characters that are adjacent in
  // no vocab token can never be merged across, so the segments are independent and the result
  // equals one pass over the whole text, with small queues instead of one huge one. Segments
  // repeat (they are mostly words), so their ids are memoised within the call.
  std::vector<Bigram> heap;
  std::unordered_map<std::string_view, std::pair<uint32_t, uint32_t>> cache;  // segment -> [begin, end) in out
  const int32_t n = static_cast<int32_t>(symbols.size());
  int32_t seg_begin = 0;
  for (int32_t i = 1; i <= n; ++i) {
    if (i < n && pairs_.contains(pair_key(text, symbols[i - 1], symbols[i]))) continue;
    const uint32_t byte_begin = symbols[seg_begin].start;
    const std::string_view seg(text.data() + byte_begin, symbols[i - 1].start + symbols[i - 1].n - byte_begin);
    const auto it = cache.find(seg);
    if (it != cache.end()) {
      // Copy through an index loop: `out` may reallocate while it grows.
      for (uint32_t k = it->second.first; k < it->second.second; ++k) out.push_back(out[k]);
    } else {
      const uint32_t out_begin = static_cast<uint32_t>(out.size());
      symbols[seg_begin].prev = -1;
      symbols[i - 1].next = -1;
      merge_segment(text, symbols, seg_begin, i, heap);
      for (int32_t k = seg_begin; k != -1; k = symbols[k].next) emit(text, symbols[k], out);
      cache.emplace(seg, std::make_pair(out_begin, static_cast<uint32_t>(out.size())));
    }
    seg_begin = i;
  }
}

void SpmTokenizer::emit(std::string_view text, const Symbol& s, std::vector<TokenId>& out) const {
  const std::string_view piece(text.data() + s.start, s.n);
  const TokenId id = vocab_.find(piece);
  if (id >= 0) {
    out.push_back(id);
    return;
  }
  // Every merged symbol is a vocab entry, so only single characters reach the byte fallback.
  // Where the vocab has no token for a byte, llama.cpp throws; greta emits the unknown token
  // for that byte.
  for (char c : piece) {
    const TokenId bt = byte_token_[static_cast<uint8_t>(c)];
    if (bt >= 0) {
      out.push_back(bt);
    } else if (vocab_.unk >= 0) {
      out.push_back(vocab_.unk);
    }
  }
}

}  // namespace

std::unique_ptr<Tokenizer> make_spm_tokenizer(Vocab vocab) { return std::make_unique<SpmTokenizer>(std::move(vocab)); }

}  // namespace greta
