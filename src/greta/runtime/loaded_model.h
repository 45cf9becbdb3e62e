#pragma once
// A loaded model: the mapped file, its tokenizer and its bound weights. Immutable; contexts and
// sessions share it.

#include <cstdint>
#include <memory>
#include <string>

#include "greta/tokenizer/tokenizer.h"

namespace greta {

namespace gguf { class GgufFile; }
namespace model { class Model; }

struct ModelStats {
  std::string arch;              // "llama", "qwen2"
  std::string weights_type;      // dominant matrix type, e.g. "q8_0" (or "mixed: q4_K+q6_K")
  int64_t n_params = 0;
  int64_t weight_bytes_per_token = 0;  // bytes of weights read by one decode step (no embedding table)
  int32_t n_vocab = 0;
  int32_t n_ctx_train = 0;
  int32_t n_layer = 0;
  int32_t n_embd = 0;
};

struct LoadedModel {
  std::unique_ptr<gguf::GgufFile> file;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<model::Model> model;
  ModelStats stats;
  ~LoadedModel();
};

// Throws greta::Error naming the file and the problem.
std::unique_ptr<LoadedModel> load_model(const std::string& path);

}  // namespace greta
