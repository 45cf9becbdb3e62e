#pragma once
// gzip through zlib, with the error reporting the dump contract needs.
//
// GzipWriter streams zlib deflate output to an already-open file descriptor and reports every short
// write (disk full, RLIMIT_FSIZE, EIO) as greta::Error. gunzip_file() inflates a whole file and
// tells "not gzip", "truncated" and "corrupt" apart, which zlib's gzread() does not (it passes
// non-gzip bytes through unchanged and hides truncation behind a generic error).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <zlib.h>

namespace greta::dump {

// zlib's fastest useful setting for logits text, the baseline HuffmanGzipWriter (huffman_gzip.h)
// replaces for speed: level 1 with Z_HUFFMAN_ONLY (greta_bench_dump --sweep compares them).
inline constexpr int kDumpDeflateLevel = 1;
inline constexpr int kDumpDeflateStrategy = Z_HUFFMAN_ONLY;

class GzipWriter {
 public:
  // `fd` stays owned by the caller; `name` is used in error messages.
  GzipWriter(int fd, std::string name, int level = kDumpDeflateLevel,
             int strategy = kDumpDeflateStrategy);
  ~GzipWriter();
  GzipWriter(const GzipWriter&) = delete;
  GzipWriter& operator=(const GzipWriter&) = delete;

  void write(std::string_view data);
  // Flushes the gzip trailer. No write() after it.
  void finish();

  uint64_t compressed_bytes() const { return compressed_bytes_; }
  uint32_t compressed_crc32() const { return compressed_crc_; }  // CRC-32 of the file's bytes

 private:
  void drain(int flush);
  void write_out(const unsigned char* p, size_t n);

  int fd_;
  std::string name_;
  z_stream zs_{};
  bool initialised_ = false;
  bool finished_ = false;
  std::vector<unsigned char> out_;  // [kOutBytes] deflate output staging
  uint64_t compressed_bytes_ = 0;
  uint32_t compressed_crc_ = 0;
};

// The bytes of a gzip file and what they inflate to.
struct GunzipResult {
  std::string text;             // the inflated content
  uint64_t compressed_bytes = 0;
  uint32_t compressed_crc32 = 0;  // CRC-32 of the file's bytes
};

// Reads and inflates `path` from the open descriptor `fd` (one or more concatenated members).
// Throws greta::Error(kExitUsage) naming `display` when the file is not gzip, is truncated, is
// corrupt or has trailing garbage.
GunzipResult gunzip_fd(int fd, const std::string& display);

}  // namespace greta::dump
