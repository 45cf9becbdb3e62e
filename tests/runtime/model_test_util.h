#pragma once
// Helpers shared by the model-level runtime tests (acceptance, equivalence).

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "greta/runtime/session.h"

namespace greta::test {

inline std::string shipped_model(const char* name) { return std::string(GRETA_SOURCE_DIR) + "/models/" + name; }
inline std::string model_data(const char* name) { return std::string(GRETA_TEST_DATA) + "/model/" + name; }

// Loaded once per test binary; models are immutable and shared by sessions.
inline const LoadedModel& cached_model(const std::string& path) {
  static std::vector<std::pair<std::string, std::unique_ptr<LoadedModel>>> cache;
  for (auto& [p, m] : cache) {
    if (p == path) return *m;
  }
  cache.emplace_back(path, load_model(path));
  return *cache.back().second;
}

// Greedy choice: the highest logit, the lowest id on a tie.
inline TokenId argmax(const float* logits, int32_t n) {
  return static_cast<TokenId>(std::max_element(logits, logits + n) - logits);
}

inline bool bits_equal(const float* a, const float* b, int64_t n) {
  return std::memcmp(a, b, static_cast<size_t>(n) * sizeof(float)) == 0;
}

}  // namespace greta::test
