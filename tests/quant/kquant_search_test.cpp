// The lockstep K-quant scale search (all sub-blocks of a super-block at once) must give the
// same bytes as the plain one-sub-block-at-a-time transcription of ggml, on every input.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "greta/quant/quant_internal.h"

namespace greta {
namespace {

using quant_detail::KQuantSearch;

// Super-blocks exercising the search's branches: uniform data at several scales, constant and
// all-zero sub-blocks (degenerate range), all-positive and all-negative sub-blocks (min moved
// to 0), outliers, tiny values near the fp16 subnormal range, and per-sub-block scale changes.
std::vector<float> search_inputs() {
  std::vector<float> x;
  uint32_t s = 0xC0FFEEu;
  auto next = [&s]() {
    s = s * 1664525u + 1013904223u;
    return static_cast<float>(static_cast<int32_t>(s >> 8) - 8388608) * (1.0f / 8388608.0f);
  };
  const float scales[] = {1e-7f, 1e-3f, 0.05f, 1.0f, 40.0f, 3e4f};
  for (float sc : scales) {
    for (int rep = 0; rep < 8; ++rep) {
      for (int i = 0; i < 256; ++i) x.push_back(next() * sc);
    }
  }
  for (int variant = 0; variant < 24; ++variant) {
    const size_t base = x.size();
    for (int i = 0; i < 256; ++i) x.push_back(next());
    for (int sub = 0; sub < 16; ++sub) {
      float* p = &x[base + 16 * static_cast<size_t>(sub)];
      switch ((variant + sub) % 8) {
        case 0: for (int i = 0; i < 16; ++i) p[i] = 0.0f; break;
        case 1: for (int i = 0; i < 16; ++i) p[i] = 0.25f; break;
        case 2: for (int i = 0; i < 16; ++i) p[i] = std::fabs(p[i]) + 0.5f; break;
        case 3: for (int i = 0; i < 16; ++i) p[i] = -std::fabs(p[i]) - 0.01f; break;
        case 4: p[sub % 16] = (sub & 1) ? 100.0f : -250.0f; break;
        case 5: for (int i = 0; i < 16; ++i) p[i] *= 1e-6f; break;
        case 6: for (int i = 0; i < 16; ++i) p[i] = (i % 3 == 0) ? p[i] * 7.0f : 0.0f; break;
        default: break;
      }
    }
  }
  return x;
}

template <typename Block, typename Fn>
void expect_same_bytes(const char* name, Fn quantize) {
  const auto x = search_inputs();
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<Block> scalar(static_cast<size_t>(n / 256)), lockstep(scalar.size());
  quantize(x.data(), scalar.data(), n, KQuantSearch::kScalar);
  quantize(x.data(), lockstep.data(), n, KQuantSearch::kLockstep);
  for (size_t b = 0; b < scalar.size(); ++b) {
    ASSERT_EQ(std::memcmp(&scalar[b], &lockstep[b], sizeof(Block)), 0) << name << " block " << b;
  }
}

TEST(KQuantSearch, LockstepEqualsScalarQ2K) {
  expect_same_bytes<BlockQ2_K>("q2_K", [](const float* x, BlockQ2_K* y, int64_t n, KQuantSearch s) {
    quant_detail::quantize_q2_k(x, y, n, s);
  });
}

TEST(KQuantSearch, LockstepEqualsScalarQ4K) {
  expect_same_bytes<BlockQ4_K>("q4_K", [](const float* x, BlockQ4_K* y, int64_t n, KQuantSearch s) {
    quant_detail::quantize_q4_k(x, y, n, s);
  });
}

TEST(KQuantSearch, LockstepEqualsScalarQ5K) {
  expect_same_bytes<BlockQ5_K>("q5_K", [](const float* x, BlockQ5_K* y, int64_t n, KQuantSearch s) {
    quant_detail::quantize_q5_k(x, y, n, s);
  });
}

TEST(KQuantSearch, LockstepEqualsScalarQ6K) {
  expect_same_bytes<BlockQ6_K>("q6_K", [](const float* x, BlockQ6_K* y, int64_t n, KQuantSearch s) {
    quant_detail::quantize_q6_k(x, y, n, s);
  });
}

}  // namespace
}  // namespace greta
