// Byte-level BPE tokenizer (tokenizer.ggml.model = "gpt2"), as llama.cpp's llm_tokenizer_bpe:
// the text is split by the pre-tokenizer, each piece's bytes are mapped through GPT-2's
// byte-to-unicode table, and adjacent symbols are merged by merge rank (lowest first, ties:
// leftmost). greta works on token ids instead of strings: every merge's parts are vocab tokens
// (checked at load), so a symbol is always one id and a merge is one hash lookup.

#include <algorithm>
#include <unordered_map>

#include "greta/core/error.h"
#include "greta/gguf/gguf_file.h"
#include "greta/tokenizer/pretokenize.h"
#include "greta/tokenizer/u64_set.h"
#include "greta/tokenizer/unicode_util.h"
#include "greta/tokenizer/vocab_tokenizer.h"

namespace greta {

namespace {

// Words longer than this are not memoised (they are rare and would bloat the cache).
constexpr size_t kMaxCachedWord = 64;

class BpeTokenizer final : public VocabTokenizer {
 public:
  BpeTokenizer(Vocab vocab, const gguf::GgufFile& file);

 protected:
  void encode_text(std::string_view fragment, bool after_special, std::vector<TokenId>& out) const override;
  std::string normal_piece(TokenId id) const override;

 private:
  struct Merge {
    int32_t rank;
    TokenId merged;  // a vocab id, or n_vocab + i for extra_[i]
  };
  struct Symbol {
    TokenId id;  // -1: a byte whose character is not in the vocab
    int32_t prev;
    int32_t next;
    uint32_t start;
    uint32_t n;
  };
  struct Bigram {
    int32_t rank;
    int32_t left;
    int32_t right;
    uint32_t size;
  };
  // Scratch space reused across the words of one encode call.
  struct Work {
    std::vector<Symbol> symbols;
    std::vector<Bigram> heap;
  };

  static uint64_t merge_key(TokenId a, TokenId b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  void encode_word(std::string_view word, Work& w, std::vector<TokenId>& out) const;
  void push_fallback(std::string_view bytes, std::vector<TokenId>& out) const;

  std::unique_ptr<PreTokenizer> pre_;
  U64Map<Merge> merges_;
  std::vector<std::string> extra_;
  TokenId byte_token_[256];
};

BpeTokenizer::BpeTokenizer(Vocab vocab, const gguf::GgufFile& file) : VocabTokenizer(std::move(vocab)) {
  pre_ = PreTokenizer::create(vocab_.pre);
  for (int b = 0; b < 256; ++b) byte_token_[b] = vocab_.find(unicode::byte_to_utf8(static_cast<uint8_t>(b)));

  const gguf::ArrayValue* merges = file.find_array("tokenizer.ggml.merges", gguf::ValueType::STRING);
  if (merges == nullptr) fail("tokenizer: key 'tokenizer.ggml.merges' missing; the BPE (gpt2) tokenizer needs its merges");
  merges_.reserve(merges->size);
  std::unordered_map<std::string, TokenId> extra_ids;
  for (uint64_t i = 0; i < merges->size; ++i) {
    const std::string_view line = merges->strings[i];
    const size_t pos = line.size() > 1 ? line.find(' ', 1) : std::string_view::npos;
    const auto where = [&] { return "tokenizer.ggml.merges[" + std::to_string(i) + "] = '" + std::string(line) + "'"; };
    if (pos == std::string_view::npos) fail("tokenizer: " + where() + " is not two tokens separated by a space");
    const std::string_view first = line.substr(0, pos);
    const std::string_view second = line.substr(pos + 1);
    const TokenId a = vocab_.find(first);
    const TokenId b = vocab_.find(second);
    if (a < 0 || b < 0) {
      fail("tokenizer: " + where() + " refers to '" + std::string(a < 0 ? first : second) +
           "', which is not in tokenizer.ggml.tokens");
    }
    std::string joined;
    joined.reserve(line.size());
    joined.append(first).append(second);
    TokenId merged = vocab_.find(joined);
    if (merged < 0) {
      // A merge whose result is not a token: llama.cpp still applies it and then falls back to
      // bytes for the result, so keep it under a synthetic id.
      auto [it, inserted] = extra_ids.emplace(joined, vocab_.size() + static_cast<TokenId>(extra_.size()));
      if (inserted) extra_.push_back(joined);
      merged = it->second;
    }
    // The first occurrence of a pair wins, as in llama.cpp's bpe_ranks.emplace.
    merges_.insert(merge_key(a, b), Merge{static_cast<int32_t>(i), merged});
  }
  build_piece_cache();
}

std::string BpeTokenizer::normal_piece(TokenId id) const {
  // llama.cpp renders only normal BPE tokens (byte-typed ones give nothing); their text inverts
  // the byte-to-unicode map, as llama_decode_text.
  if (!(vocab_.attrs[id] & kAttrNormal)) return {};
  const std::string_view t = vocab_.text(id);
  std::string out;
  out.reserve(t.size());
  size_t off = 0;
  while (off < t.size()) {
    const uint32_t cpt = unicode::decode_lenient(t, off);
    const int b = unicode::cpt_to_byte(cpt);
    if (b >= 0) {
      out += static_cast<char>(b);
    } else {
      std::string utf8;
      unicode::append_utf8(utf8, cpt);
      out += "[UNK_BYTE_0x";
      static const char* kHex = "0123456789abcdef";
      for (char c : utf8) {
        out += kHex[static_cast<uint8_t>(c) >> 4];
        out += kHex[static_cast<uint8_t>(c) & 15];
      }
      out += std::string(t) + "]";
    }
  }
  return out;
}

void BpeTokenizer::push_fallback(std::string_view bytes, std::vector<TokenId>& out) const {
  // llama.cpp looks up each byte of the byte-encoded text as a one-character token.
  for (char b : bytes) {
    for (char c : unicode::byte_to_utf8(static_cast<uint8_t>(b))) {
      const TokenId id = vocab_.find(std::string_view(&c, 1));
      if (id >= 0) out.push_back(id);
    }
  }
}

void BpeTokenizer::encode_word(std::string_view word, Work& w, std::vector<TokenId>& out) const {
  const int32_t n_vocab = vocab_.size();
  auto& symbols = w.symbols;
  auto& heap = w.heap;
  symbols.clear();
  heap.clear();
  const int32_t n = static_cast<int32_t>(word.size());
  for (int32_t i = 0; i < n; ++i) {
    symbols.push_back({byte_token_[static_cast<uint8_t>(word[i])], i - 1, i + 1 == n ? -1 : i + 1,
                       static_cast<uint32_t>(i), 1});
  }
  // Lowest rank first; among equal ranks the leftmost pair (a min-heap through std::*_heap).
  const auto later = [](const Bigram& l, const Bigram& r) {
    return l.rank > r.rank || (l.rank == r.rank && l.left > r.left);
  };
  const auto add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const TokenId a = symbols[left].id;
    const TokenId b = symbols[right].id;
    if (a < 0 || b < 0 || a >= n_vocab || b >= n_vocab) return;
    const Merge* m = merges_.find(merge_key(a, b));
    if (m == nullptr) return;
    heap.push_back({m->rank, left, right, symbols[left].n + symbols[right].n});
    std::push_heap(heap.begin(), heap.end(), later);
  };
  for (int32_t i = 1; i < n; ++i) add(i - 1, i);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Bigram b = heap.back();
    heap.pop_back();
    Symbol& l = symbols[b.left];
    Symbol& r = symbols[b.right];
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale
    l.id = merges_.find(merge_key(l.id, r.id))->merged;
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = b.left;
    add(l.prev, b.left);
    add(b.left, l.next);
  }

