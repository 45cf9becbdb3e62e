#include "greta/dump/gzip_stream.h"

#include <cerrno>
#include <cstring>

#include <unistd.h>

#include "greta/core/error.h"

namespace greta::dump {

namespace {

constexpr size_t kOutBytes = size_t{1} << 18;
constexpr size_t kInBytes = size_t{1} << 18;

}  // namespace

GzipWriter::GzipWriter(int fd, std::string name, int level, int strategy)
    : fd_(fd), name_(std::move(name)), out_(kOutBytes) {
  // windowBits 15 + 16: a gzip wrapper (header + CRC-32 + size trailer) rather than zlib's.
  if (deflateInit2(&zs_, level, Z_DEFLATED, 15 + 16, 8, strategy) != Z_OK) {
    fail("'" + name_ + "': cannot initialise zlib deflate");
  }
  initialised_ = true;
  compressed_crc_ = static_cast<uint32_t>(crc32(0L, Z_NULL, 0));
}

GzipWriter::~GzipWriter() {
  if (initialised_) deflateEnd(&zs_);
}

void GzipWriter::write_out(const unsigned char* p, size_t n) {
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
}

void GzipWriter::drain(int flush) {
  for (;;) {
    zs_.next_out = out_.data();
    zs_.avail_out = static_cast<uInt>(out_.size());
    int rc = deflate(&zs_, flush);
    if (rc == Z_STREAM_ERROR) fail("'" + name_ + "': zlib deflate failed");
    size_t produced = out_.size() - zs_.avail_out;
    if (produced) write_out(out_.data(), produced);
    if (flush == Z_FINISH) {
      if (rc == Z_STREAM_END) return;
    } else if (zs_.avail_in == 0 && zs_.avail_out != 0) {
      return;
    }
  }
}

void GzipWriter::write(std::string_view data) {
  GRETA_ASSERT(!finished_);
  // zlib's avail_in is 32-bit: feed huge buffers in pieces.
  while (!data.empty()) {
    size_t n = data.size() < (size_t{1} << 30) ? data.size() : (size_t{1} << 30);
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs_.avail_in = static_cast<uInt>(n);
    drain(Z_NO_FLUSH);
    data.remove_prefix(n);
  }
}

void GzipWriter::finish() {
  GRETA_ASSERT(!finished_);
  zs_.next_in = nullptr;
  zs_.avail_in = 0;
  drain(Z_FINISH);
  finished_ = true;
}

GunzipResult gunzip_fd(int fd, const std::string& display) {
  GunzipResult r;
  r.compressed_crc32 = static_cast<uint32_t>(crc32(0L, Z_NULL, 0));
  std::vector<unsigned char> in(kInBytes);
  std::vector<unsigned char> out(kOutBytes);

  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) fail("'" + display + "': cannot initialise zlib inflate");
  struct Guard {
    z_stream* z;
    ~Guard() { inflateEnd(z); }
  } guard{&zs};

  bool first_chunk = true;
  bool in_member = true;     // inside a gzip member (expecting more compressed data)
  bool eof = false;
  size_t pending = 0;        // unconsumed input bytes at the start of `in`
  while (true) {
    if (!eof && pending < 18) {
      if (pending > 0 && zs.next_in != in.data()) std::memmove(in.data(), zs.next_in, pending);
      ssize_t n;
      do {
        n = ::read(fd, in.data() + pending, in.size() - pending);
      } while (n < 0 && errno == EINTR);
      if (n < 0) fail("reading '" + display + "': " + std::strerror(errno), kExitUsage);
      if (n == 0) eof = true;
      r.compressed_crc32 = static_cast<uint32_t>(
          crc32(r.compressed_crc32, in.data() + pending, static_cast<uInt>(n)));
      r.compressed_bytes += static_cast<uint64_t>(n);
      pending += static_cast<size_t>(n);
      zs.next_in = in.data();
      zs.avail_in = static_cast<uInt>(pending);
      if (first_chunk) {
        first_chunk = false;
        if (pending == 0) fail("'" + display + "' is empty (expected gzip data)", kExitUsage);
        if (pending < 2 || in[0] != 0x1f || in[1] != 0x8b) {
          fail("'" + display + "' is not a gzip file (bad magic bytes)", kExitUsage);
        }
      }
    }
    if (pending == 0 && eof) break;
    if (!in_member) {
      // Another member may follow; anything else is trailing garbage.
      if (pending >= 1 && zs.next_in[0] != 0x1f) {
        fail("'" + display + "': trailing garbage after the gzip data", kExitUsage);
      }
      if (pending >= 2 && zs.next_in[1] != 0x8b) {
        fail("'" + display + "': trailing garbage after the gzip data", kExitUsage);
      }
      if (inflateReset(&zs) != Z_OK) fail("'" + display + "': zlib inflateReset failed");
      in_member = true;
    }
    zs.next_out = out.data();
    zs.avail_out = static_cast<uInt>(out.size());
    int rc = inflate(&zs, Z_NO_FLUSH);
    r.text.append(reinterpret_cast<const char*>(out.data()), out.size() - zs.avail_out);
    pending = zs.avail_in;
    if (rc == Z_STREAM_END) {
      in_member = false;
      continue;
    }
    if (rc == Z_DATA_ERROR) {
      fail("'" + display + "' is corrupt gzip data (" + (zs.msg ? zs.msg : "data error") + ")",
           kExitUsage);
    }
    if (rc == Z_MEM_ERROR) fail("'" + display + "': out of memory while inflating");
    if (rc == Z_BUF_ERROR || rc == Z_OK) {
      if (eof && zs.avail_out != 0) {
        // No progress possible: the input ended inside a member.
        fail("'" + display + "' is a truncated gzip file (unexpected end of data)", kExitUsage);
      }
      continue;
    }
    fail("'" + display + "': zlib inflate error " + std::to_string(rc), kExitUsage);
  }
  if (in_member) fail("'" + display + "' is a truncated gzip file (unexpected end of data)", kExitUsage);
  return r;
}

}  // namespace greta::dump
