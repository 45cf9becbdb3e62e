#pragma once
// Helpers shared by the model-level runtime tests (acceptance, equivalence).

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

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

// A per-process temporary directory named <prefix><pid>, created on first use and removed when
// the test program ends. One per test binary and prefix.
inline std::filesystem::path process_temp_dir(const std::string& prefix) {
  namespace fs = std::filesystem;
  struct Cleanup : ::testing::Environment {
    explicit Cleanup(fs::path d) : dir(std::move(d)) {}
    void TearDown() override {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
    fs::path dir;
  };
  static std::vector<std::pair<std::string, fs::path>> dirs;
  for (const auto& [p, d] : dirs) {
    if (p == prefix) return d;
  }
  const fs::path dir = fs::temp_directory_path() / (prefix + std::to_string(::getpid()));
  fs::create_directories(dir);
  ::testing::AddGlobalTestEnvironment(new Cleanup(dir));
  dirs.emplace_back(prefix, dir);
  return dir;
}

inline bool bits_equal(const float* a, const float* b, int64_t n) {
  return std::memcmp(a, b, static_cast<size_t>(n) * sizeof(float)) == 0;
}

}  // namespace greta::test