  for (int32_t i = 0; i != -1 && n > 0; i = symbols[i].next) {
    const Symbol& s = symbols[i];
    if (s.id >= 0 && s.id < n_vocab) {
      out.push_back(s.id);
    } else {
      push_fallback(word.substr(s.start, s.n), out);
    }
  }
}

void BpeTokenizer::encode_text(std::string_view fragment, bool /*after_special*/, std::vector<TokenId>& out) const {
  // llama.cpp decodes the text to code points and re-encodes it, so invalid UTF-8 bytes become
  // U+FFFD before splitting.
  const std::string text = unicode::sanitize_utf8(fragment);
  const std::vector<TextSpan> spans = pre_->split(text);

  Work w;
  std::unordered_map<std::string_view, std::pair<uint32_t, uint32_t>> cache;  // word -> [begin, end) in out
  std::string encoded;
  for (const TextSpan& span : spans) {
    const std::string_view word(text.data() + span.offset, span.length);
    if (word.empty()) continue;
    if (pre_->ignore_merges()) {
      encoded.clear();
      for (char c : word) encoded += unicode::byte_to_utf8(static_cast<uint8_t>(c));
      const TokenId id = vocab_.find(encoded);
      if (id >= 0) {
        out.push_back(id);
        continue;
      }
    }
    const bool cacheable = word.size() <= kMaxCachedWord;
    if (cacheable) {
      const auto it = cache.find(word);
      if (it != cache.end()) {
        // Copy through an index loop: `out` may reallocate while it grows.
        for (uint32_t k = it->second.first; k < it->second.second; ++k) out.push_back(out[k]);
        continue;
      }
    }
    const uint32_t begin = static_cast<uint32_t>(out.size());
    encode_word(word, w, out);
    if (cacheable) cache.emplace(word, std::make_pair(begin, static_cast<uint32_t>(out.size())));
  }
}

}  // namespace

std::unique_ptr<Tokenizer> make_bpe_tokenizer(Vocab vocab, const gguf::GgufFile& file) {
  return std::make_unique<BpeTokenizer>(std::move(vocab), file);
}

}  // namespace greta
