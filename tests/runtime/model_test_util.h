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
#include "greta/synth/synth_llama.h"

namespace greta::test {

inline std::string shipped_model(const char* name) { return std::string(GRETA_SOURCE_DIR) + "/models/" + name; }
inline std::string model_data(const char* name) { return std::string(GRETA_TEST_DATA) + "/model/" + name; }
// The architecture reference models (tests/data/archs/, copied from ../shared/reference/archs/).
inline std::string arch_data(const std::string& name) { return std::string(GRETA_TEST_DATA) + "/archs/" + name; }
// The reference models of every architecture greta supports (tests/data/archs/<name>.gguf).
inline constexpr const char* kArchModels[] = {"llama3", "llama3-f16", "llama3-q8_0", "qwen2", "qwen3", "phi3"};
// A gtest parameter name: '-' is not allowed.
inline std::string arch_test_name(const char* model) {
  std::string s = model;
  for (char& c : s) c = c == '-' ? '_' : c;
  return s;
}

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

// A tiny synthetic llama (2 layers, 4 heads, 2 KV heads, vocab 512, context 512) with every
// matrix in `type` (dim 256 for the 256-element K-quant blocks, else 64), written once per test
// binary.
inline const LoadedModel& synth_model(TensorType type) {
  const std::filesystem::path dir = process_temp_dir("greta_synth_models_");
  const std::string path = (dir / (std::string("tiny-") + tensor_type_name(type) + ".gguf")).string();
  if (!std::filesystem::exists(path)) {
    SynthOptions o;
    o.preset = "tiny";
    o.type = type;
    o.shape = synth_preset("tiny", type, std::nullopt);
    o.seed = 42;
    o.out = path;
    o.n_threads = 2;
    synth_llama(o);
  }
  return cached_model(path);
}

// A tiny synthetic model of architecture `arch` (synth_arch_names(); qwen3 with head_dim 32,
// decoupled from dim 64 / 4 heads) with every matrix in `type`, written once per test binary.
inline const LoadedModel& synth_arch_model(const std::string& arch, TensorType type) {
  const std::filesystem::path dir = process_temp_dir("greta_synth_models_");
  const std::string path = (dir / ("tiny-" + arch + "-" + tensor_type_name(type) + ".gguf")).string();
  if (!std::filesystem::exists(path)) {
    SynthOptions o;
    o.arch = arch;
    o.preset = "tiny";
    o.type = type;
    o.shape = synth_preset("tiny", type, std::nullopt);
    if (arch == "qwen3") o.shape.head_dim = 32;
    o.seed = 43;
    o.out = path;
    o.n_threads = 2;
    synth_llama(o);
  }
  return cached_model(path);
}

// A prompt of n ids, deterministic and spread over the vocabulary, starting with BOS (1).
inline std::vector<TokenId> make_prompt(int n, int32_t n_vocab, uint32_t seed = 12345) {
  std::vector<TokenId> p(static_cast<size_t>(n));
  uint32_t x = seed;
  for (int i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    p[i] = i == 0 ? 1 : static_cast<TokenId>(3 + (x >> 8) % static_cast<uint32_t>(n_vocab - 3));
  }
  return p;
}

}  // namespace greta::test
