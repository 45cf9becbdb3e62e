#pragma once
// Byte-level BPE pre-tokenizers: the regex lists llama.cpp applies per `tokenizer.ggml.pre`.
//
// Each regex refines the pieces left by the previous one: within a piece, every match becomes a
// piece and so does every run of unmatched text between matches (llama.cpp's
// unicode_regex_split). Matching uses PCRE2 with UTF + Unicode properties; `\s` is rewritten
// into llama.cpp's exact whitespace set, and `$` matches only at the end of a piece.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace greta {

struct TextSpan {
  uint32_t offset = 0;  // bytes
  uint32_t length = 0;
};

class PreTokenizer {
 public:
  // The pre-tokenizer for a `tokenizer.ggml.pre` value ("" = absent = "default").
  // Throws greta::Error naming the value if it is unknown.
  static std::unique_ptr<PreTokenizer> create(std::string_view pre_name);
  // The regex list llama.cpp uses for that name (empty if unknown). Exposed for tests.
  static std::vector<std::string> regexes_for(std::string_view pre_name, bool* known);

  explicit PreTokenizer(const std::vector<std::string>& regexes);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Splits `text` into consecutive spans covering it. PRECONDITIONS: text is well-formed UTF-8
  // except that it may contain surrogate code points (handled internally).
  std::vector<TextSpan> split(std::string_view text) const;

  // True for Llama-3-style vocabs: a whole pre-token that is a vocab entry is not merged.
  bool ignore_merges() const { return ignore_merges_; }
  void set_ignore_merges(bool v) { ignore_merges_ = v; }

 private:
  struct Compiled;
  std::vector<std::unique_ptr<Compiled>> regexes_;
  bool ignore_merges_ = false;
};

// Rewrites `\s` / `\S` into llama.cpp's whitespace set (exposed for tests).
std::string pretokenize_rewrite_whitespace(std::string_view pattern);

}  // namespace greta
