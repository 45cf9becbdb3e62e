#pragma once
// A gzip writer that codes each block with a dynamic Huffman code and no LZ77 matching: the
// format zlib produces with Z_HUFFMAN_ONLY, at several times its speed.
//
// Why: logits text ("-3.4567891,") is digits with little repetition; LZ77 matching buys ~5%
// size for 2-3x the time, and zlib's per-symbol bookkeeping makes even its Huffman-only mode
// ~100 MB/s, well below the 10 M logits/s (~105 MB/s of text) the dump must sustain on one core.
// Here a block is counted, a length-limited Huffman code built (RFC 1951, 3.2.7), and the bytes
// emitted through a 64-bit bit buffer. The output is standard gzip (RFC 1952), read back by
// zlib's inflate in read_dump and by any gunzip; the tests round-trip it. CRC-32 is zlib's.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace greta::dump {

class HuffmanGzipWriter {
 public:
  // `fd` stays owned by the caller; `name` is used in error messages.
  HuffmanGzipWriter(int fd, std::string name);
  HuffmanGzipWriter(const HuffmanGzipWriter&) = delete;
  HuffmanGzipWriter& operator=(const HuffmanGzipWriter&) = delete;

  void write(std::string_view data);
  // Codes the last block and writes the gzip trailer. No write() after it.
  void finish();

  uint64_t compressed_bytes() const { return compressed_bytes_; }
  uint32_t compressed_crc32() const { return compressed_crc_; }  // CRC-32 of the file's bytes

 private:
  void encode_block(bool final);
  void put_bits(uint64_t bits, int n) {
    bitbuf_ |= bits << bitcount_;
    bitcount_ += n;
    if (bitcount_ >= 32) {
      uint32_t w = static_cast<uint32_t>(bitbuf_);
      for (int i = 0; i < 4; ++i) out_.push_back(static_cast<unsigned char>(w >> (8 * i)));
      bitbuf_ >>= 32;
      bitcount_ -= 32;
    }
  }
  void flush_out();

  int fd_;
  std::string name_;
  std::vector<unsigned char> block_;  // [kBlockBytes] uncompressed bytes of the current block
  size_t block_len_ = 0;
  std::vector<unsigned char> out_;    // compressed bytes not yet written
  uint64_t bitbuf_ = 0;
  int bitcount_ = 0;
  uint32_t crc_ = 0;                  // CRC-32 of the uncompressed data (gzip trailer)
  uint64_t isize_ = 0;
  uint64_t compressed_bytes_ = 0;
  uint32_t compressed_crc_ = 0;
  bool finished_ = false;
};

}  // namespace greta::dump
