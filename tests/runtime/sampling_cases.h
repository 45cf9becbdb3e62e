#pragma once
// Random logit rows and sampling settings for the sampling-op tests (CPU: tests/runtime, GPU:
// tests/cuda): ties, NaN, infinities, signed zeros, huge and tiny values; every parameter of
// backend::SampleParams on and off, around the device's candidate limit (1024) and the vocabulary
// size.

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "greta/backend/sampling.h"

namespace greta::sampling_test {

struct SampleCase {
  std::vector<float> logits;  // [n_vocab]
  backend::SampleParams params;
  double u = 0.0;
};

// Row kinds: 0 normal, 1 few distinct values (many ties), 2 specials sprinkled (NaN, +-inf,
// +-0), 3 all equal, 4 all NaN / -inf, 5 a +inf among normals, 6 huge magnitudes, 7 a sharp
// peak (near-greedy), 8 ties at the top-k boundary.
inline std::vector<float> make_logits(int32_t n_vocab, int kind, std::mt19937_64& rng) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::uniform_int_distribution<int32_t> pick(0, n_vocab - 1);
  std::vector<float> l(static_cast<size_t>(n_vocab));
  for (auto& v : l) v = nd(rng);
  switch (kind) {
    case 1:
      for (auto& v : l) v = std::round(v * 0.5f) * 2.0f;  // a handful of values
      break;
    case 2:
      for (int i = 0; i < n_vocab / 16 + 1; ++i) {
        const float specials[] = {nan, inf, -inf, 0.0f, -0.0f, -nan};
        l[static_cast<size_t>(pick(rng))] = specials[static_cast<size_t>(pick(rng)) % 6];
      }
      if (l[0] == l[0]) l[0] = -0.0f;
      break;
    case 3:
      for (auto& v : l) v = 1.25f;
      break;
    case 4:
      for (size_t i = 0; i < l.size(); ++i) l[i] = i % 3 == 0 ? -inf : nan;
      break;
    case 5:
      l[static_cast<size_t>(pick(rng))] = inf;
      l[static_cast<size_t>(pick(rng))] = inf;
      break;
    case 6:
      for (auto& v : l) v *= 1e37f;
      break;
    case 7:
      l[static_cast<size_t>(pick(rng))] = 40.0f;
      break;
    case 8: {
      // The maximum repeated on many ids, and a block of equal values around rank 40 and 1024.
      for (auto& v : l) v = std::round(v * 4.0f) * 0.25f;
      for (int i = 0; i < 60; ++i) l[static_cast<size_t>(pick(rng))] = 9.0f;
      break;
    }
    default:
      break;
  }
  return l;
}

inline backend::SampleParams make_params(int32_t n_vocab, std::mt19937_64& rng) {
  const float temps[] = {0.0f, 0.0f, 0.05f, 0.7f, 0.8f, 1.0f, 1.7f, 100.0f, 1e-30f};
  const int32_t top_ks[] = {0, -1, 1, 2, 40, 40, 100, 1000, 1024, 1025, n_vocab - 1, n_vocab, n_vocab + 7};
  const float top_ps[] = {1.0f, 0.95f, 0.95f, 0.5f, 0.9999f, 0.0f, 1.5f};
  const float min_ps[] = {0.0f, 0.05f, 0.05f, 0.5f, 1.0f, -1.0f, 1e-6f};
  auto at = [&](const auto& a) { return a[rng() % (sizeof(a) / sizeof(a[0]))]; };
  return backend::SampleParams{at(temps), at(top_ks), at(top_ps), at(min_ps)};
}

// `count` cases over one vocabulary size; draws from greta's PRNG (the top 53 bits of
// mt19937_64), plus the extreme draws 0 and 1 - 2^-53.
inline std::vector<SampleCase> make_cases(int32_t n_vocab, int count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<SampleCase> out;
  for (int i = 0; i < count; ++i) {
    SampleCase c;
    c.logits = make_logits(n_vocab, i % 9, rng);
    c.params = make_params(n_vocab, rng);
    c.u = i % 17 == 0 ? 0.0 : i % 17 == 1 ? 1.0 - 0x1.0p-53 : static_cast<double>(rng() >> 11) * 0x1.0p-53;
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace greta::sampling_test
