// HuffmanGzipWriter produces standard gzip: zlib inflates it back to the exact input, for
// empty, tiny, skewed (length-limited codes), random and multi-block inputs.

#include <random>

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "dump/dump_fixtures.h"
#include "greta/dump/gzip_stream.h"
#include "greta/dump/huffman_gzip.h"

namespace greta::dump {
namespace {

std::string round_trip(const std::string& data, size_t piece) {
  testing::TempDir tmp;
  std::string path = tmp.sub("x.gz");
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  EXPECT_GE(fd, 0);
  uint64_t bytes = 0;
  {
    HuffmanGzipWriter w(fd, path);
    for (size_t i = 0; i < data.size(); i += piece) w.write(std::string_view(data).substr(i, piece));
    w.finish();
    bytes = w.compressed_bytes();
  }
  ::close(fd);
  EXPECT_EQ(bytes, std::filesystem::file_size(path));
  int rfd = ::open(path.c_str(), O_RDONLY);
  GunzipResult r = gunzip_fd(rfd, path);
  ::close(rfd);
  EXPECT_EQ(r.compressed_bytes, bytes);
  // The system's gzip agrees (CRC and length trailer included).
  EXPECT_EQ(std::system(("gzip -t '" + path + "'").c_str()), 0);
  return r.text;
}

TEST(HuffmanGzip, RoundTrips) {
  std::mt19937_64 rng(5);
  std::vector<std::string> inputs = {"", "a", "ab", std::string(100000, 'z'), "{\"token_idx\":1,\"logits\":[1.5,-2]}\n"};
  std::string random(1500000, '\0');  // all 256 byte values, three blocks
  for (auto& c : random) c = static_cast<char>(rng());
  inputs.push_back(random);
  // Fibonacci-like frequencies: an unlimited Huffman code would be deeper than 15 bits.
  std::string skewed;
  uint64_t f1 = 1, f2 = 1;
  for (int s = 0; s < 26; ++s) {
    skewed.append(static_cast<size_t>(f1), static_cast<char>('A' + s));
    uint64_t f3 = f1 + f2;
    f1 = f2;
    f2 = f3;
  }
  inputs.push_back(skewed);
  std::string exact(size_t{1} << 19, 'q');  // exactly one block
  inputs.push_back(exact);
  for (const auto& in : inputs) {
    for (size_t piece : {size_t{1} << 30, size_t{4097}}) {
      std::string out = round_trip(in, piece);
      ASSERT_EQ(out.size(), in.size());
      EXPECT_TRUE(out == in) << "input of " << in.size() << " bytes";
    }
  }
}

}  // namespace
}  // namespace greta::dump
