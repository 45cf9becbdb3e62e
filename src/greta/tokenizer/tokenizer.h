#pragma once
// Tokenizers built from GGUF metadata: SentencePiece-style ("llama") and byte-level BPE ("gpt2"),
// equal to llama.cpp on its own test vectors.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace greta::gguf { class GgufFile; }

namespace greta {

using TokenId = int32_t;

// All methods are const and keep no mutable state, so one Tokenizer may be shared by threads.
class Tokenizer {
 public:
  // Reads tokenizer.ggml.* from the file. Throws greta::Error on missing/inconsistent metadata.
  static std::unique_ptr<Tokenizer> from_gguf(const gguf::GgufFile& file);
  virtual ~Tokenizer() = default;

  // add_special: BOS/EOS as the model's metadata says (llama.cpp defaults when absent).
  // parse_special: special-token text in `text` becomes the special token.
  virtual std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special) const = 0;

  // The raw bytes of one token (byte tokens give their byte; SPM's "▁" gives ' ').
  // Special/control tokens give their text only when `special` is true.
  virtual std::string token_to_piece(TokenId id, bool special) const = 0;

  virtual int32_t vocab_size() const = 0;
  virtual TokenId bos() const = 0;   // -1 if none
  virtual TokenId eos() const = 0;   // -1 if none
  virtual bool add_bos() const = 0;
  virtual bool add_eos() const = 0;
  virtual bool is_eog(TokenId id) const = 0;  // end of generation (EOS, EOT, ...)
  virtual std::string_view token_text(TokenId id) const = 0;  // the vocab string as stored

  // Detokenizes a sequence as llama.cpp's llama_detokenize (no space clean-up): the pieces
  // concatenated, SPM's prefix space removed from the first piece. With special == false, a
  // leading BOS is skipped and control tokens render as nothing; with true they render as text.
  virtual std::string decode(const std::vector<TokenId>& ids, bool special) const;
  virtual std::string_view model_name() const { return {}; }  // tokenizer.ggml.model
  virtual std::string_view pre_name() const { return {}; }    // tokenizer.ggml.pre ("" if absent)
};

// Streams detokenized text: bytes of consecutive tokens are buffered until they form complete
// UTF-8 characters, so the output is always valid UTF-8 even when a character spans tokens.
class Utf8Streamer {
 public:
  // Appends the bytes; returns the longest prefix of buffered bytes that is complete UTF-8.
  std::string push(std::string_view bytes);
  // Whatever is left at the end (invalid sequences become U+FFFD).
  std::string flush();

 private:
  std::string pending_;
};

}  // namespace greta
