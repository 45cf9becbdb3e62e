#include "greta/tokenizer/unicode_util.h"

#include <array>

namespace greta::unicode {

uint32_t decode_lenient(std::string_view s, size_t& offset) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(s[offset + i]); };
  const auto is_cont = [&](size_t i) { return (byte(i) & 0xC0) == 0x80; };
  const uint8_t b0 = byte(0);
  const size_t left = s.size() - offset;
  if (!(b0 & 0x80)) {
    offset += 1;
    return b0;
  }
  if ((b0 & 0x40) && !(b0 & 0x20)) {
    if (left >= 2 && is_cont(1)) {
      const uint32_t c = ((b0 & 0x1Fu) << 6) | (byte(1) & 0x3Fu);
      offset += 2;
      return c;
    }
  } else if ((b0 & 0x40) && !(b0 & 0x10)) {
    if (left >= 3 && is_cont(1) && is_cont(2)) {
      const uint32_t c = ((b0 & 0x0Fu) << 12) | ((byte(1) & 0x3Fu) << 6) | (byte(2) & 0x3Fu);
      offset += 3;
      return c;
    }
  } else if ((b0 & 0x40) && !(b0 & 0x08)) {
    if (left >= 4 && is_cont(1) && is_cont(2) && is_cont(3)) {
      const uint32_t c = ((b0 & 0x07u) << 18) | ((byte(1) & 0x3Fu) << 12) | ((byte(2) & 0x3Fu) << 6) |
                         (byte(3) & 0x3Fu);
      offset += 4;
      return c;
    }
  }
  offset += 1;
  return kReplacementChar;
}

void append_utf8(std::string& out, uint32_t cpt) {
  if (cpt > 0x10FFFF) cpt = kReplacementChar;
  if (cpt < 0x80) {
    out += static_cast<char>(cpt);
  } else if (cpt < 0x800) {
    out += static_cast<char>(0xC0 | (cpt >> 6));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  } else if (cpt < 0x10000) {
    out += static_cast<char>(0xE0 | (cpt >> 12));
    out += static_cast<char>(0x80 | ((cpt >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cpt >> 18));
    out += static_cast<char>(0x80 | ((cpt >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cpt >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  }
}

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t b0 = static_cast<uint8_t>(s[i]);
    if (b0 < 0x80) {
      ++i;
      continue;
    }
    size_t n;
    uint32_t c;
    if (b0 >= 0xC2 && b0 <= 0xDF) { n = 2; c = b0 & 0x1F; }
    else if (b0 >= 0xE0 && b0 <= 0xEF) { n = 3; c = b0 & 0x0F; }
    else if (b0 >= 0xF0 && b0 <= 0xF4) { n = 4; c = b0 & 0x07; }
    else return false;
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      const uint8_t b = static_cast<uint8_t>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      c = (c << 6) | (b & 0x3F);
    }
    if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10FFFF)) || (c >= 0xD800 && c <= 0xDFFF)) {
      return false;
    }
    i += n;
  }
  return true;
}

std::string sanitize_utf8(std::string_view s) {
  if (is_valid_utf8(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 16);
  size_t off = 0;
  while (off < s.size()) append_utf8(out, decode_lenient(s, off));
  return out;
}

namespace {

struct ByteMap {
  std::array<uint32_t, 256> to_cpt{};
  std::array<std::string, 256> to_utf8;
  ByteMap() {
    // Bytes GPT-2 considers printable keep their code point; the others are shifted to 256+n.
    uint32_t n = 0;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      to_cpt[b] = printable ? b : 256 + n++;
      append_utf8(to_utf8[b], to_cpt[b]);
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap m;
  return m;
}

}  // namespace

uint32_t byte_to_cpt(uint8_t b) { return byte_map().to_cpt[b]; }
const std::string& byte_to_utf8(uint8_t b) { return byte_map().to_utf8[b]; }

int cpt_to_byte(uint32_t cpt) {
  if (cpt < 256) {
    const bool printable = (cpt >= 0x21 && cpt <= 0x7E) || (cpt >= 0xA1 && cpt <= 0xAC) || (cpt >= 0xAE);
    return printable ? static_cast<int>(cpt) : -1;
  }
  const ByteMap& m = byte_map();
  for (int b = 0; b < 256; ++b) {
    if (m.to_cpt[b] == cpt) return b;
  }
  return -1;
}

}  // namespace greta::unicode
