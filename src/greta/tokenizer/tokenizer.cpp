#include "greta/tokenizer/tokenizer.h"

#include "greta/core/error.h"
#include "greta/gguf/gguf_file.h"
#include "greta/tokenizer/vocab_tokenizer.h"

namespace greta {

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const gguf::GgufFile& file) {
  try {
    Vocab vocab = vocab_load(file);
    if (vocab.type == VocabType::kSpm) return make_spm_tokenizer(std::move(vocab));
    return make_bpe_tokenizer(std::move(vocab), file);
  } catch (const Error& e) {
    rethrow_with_context(e, "loading the tokenizer of '" + file.path() + "'");
  }
}

std::string Tokenizer::decode(const std::vector<TokenId>& ids, bool special) const {
  std::string out;
  for (TokenId id : ids) out += token_to_piece(id, special);
  return out;
}

VocabTokenizer::VocabTokenizer(Vocab vocab) : vocab_(std::move(vocab)) {}

void VocabTokenizer::build_piece_cache() {
  piece_cache_.resize(vocab_.size());
  for (TokenId id = 0; id < vocab_.size(); ++id) {
    const uint32_t attr = vocab_.attrs[id];
    if (attr & (kAttrControl | kAttrUnknown | kAttrUserDefined)) {
      piece_cache_[id] = std::string(vocab_.text(id));
    } else if (attr & (kAttrNormal | kAttrByte)) {
      piece_cache_[id] = normal_piece(id);
    }  // Unused and undefined tokens render as nothing, as in llama.cpp.
  }
}

void VocabTokenizer::check_id(TokenId id) const {
  if (id < 0 || id >= vocab_.size()) {
    fail("token id " + std::to_string(id) + " is out of range (vocab has " + std::to_string(vocab_.size()) +
         " tokens)");
  }
}

std::string_view VocabTokenizer::token_text(TokenId id) const {
  check_id(id);
  return vocab_.text(id);
}

std::string VocabTokenizer::token_to_piece(TokenId id, bool special) const {
  check_id(id);
  if (!special && (vocab_.attrs[id] & (kAttrControl | kAttrUnknown))) return {};
  return piece_cache_[id];
}

std::string VocabTokenizer::decode(const std::vector<TokenId>& ids, bool special) const {
  std::string out;
  size_t i = 0;
  if (!special && add_bos() && !ids.empty() && ids[0] == vocab_.bos) i = 1;
  bool remove_space = vocab_.add_space_prefix;
  for (; i < ids.size(); ++i) {
    std::string piece = token_to_piece(ids[i], special);
    if (remove_space && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    remove_space = false;
    out += piece;
  }
  return out;
}

std::vector<TokenId> VocabTokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  if (text.size() >= UINT32_MAX) fail("tokenizer: input text of " + std::to_string(text.size()) + " bytes is too long");
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 2);
  if (add_special && add_bos()) out.push_back(vocab_.bos);
  bool after_special = true;
  for (const Fragment& f : vocab_partition_special(vocab_, text, parse_special)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      after_special = true;
    } else {
      encode_text(text.substr(f.offset, f.length), after_special, out);
      after_special = false;
    }
  }
  if (add_special && add_eos()) out.push_back(vocab_.eos);
  return out;
}

}  // namespace greta
