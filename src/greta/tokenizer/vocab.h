#pragma once
// The vocabulary shared by the SPM and BPE tokenizers: token texts, scores, attributes and
// special ids read from tokenizer.ggml.*, validated at load, plus llama.cpp's special-token
// partition of the input text. Internal to greta_tokenizer.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "greta/tokenizer/tokenizer.h"

namespace greta::gguf { class GgufFile; }

namespace greta {

// Token attributes (llama.cpp's llama_token_attr), derived from tokenizer.ggml.token_type.
enum TokenAttr : uint32_t {
  kAttrUndefined = 0,
  kAttrUnknown = 1u << 0,
  kAttrUnused = 1u << 1,
  kAttrNormal = 1u << 2,
  kAttrControl = 1u << 3,
  kAttrUserDefined = 1u << 4,
  kAttrByte = 1u << 5,
  kAttrLstrip = 1u << 7,
  kAttrRstrip = 1u << 8,
};

enum class VocabType { kSpm, kBpe };

struct Vocab {
  VocabType type = VocabType::kSpm;
  std::string pre;  // tokenizer.ggml.pre ("" when absent)

  std::vector<char> arena;        // all token texts, back to back (a vector: views survive moves)
  std::vector<uint32_t> text_off; // [n_vocab]
  std::vector<uint32_t> text_len; // [n_vocab]
  std::vector<float> scores;      // [n_vocab] (0 when absent, BPE only)
  std::vector<uint32_t> attrs;    // [n_vocab] TokenAttr bits
  std::unordered_map<std::string_view, TokenId> token_to_id;  // duplicates: the last id wins

  TokenId bos = -1, eos = -1, unk = -1, eot = -1, eom = -1;
  bool add_bos = false, add_eos = false, add_space_prefix = false;
  std::vector<TokenId> special_cache;  // control/user-defined/unknown tokens, longest text first
  std::vector<std::vector<uint32_t>> special_by_first_byte;  // [256] indices into special_cache
  std::vector<uint8_t> eog;            // [n_vocab] end-of-generation flags

  int32_t size() const { return static_cast<int32_t>(text_off.size()); }
  std::string_view text(TokenId id) const { return {arena.data() + text_off[id], text_len[id]}; }
  TokenId find(std::string_view s) const {
    auto it = token_to_id.find(s);
    return it == token_to_id.end() ? -1 : it->second;
  }
};

// Reads and validates tokenizer.ggml.* (everything but BPE merges). Throws greta::Error.
Vocab vocab_load(const gguf::GgufFile& file);

// A piece of the input: raw text (token < 0) or one special token.
struct Fragment {
  TokenId token = -1;
  uint32_t offset = 0;
  uint32_t length = 0;
};

// llama.cpp's tokenizer_st_partition: splits out every occurrence of the special tokens,
// longest first. User-defined tokens are always split out; control and unknown tokens only when
// parse_special is set.
std::vector<Fragment> vocab_partition_special(const Vocab& vocab, std::string_view text, bool parse_special);

}  // namespace greta
