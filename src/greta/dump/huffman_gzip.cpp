#include "greta/dump/huffman_gzip.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <queue>

#include <unistd.h>
#include <zlib.h>

#include "greta/core/error.h"

namespace greta::dump {

namespace {

constexpr size_t kBlockBytes = size_t{1} << 19;
constexpr size_t kOutFlushBytes = size_t{1} << 18;
constexpr int kNumLit = 257;  // literals 0..255 and end-of-block; no length codes are used

// Huffman code lengths for freq[0..n) limited to `limit` bits. Symbols with zero frequency get
// length 0. A lone symbol gets a partner so that the code is complete (inflate insists).
void build_lengths(const uint64_t* freq_in, int n, int limit, uint8_t* len) {
  std::vector<uint64_t> freq(freq_in, freq_in + n);
  int used = 0;
  for (int i = 0; i < n; ++i) used += freq[i] > 0;
  if (used < 2) {
    for (int i = 0; i < n && used < 2; ++i) {
      if (freq[i] == 0) {
        freq[i] = 1;
        ++used;
      }
    }
  }
  for (;;) {
    // Nodes 0..n-1 are leaves; parents follow. Ties break on the node index: deterministic.
    using Item = std::pair<uint64_t, int>;
    std::priority_queue<Item, std::vector<Item>, std::greater<Item>> pq;
    std::vector<int> parent(2 * static_cast<size_t>(n), -1);
    for (int i = 0; i < n; ++i) {
      if (freq[i] > 0) pq.push({freq[i], i});
    }
    int next = n;
    while (pq.size() > 1) {
      Item a = pq.top();
      pq.pop();
      Item b = pq.top();
      pq.pop();
      parent[static_cast<size_t>(a.second)] = next;
      parent[static_cast<size_t>(b.second)] = next;
      pq.push({a.first + b.first, next});
      ++next;
    }
    int max_len = 0;
    for (int i = 0; i < n; ++i) {
      int d = 0;
      if (freq[i] > 0) {
        for (int p = parent[static_cast<size_t>(i)]; p >= 0; p = parent[static_cast<size_t>(p)]) ++d;
      }
      len[i] = static_cast<uint8_t>(d);
      max_len = std::max(max_len, d);
    }
    if (max_len <= limit) return;
    // Flatten the distribution and rebuild; converges because equal weights give a balanced tree.
    for (auto& f : freq) {
      if (f > 0) f = (f >> 1) | 1;
    }
  }
}

// Canonical codes (RFC 1951, 3.2.2), bit-reversed for LSB-first emission.
void build_codes(const uint8_t* len, int n, uint32_t* code) {
  std::array<uint32_t, 16> bl_count{};
  for (int i = 0; i < n; ++i) bl_count[len[i]]++;
  bl_count[0] = 0;
  std::array<uint32_t, 16> next{};
  uint32_t c = 0;
  for (int bits = 1; bits < 16; ++bits) {
    c = (c + bl_count[bits - 1]) << 1;
    next[bits] = c;
  }
  for (int i = 0; i < n; ++i) {
    int l = len[i];
    if (l == 0) {
      code[i] = 0;
      continue;
    }
    uint32_t v = next[l]++;
    uint32_t r = 0;
    for (int k = 0; k < l; ++k) r |= ((v >> k) & 1u) << (l - 1 - k);
    code[i] = r;
  }
}

}  // namespace

HuffmanGzipWriter::HuffmanGzipWriter(int fd, std::string name)
    : fd_(fd), name_(std::move(name)), block_(kBlockBytes) {
  crc_ = static_cast<uint32_t>(crc32(0L, Z_NULL, 0));
  compressed_crc_ = crc_;
  out_.reserve(kOutFlushBytes + kBlockBytes + 1024);
  // gzip header: magic, CM=deflate, no flags, no mtime (reproducible), XFL=4 (fastest), OS=3.
  const unsigned char header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 3};
  out_.insert(out_.end(), header, header + sizeof(header));
}

void HuffmanGzipWriter::flush_out() {
  const unsigned char* p = out_.data();
  size_t n = out_.size();
  compressed_crc_ = static_cast<uint32_t>(crc32(compressed_crc_, p, static_cast<uInt>(n)));
  compressed_bytes_ += n;
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("writing '" + name_ + "': " + std::strerror(errno));
    }
    if (w == 0) fail("writing '" + name_ + "': no space left (short write)");
    p += w;
    n -= static_cast<size_t>(w);
  }
  out_.clear();
}

