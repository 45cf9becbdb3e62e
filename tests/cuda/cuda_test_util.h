#pragma once
// Helpers of the GPU backend tests: models, prompts, comparisons.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "greta/core/error.h"
#include "greta/cuda/cuda_backend.h"
#include "greta/runtime/session.h"

#define GRETA_REQUIRE_GPU()                                                   \
  do {                                                                        \
    if (!::greta::cuda::device_available()) GTEST_SKIP() << "no CUDA device"; \
  } while (0)

namespace greta::cuda_test {

// The "cuda" backend is registered before any test runs (as the CLIs do in CUDA builds).
inline const bool kCudaRegistered = (cuda::register_backend(), true);

// The options with the CUDA backend.
inline SessionOptions on_gpu(SessionOptions o) {
  o.backend = "cuda";
  return o;
}

// The source tree: $GRETA_SOURCE_DIR when set (binaries built on one machine and run on
// another, scripts/gpu_check.sh), else the configure-time path.
inline std::string source_dir() {
  const char* env = std::getenv("GRETA_SOURCE_DIR");
  return env != nullptr && *env != 0 ? env : GRETA_SOURCE_DIR;
}
inline std::string shipped_model(const char* name) { return source_dir() + "/models/" + name; }

// Loaded once per test binary.
inline const LoadedModel& cached_model(const std::string& path) {
  static std::vector<std::pair<std::string, std::unique_ptr<LoadedModel>>> cache;
  for (auto& [p, m] : cache) {
    if (p == path) return *m;
  }
  cache.emplace_back(path, load_model(path));
  return *cache.back().second;
}

// Deterministic pseudo-random ids in [0, n_vocab) (BOS first).
inline std::vector<TokenId> prompt_ids(int32_t n, int32_t n_vocab, uint32_t seed = 12345) {
  std::vector<TokenId> ids(static_cast<size_t>(n));
  uint32_t s = seed;
  for (int32_t i = 0; i < n; ++i) {
    s = s * 1664525u + 1013904223u;
    ids[i] = i == 0 ? 1 : static_cast<TokenId>((s >> 8) % static_cast<uint32_t>(n_vocab));
  }
  return ids;
}

inline bool bits_equal(const float* a, const float* b, int64_t n) {
  return std::memcmp(a, b, static_cast<size_t>(n) * sizeof(float)) == 0;
}

inline double max_abs_diff(const float* a, const float* b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(static_cast<double>(a[i]) - b[i]));
  return m;
}

inline double max_abs(const float* a, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(static_cast<double>(a[i])));
  return m;
}

inline TokenId argmax(const float* logits, int32_t n) {
  return static_cast<TokenId>(std::max_element(logits, logits + n) - logits);
}

}  // namespace greta::cuda_test
