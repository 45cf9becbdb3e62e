#pragma once
// UTF-8 helpers with llama.cpp's exact (lenient) semantics, and GPT-2's byte-to-unicode map.
//
// Tokenization must reproduce llama.cpp byte for byte, including on invalid UTF-8, so these
// deliberately mirror llama.cpp's unicode.cpp rather than a strict decoder: overlong forms and
// surrogates are accepted, and a byte that starts no valid sequence becomes U+FFFD.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace greta::unicode {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// Length of the UTF-8 sequence announced by a lead byte (1 for continuation/invalid bytes),
// from the high nibble, as llama.cpp's unicode_len_utf8.
inline size_t utf8_len(uint8_t lead) {
  static constexpr uint8_t kLookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLookup[lead >> 4];
}

// Decodes one code point at `offset` like llama.cpp's unicode_cpts_from_utf8: on an invalid
// sequence it returns U+FFFD and advances one byte.
uint32_t decode_lenient(std::string_view s, size_t& offset);

// Appends the UTF-8 encoding of `cpt`; code points above U+10FFFF become U+FFFD.
void append_utf8(std::string& out, uint32_t cpt);

// The text as llama.cpp's byte-level BPE sees it: decoded with decode_lenient and re-encoded.
// Valid UTF-8 is returned unchanged; each invalid byte becomes EF BF BD.
std::string sanitize_utf8(std::string_view s);

// True if `s` is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF).
bool is_valid_utf8(std::string_view s);

// GPT-2's reversible byte -> code point map (printable bytes map to themselves).
uint32_t byte_to_cpt(uint8_t b);
// The UTF-8 text of byte_to_cpt(b).
const std::string& byte_to_utf8(uint8_t b);
// Inverse of byte_to_cpt; -1 if `cpt` is not in the map.
int cpt_to_byte(uint32_t cpt);

}  // namespace greta::unicode
