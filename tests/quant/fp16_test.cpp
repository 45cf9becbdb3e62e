// fp16 / bf16 conversions: edge cases by value, and agreement with the compiler's own
// correctly rounded conversion over every half and a wide sample of floats.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include <gtest/gtest.h>

#include "greta/quant/quant.h"

namespace greta {
namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

TEST(Fp16, EdgeValues) {
  EXPECT_EQ(fp32_to_fp16(0.0f), 0x0000);
  EXPECT_EQ(fp32_to_fp16(-0.0f), 0x8000);
  EXPECT_EQ(fp32_to_fp16(1.0f), 0x3C00);
  EXPECT_EQ(fp32_to_fp16(-2.0f), 0xC000);
  EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7BFF);  // largest finite half
  EXPECT_EQ(fp32_to_fp16(65519.99f), 0x7BFF);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7C00);  // tie between 65504 and 65536 -> even (inf)
  EXPECT_EQ(fp32_to_fp16(1e10f), 0x7C00);
  EXPECT_EQ(fp32_to_fp16(-std::numeric_limits<float>::infinity()), 0xFC00);
  EXPECT_EQ(fp32_to_fp16(std::numeric_limits<float>::quiet_NaN()) & 0x7FFF, 0x7E00);
  EXPECT_EQ(fp32_to_fp16(-std::numeric_limits<float>::quiet_NaN()), 0xFE00);
  // Subnormals: 2^-24 is the smallest, 2^-14 the smallest normal.
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -14)), 0x0400);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1023.0f, -24)), 0x03FF);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);        // tie -> even (0)
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.5f, -25)), 0x0001);        // above the tie
  EXPECT_EQ(fp32_to_fp16(std::ldexp(3.0f, -25)), 0x0002);        // 1.5 ulp tie -> even (2)
  EXPECT_EQ(fp32_to_fp16(-std::ldexp(5.0f, -25)), 0x8002);       // 2.5 ulp tie -> even (2)
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -30)), 0x0000);
  EXPECT_EQ(fp32_to_fp16(-std::ldexp(1.0f, -30)), 0x8000);       // underflow keeps the sign
  // Normal ties: 1 + 2^-11 is halfway between 1 and 1 + 2^-10.
  EXPECT_EQ(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
  EXPECT_EQ(fp32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
  EXPECT_EQ(fp32_to_fp16(std::nextafter(1.0f + std::ldexp(1.0f, -11), 2.0f)), 0x3C01);
  // Rounding carries into the exponent: largest half below 2 rounds up to 2.
  EXPECT_EQ(fp32_to_fp16(std::nextafter(2.0f, 0.0f)), 0x4000);

  EXPECT_EQ(bits(fp16_to_fp32(0x8000)), 0x80000000u);
  EXPECT_EQ(fp16_to_fp32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(fp16_to_fp32(0x03FF), std::ldexp(1023.0f, -24));
  EXPECT_EQ(fp16_to_fp32(0x7BFF), 65504.0f);
  EXPECT_TRUE(std::isinf(fp16_to_fp32(0x7C00)));
  EXPECT_TRUE(std::isnan(fp16_to_fp32(0x7E00)));
  EXPECT_TRUE(std::isnan(fp16_to_fp32(0x7C01)));  // signalling payloads stay NaN
}

TEST(Fp16, EveryHalfRoundTripsAndMatchesTheCompiler) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
    _Float16 ch;
    const uint16_t hh = static_cast<uint16_t>(h);
    std::memcpy(&ch, &hh, sizeof ch);
    const float cf = static_cast<float>(ch);
    if (std::isnan(cf)) {
      ASSERT_TRUE(std::isnan(f)) << h;
      ASSERT_EQ(bits(f) >> 31, h >> 15) << h;
      continue;
    }
    ASSERT_EQ(bits(f), bits(cf)) << std::hex << h;
    ASSERT_EQ(fp32_to_fp16(f), h) << std::hex << h;
  }
}

TEST(Fp16, SampledFloatsMatchTheCompilersRounding) {
  // A stride co-prime with 2^32 visits every exponent and many mantissa patterns.
  uint32_t u = 0;
  for (int i = 0; i < 400000; ++i, u += 10739u * 1000u + 1u) {
    const float f = from_bits(u);
    if (std::isnan(f)) continue;
    const _Float16 ch = static_cast<_Float16>(f);
    uint16_t expected;
    std::memcpy(&expected, &ch, sizeof expected);
    ASSERT_EQ(fp32_to_fp16(f), expected) << std::hex << u;
  }
  // Every float around the subnormal range of half, densely.
  for (uint32_t b = 0x32F00000u; b < 0x38900000u; b += 61) {
    const float f = from_bits(b);
    const _Float16 ch = static_cast<_Float16>(f);
    uint16_t expected;
    std::memcpy(&expected, &ch, sizeof expected);
    ASSERT_EQ(fp32_to_fp16(f), expected) << std::hex << b;
  }
}

TEST(Bf16, EdgeValues) {
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(fp32_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(fp32_to_bf16(from_bits(0x3F808000u)), 0x3F80);  // tie -> even
  EXPECT_EQ(fp32_to_bf16(from_bits(0x3F818000u)), 0x3F82);  // tie -> even (up)
  EXPECT_EQ(fp32_to_bf16(from_bits(0x3F808001u)), 0x3F81);
  EXPECT_EQ(fp32_to_bf16(from_bits(0x00008000u)), 0x0000);  // subnormal tie -> even (0)
  EXPECT_EQ(fp32_to_bf16(from_bits(0x00018000u)), 0x0002);  // subnormals are kept, not flushed
  EXPECT_EQ(fp32_to_bf16(from_bits(0x7F7FFFFFu)), 0x7F80);  // max float rounds to inf
  EXPECT_EQ(fp32_to_bf16(std::numeric_limits<float>::infinity()), 0x7F80);
  EXPECT_EQ(fp32_to_bf16(from_bits(0x7F800001u)), 0x7FC0);  // signalling NaN made quiet
  EXPECT_EQ(fp32_to_bf16(from_bits(0xFFC12345u)), 0xFFC1);  // NaN payload and sign kept
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = bf16_to_fp32(static_cast<uint16_t>(h));
    ASSERT_EQ(bits(f), h << 16);
    if (!std::isnan(f)) {
      ASSERT_EQ(fp32_to_bf16(f), h);
    }
  }
}

}  // namespace
}  // namespace greta
