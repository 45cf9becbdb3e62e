// Round trips of pseudo-random data through every storage type, within per-type error bounds,
// plus block independence and the all-zero block.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "greta/quant/quant.h"
#include "greta/quant/types.h"

namespace greta {
namespace {

const TensorType kStorageTypes[] = {
    TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q8_0, TensorType::Q4_0,
    TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q2_K, TensorType::Q3_K,
    TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K};

// Deterministic uniform values in [-scale, scale), independent of the standard library.
std::vector<float> random_row(int64_t n, uint32_t seed, float scale) {
  std::vector<float> x(static_cast<size_t>(n));
  uint32_t s = seed;
  for (auto& v : x) {
    s = s * 1664525u + 1013904223u;
    v = static_cast<float>(static_cast<int32_t>(s >> 8) - 8388608) * (scale / 8388608.0f);
  }
  return x;
}

std::vector<float> round_trip(TensorType type, const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint16_t> q(static_cast<size_t>(tensor_row_bytes(type, n) + 1) / 2);
  quantize_row(type, x.data(), q.data(), n);
  std::vector<float> y(x.size());
  dequantize_row(type, q.data(), y.data(), n);
  return y;
}

// Largest |error| allowed, as a fraction of the largest |x| of the row, and the largest rms
// error as a fraction of the rms of the data (uniform data at scales 1e-3, 1 and 300).
// F16/BF16 bounds are exact (half an ulp). The quantized types' bounds are the worst measured
// value x 1.25; the worst cases are the 1e-3 rows, where the fp16 block scale is subnormal.
// Measured worst (max, rms): q8_0 .0073 .0045, q4_0 .125 .067 (the level +8 does not exist, so
// the side opposite the extreme is off by up to one step), q4_1 .066 .061, q5_0 .062 .032,
// q5_1 .033 .030, q2_K .394 .238, q3_K .255 .127, q4_K .103 .057, q5_K .070 .030, q6_K .068 .024.
struct Bound {
  TensorType type;
  double max_rel;
  double rms_rel;
};
const Bound kBounds[] = {
    {TensorType::F32, 0.0, 0.0},         {TensorType::F16, 1.0 / 2048, 1.0 / 2048},
    {TensorType::BF16, 1.0 / 256, 1.0 / 256}, {TensorType::Q8_0, 0.0091, 0.0056},
    {TensorType::Q4_0, 0.156, 0.084},    {TensorType::Q4_1, 0.083, 0.077},
    {TensorType::Q5_0, 0.078, 0.040},    {TensorType::Q5_1, 0.041, 0.037},
    {TensorType::Q2_K, 0.49, 0.30},      {TensorType::Q3_K, 0.32, 0.16},
    {TensorType::Q4_K, 0.13, 0.071},     {TensorType::Q5_K, 0.087, 0.037},
    {TensorType::Q6_K, 0.085, 0.030},
};

class RoundTripTest : public ::testing::TestWithParam<Bound> {};

TEST_P(RoundTripTest, ErrorWithinBounds) {
  const Bound b = GetParam();
  for (uint32_t seed : {1u, 2u, 3u}) {
    for (float scale : {1e-3f, 1.0f, 300.0f}) {
      const auto x = random_row(4096, seed, scale);
      const auto y = round_trip(b.type, x);
      double max_abs = 0, max_err = 0, sum_x2 = 0, sum_e2 = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        const double e = std::fabs(static_cast<double>(y[i]) - x[i]);
        max_abs = std::max(max_abs, std::fabs(static_cast<double>(x[i])));
        max_err = std::max(max_err, e);
        sum_x2 += static_cast<double>(x[i]) * x[i];
        sum_e2 += e * e;
        ASSERT_TRUE(std::isfinite(y[i]));
      }
      const double rms_rel = std::sqrt(sum_e2 / sum_x2);
      EXPECT_LE(max_err, b.max_rel * max_abs)
          << tensor_type_name(b.type) << " seed " << seed << " scale " << scale;
      EXPECT_LE(rms_rel, b.rms_rel)
          << tensor_type_name(b.type) << " seed " << seed << " scale " << scale;
      if (seed == 1 && scale == 1.0f) {
        RecordProperty("max_rel", std::to_string(max_err / max_abs));
        RecordProperty("rms_rel", std::to_string(rms_rel));
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllStorageTypes, RoundTripTest, ::testing::ValuesIn(kBounds),
                         [](const auto& info) { return std::string(tensor_type_name(info.param.type)); });

class BlockwiseTest : public ::testing::TestWithParam<TensorType> {};

// A multi-block row quantizes to the concatenation of its blocks quantized one by one.
TEST_P(BlockwiseTest, RowIsConcatenationOfBlocks) {
  const TensorType type = GetParam();
  const auto& info = tensor_type_info(type);
  const int64_t n = 4 * 256;
  const auto x = random_row(n, 7, 2.0f);
  std::vector<uint8_t> whole(static_cast<size_t>(tensor_row_bytes(type, n)));
  std::vector<uint8_t> parts(whole.size());
  // Blocks hold fp16 scales: quantize into 2-byte aligned storage.
  std::vector<uint16_t> buf((whole.size() + 1) / 2);
  quantize_row(type, x.data(), buf.data(), n);
  std::memcpy(whole.data(), buf.data(), whole.size());
  for (int64_t b = 0; b < n / info.block_size; ++b) {
    quantize_row(type, x.data() + b * info.block_size, buf.data(), info.block_size);
    std::memcpy(parts.data() + b * info.type_size, buf.data(), static_cast<size_t>(info.type_size));
  }
  EXPECT_EQ(whole, parts);
}

// All-zero input decodes to zeros (ggml keeps -0.0 for Q4_0/Q5_0, whose stored d is -0).
TEST_P(BlockwiseTest, ZeroBlockDecodesToZero) {
  const TensorType type = GetParam();
  const std::vector<float> x(256, 0.0f);
  const auto y = round_trip(type, x);
  for (float v : y) ASSERT_EQ(v, 0.0f) << tensor_type_name(type);
}

INSTANTIATE_TEST_SUITE_P(AllStorageTypes, BlockwiseTest, ::testing::ValuesIn(kStorageTypes),
                         [](const auto& info) { return std::string(tensor_type_name(info.param)); });

TEST(Quantize, ZeroBlockScaleSignMatchesGgml) {
  const std::vector<float> x(32, 0.0f);
  uint16_t q[32];
  quantize_row(TensorType::Q4_0, x.data(), q, 32);
  EXPECT_EQ(q[0], 0x8000);  // d = 0 / -8 = -0
  quantize_row(TensorType::Q5_0, x.data(), q, 32);
  EXPECT_EQ(q[0], 0x8000);
  quantize_row(TensorType::Q8_0, x.data(), q, 32);
  EXPECT_EQ(q[0], 0x0000);
  quantize_row(TensorType::Q4_1, x.data(), q, 32);
  EXPECT_EQ(q[0], 0x0000);
}

}  // namespace
}  // namespace greta

namespace greta {
namespace {

// GGUF data may be 1-byte aligned (general.alignment = 1): every type must decode and encode
// at an odd address, with the same result (the sanitizer build checks the accesses).
TEST_P(BlockwiseTest, OddAddressesGiveSameResult) {
  const TensorType type = GetParam();
  const int64_t n = 512;
  const auto x = random_row(n, 11, 3.0f);
  const size_t bytes = static_cast<size_t>(tensor_row_bytes(type, n));
  std::vector<uint8_t> aligned_buf(bytes + 16), odd_buf(bytes + 16);
  uint8_t* aligned = aligned_buf.data();
  while (reinterpret_cast<uintptr_t>(aligned) % 16 != 0) ++aligned;
  uint8_t* odd = odd_buf.data() + 1;
  while (reinterpret_cast<uintptr_t>(odd) % 2 == 0) ++odd;
  quantize_row(type, x.data(), aligned, n);
  quantize_row(type, x.data(), odd, n);
  ASSERT_EQ(std::memcmp(aligned, odd, bytes), 0);
  std::vector<float> ya(static_cast<size_t>(n)), yo(static_cast<size_t>(n));
  dequantize_row(type, aligned, ya.data(), n);
  dequantize_row(type, odd, yo.data(), n);
  ASSERT_EQ(std::memcmp(ya.data(), yo.data(), ya.size() * sizeof(float)), 0);
}

}  // namespace
}  // namespace greta