void HuffmanGzipWriter::write(std::string_view data) {
  GRETA_ASSERT(!finished_);
  crc_ = static_cast<uint32_t>(crc32(crc_, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
  isize_ += data.size();
  while (!data.empty()) {
    size_t n = std::min(data.size(), kBlockBytes - block_len_);
    std::memcpy(block_.data() + block_len_, data.data(), n);
    block_len_ += n;
    data.remove_prefix(n);
    if (block_len_ == kBlockBytes) encode_block(false);
  }
}

void HuffmanGzipWriter::encode_block(bool final) {
  const unsigned char* p = block_.data();
  const size_t n = block_len_;

  // Literal/length code over the block's bytes plus end-of-block.
  std::array<uint64_t, kNumLit> freq{};
  for (size_t i = 0; i < n; ++i) freq[p[i]]++;
  freq[256] = 1;
  std::array<uint8_t, kNumLit> lit_len{};
  build_lengths(freq.data(), kNumLit, 15, lit_len.data());
  std::array<uint32_t, kNumLit> lit_code{};
  build_codes(lit_len.data(), kNumLit, lit_code.data());

  // The code lengths (257 literal + 2 distance codes of 1 bit, a complete unused distance
  // code), run-length coded with symbols 16/17/18 (RFC 1951, 3.2.7).
  std::array<uint8_t, kNumLit + 2> lens{};
  std::copy(lit_len.begin(), lit_len.end(), lens.begin());
  lens[kNumLit] = 1;
  lens[kNumLit + 1] = 1;
  struct ClSym {
    uint8_t sym, extra_bits, extra;
  };
  std::vector<ClSym> cl;
  for (size_t i = 0; i < lens.size();) {
    uint8_t l = lens[i];
    size_t run = 1;
    while (i + run < lens.size() && lens[i + run] == l) ++run;
    if (l == 0) {
      size_t left = run;
      while (left >= 11) {
        size_t r = std::min<size_t>(left, 138);
        cl.push_back({18, 7, static_cast<uint8_t>(r - 11)});
        left -= r;
      }
      if (left >= 3) {
        cl.push_back({17, 3, static_cast<uint8_t>(left - 3)});
        left = 0;
      }
      while (left-- > 0) cl.push_back({0, 0, 0});
    } else {
      cl.push_back({l, 0, 0});
      size_t left = run - 1;
      while (left >= 3) {
        size_t r = std::min<size_t>(left, 6);
        cl.push_back({16, 2, static_cast<uint8_t>(r - 3)});
        left -= r;
      }
      while (left-- > 0) cl.push_back({l, 0, 0});
    }
    i += run;
  }
  std::array<uint64_t, 19> cl_freq{};
  for (const ClSym& s : cl) cl_freq[s.sym]++;
  std::array<uint8_t, 19> cl_len{};
  build_lengths(cl_freq.data(), 19, 7, cl_len.data());
  std::array<uint32_t, 19> cl_code{};
  build_codes(cl_len.data(), 19, cl_code.data());
  static constexpr uint8_t kClOrder[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
  int hclen = 19;
  while (hclen > 4 && cl_len[kClOrder[hclen - 1]] == 0) --hclen;

  // Block header.
  put_bits(final ? 1 : 0, 1);
  put_bits(2, 2);                    // BTYPE 10: dynamic Huffman
  put_bits(kNumLit - 257, 5);        // HLIT
  put_bits(2 - 1, 5);                // HDIST
  put_bits(static_cast<uint64_t>(hclen - 4), 4);
  for (int i = 0; i < hclen; ++i) put_bits(cl_len[kClOrder[i]], 3);
  for (const ClSym& s : cl) {
    put_bits(cl_code[s.sym], cl_len[s.sym]);
    if (s.extra_bits) put_bits(s.extra, s.extra_bits);
  }

  // The data: one code (<= 15 bits) per byte, branch-free: after each code the whole bytes of
  // the bit buffer are stored (an 8-byte store, advanced by 0-2 bytes) and < 8 bits stay.
  // Flush the bit buffer to a byte count first so the fast loop starts from < 8 pending bits.
  while (bitcount_ >= 8) {
    out_.push_back(static_cast<unsigned char>(bitbuf_));
    bitbuf_ >>= 8;
    bitcount_ -= 8;
  }
  std::array<uint32_t, 256> table{};  // code | length << 16
  for (int b = 0; b < 256; ++b) table[b] = lit_code[b] | (static_cast<uint32_t>(lit_len[b]) << 16);
  size_t base = out_.size();
  out_.resize(base + n * 2 + 16);  // <= 15 bits per byte, plus the 8-byte store's slack
  unsigned char* dst = out_.data() + base;
  uint64_t bits = bitbuf_;
  unsigned cnt = static_cast<unsigned>(bitcount_);
  for (size_t i = 0; i < n; ++i) {
    uint32_t e = table[p[i]];
    bits |= static_cast<uint64_t>(e & 0xffffu) << cnt;
    cnt += e >> 16;
    std::memcpy(dst, &bits, 8);
    unsigned whole = cnt >> 3;
    dst += whole;
    bits >>= whole * 8;
    cnt &= 7;
  }
  out_.resize(static_cast<size_t>(dst - out_.data()));
  bitbuf_ = bits;
  bitcount_ = static_cast<int>(cnt);
  put_bits(lit_code[256], lit_len[256]);
  block_len_ = 0;
  if (out_.size() >= kOutFlushBytes) flush_out();
}

void HuffmanGzipWriter::finish() {
  GRETA_ASSERT(!finished_);
  encode_block(true);
  if (bitcount_ > 0) {
    // Pad to a byte boundary.
    int bytes = (bitcount_ + 7) / 8;
    for (int i = 0; i < bytes; ++i) out_.push_back(static_cast<unsigned char>(bitbuf_ >> (8 * i)));
    bitbuf_ = 0;
    bitcount_ = 0;
  }
  for (int i = 0; i < 4; ++i) out_.push_back(static_cast<unsigned char>(crc_ >> (8 * i)));
  for (int i = 0; i < 4; ++i) out_.push_back(static_cast<unsigned char>(isize_ >> (8 * i)));
  flush_out();
  finished_ = true;
}

}  // namespace greta::dump
