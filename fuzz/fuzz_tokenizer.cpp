// libFuzzer target: the SPM and BPE tokenizers on the shipped vocabularies, random bytes as text.
//
// Input layout: one flags byte, then the text (any bytes, valid UTF-8 or not).
//   bits 0-1: vocabulary (0: stories260K SPM, 1: llama SPM 32000, 2: gpt-2 BPE, 3: the next BPE)
//   bit 2:    parse_special    bit 3: add_special
// encode() must return in-range ids; token_to_piece() of every id, the Utf8Streamer over the
// pieces, and token_text() must not crash. Vocabularies load once (from the repository or, for
// the llama.cpp test vocabularies, from ../shared/reference/tokenizer); a missing one is skipped.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "greta/core/error.h"
#include "greta/gguf/gguf_file.h"
#include "greta/tokenizer/tokenizer.h"

namespace {

struct Vocab {
  std::unique_ptr<greta::gguf::GgufFile> file;
  std::unique_ptr<greta::Tokenizer> tok;
};

std::vector<Vocab>& vocabs() {
  static std::vector<Vocab> v = [] {
    const std::string src = GRETA_SOURCE_DIR;
    const char* sets[][3] = {
        {"/models/stories260K.gguf", nullptr, nullptr},
        {"/tests/data/tokenizer/ggml-vocab-llama-spm.gguf", "/../shared/reference/tokenizer/ggml-vocab-llama-spm.gguf",
         "/tests/data/gguf/llama-2-tiny-random.gguf"},
        {"/tests/data/tokenizer/ggml-vocab-gpt-2.gguf", "/../shared/reference/tokenizer/ggml-vocab-gpt-2.gguf", nullptr},
        {"/tests/data/tokenizer/ggml-vocab-deepseek-coder.gguf",
         "/../shared/reference/tokenizer/ggml-vocab-deepseek-coder.gguf", nullptr},
    };
    std::vector<Vocab> out;
    for (auto& set : sets) {
      Vocab voc;
      for (const char* rel : set) {
        if (rel == nullptr) continue;
        try {
          voc.file = greta::gguf::GgufFile::open(src + rel);
          voc.tok = greta::Tokenizer::from_gguf(*voc.file);
          break;
        } catch (const greta::Error&) {
          voc.file.reset();
          voc.tok.reset();
        }
      }
      if (!voc.tok) std::fprintf(stderr, "fuzz_tokenizer: vocabulary %s unavailable, skipped\n", set[0]);
      out.push_back(std::move(voc));
    }
    return out;
  }();
  return v;
}

volatile size_t g_sink = 0;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  auto& vs = vocabs();
  const Vocab& v = vs[data[0] & 3];
  if (!v.tok) return 0;
  const bool parse_special = (data[0] & 4) != 0;
  const bool add_special = (data[0] & 8) != 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const greta::Tokenizer& tok = *v.tok;
  std::vector<greta::TokenId> ids;
  try {
    ids = tok.encode(text, add_special, parse_special);
  } catch (const greta::Error&) {
    return 0;  // a documented rejection (e.g. too long) is fine
  }
  greta::Utf8Streamer stream;
  std::string out;
  for (greta::TokenId id : ids) {
    if (id < 0 || id >= tok.vocab_size()) __builtin_trap();
    const std::string piece = tok.token_to_piece(id, parse_special);
    out += stream.push(piece);
    g_sink += tok.token_text(id).size() + tok.is_eog(id);
  }
  out += stream.flush();
  g_sink += out.size();
  return 0;
}
