#pragma once
// Helpers shared by the tokenizer tests: llama.cpp test-vector files and vocab loading.

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "greta/gguf/gguf_file.h"
#include "greta/tokenizer/tokenizer.h"

namespace greta::testing {

inline const std::vector<std::string>& paired_vocabs() {
  static const std::vector<std::string> v = {"llama-spm", "phi-3", "gpt-2", "falcon", "starcoder",
                                             "deepseek-llm", "deepseek-coder", "mpt", "refact"};
  return v;
}

inline std::string vocab_path(const std::string& name) {
  return std::string(GRETA_TEST_DATA) + "/tokenizer/ggml-vocab-" + name + ".gguf";
}

inline std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// llama.cpp's .inp format: cases separated by "\n__ggml_vocab_test__\n"; trailing text is a case.
inline std::vector<std::string> split_cases(const std::string& s) {
  static const std::string kSep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> cases;
  size_t pos = 0;
  for (size_t next; (next = s.find(kSep, pos)) != std::string::npos; pos = next + kSep.size()) {
    cases.push_back(s.substr(pos, next - pos));
  }
  if (pos < s.size()) cases.push_back(s.substr(pos));
  return cases;
}

inline std::string format_out_line(const std::vector<TokenId>& ids) {
  std::string line;
  for (TokenId id : ids) line += " " + std::to_string(id);
  return line + "\n";
}

struct LoadedTokenizer {
  std::unique_ptr<gguf::GgufFile> file;
  std::unique_ptr<Tokenizer> tok;
};

inline LoadedTokenizer load_tokenizer(const std::string& path) {
  LoadedTokenizer t;
  t.file = gguf::GgufFile::open(path);
  t.tok = Tokenizer::from_gguf(*t.file);
  return t;
}

// Cached per process: several tests use the same vocab.
inline const Tokenizer& vocab_tokenizer(const std::string& name) {
  static std::vector<std::pair<std::string, LoadedTokenizer>> cache;
  for (auto& [n, t] : cache) {
    if (n == name) return *t.tok;
  }
  cache.emplace_back(name, load_tokenizer(vocab_path(name)));
  return *cache.back().second.tok;
}

}  // namespace greta::testing
