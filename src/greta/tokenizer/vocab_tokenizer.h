#pragma once
// The Tokenizer implementation shared by SPM and BPE: special-token partition, BOS/EOS,
// detokenization and metadata accessors. Subclasses only encode raw-text fragments.
// Internal to greta_tokenizer.

#include <memory>
#include <string>
#include <vector>

#include "greta/tokenizer/tokenizer.h"
#include "greta/tokenizer/vocab.h"

namespace greta {

class VocabTokenizer : public Tokenizer {
 public:
  explicit VocabTokenizer(Vocab vocab);

  std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special) const override;
  std::string token_to_piece(TokenId id, bool special) const override;
  std::string decode(const std::vector<TokenId>& ids, bool special) const override;
  int32_t vocab_size() const override { return vocab_.size(); }
  TokenId bos() const override { return vocab_.bos; }
  TokenId eos() const override { return vocab_.eos; }
  bool add_bos() const override { return vocab_.add_bos && vocab_.bos >= 0; }
  bool add_eos() const override { return vocab_.add_eos && vocab_.eos >= 0; }
  bool is_eog(TokenId id) const override { return id >= 0 && id < vocab_.size() && vocab_.eog[id]; }
  std::string_view token_text(TokenId id) const override;
  std::string_view model_name() const override { return vocab_.type == VocabType::kSpm ? "llama" : "gpt2"; }
  std::string_view pre_name() const override { return vocab_.pre; }

  const Vocab& vocab() const { return vocab_; }

 protected:
  // Appends the tokens of one raw-text fragment. `after_special`: the fragment starts the input
  // or follows a special token (SPM adds its space prefix there).
  virtual void encode_text(std::string_view text, bool after_special, std::vector<TokenId>& out) const = 0;
  // The bytes of a normal (non-special) token.
  virtual std::string normal_piece(TokenId id) const = 0;
  // Fills piece_cache_; subclasses call it at the end of their constructor.
  void build_piece_cache();

  Vocab vocab_;

 private:
  void check_id(TokenId id) const;
  std::vector<std::string> piece_cache_;  // [n_vocab] token_to_piece(id, special=true)
};

std::unique_ptr<Tokenizer> make_spm_tokenizer(Vocab vocab);
std::unique_ptr<Tokenizer> make_bpe_tokenizer(Vocab vocab, const gguf::GgufFile& file);

}  // namespace greta
