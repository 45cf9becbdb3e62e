// The unpaired llama.cpp vectors (no vocab file here) still constrain the pre-tokenizer: a BPE
// token never spans two pre-tokens, so every case has at least as many ids as non-empty pieces.

#include <gtest/gtest.h>

#include <sstream>

#include "greta/tokenizer/pretokenize.h"
#include "greta/tokenizer/unicode_util.h"
#include "tokenizer/tokenizer_test_util.h"

namespace greta {
namespace {

void check_unpaired(const std::string& name, const std::string& pre_name) {
  const std::string base = std::string(GRETA_TEST_DATA) + "/tokenizer/unpaired/ggml-vocab-" + name + ".gguf";
  const std::vector<std::string> cases = testing::split_cases(testing::read_all(base + ".inp"));
  std::istringstream out(testing::read_all(base + ".out"));
  auto pre = PreTokenizer::create(pre_name);
  size_t n_checked = 0;
  for (const std::string& c : cases) {
    std::string line;
    ASSERT_TRUE(std::getline(out, line)) << name << ": fewer .out lines than cases";
    std::istringstream ids(line);
    size_t n_ids = 0;
    for (long id; ids >> id;) ++n_ids;
    size_t n_pieces = 0;
    for (const TextSpan& s : pre->split(unicode::sanitize_utf8(c))) n_pieces += s.length > 0;
    EXPECT_GE(n_ids, n_pieces) << name << " case '" << c << "'";
    ++n_checked;
  }
  EXPECT_EQ(n_checked, 46u);
}

TEST(UnpairedVectors, Llama3) { check_unpaired("llama-bpe", "llama-bpe"); }
TEST(UnpairedVectors, Qwen2) { check_unpaired("qwen2", "qwen2"); }
TEST(UnpairedVectors, CommandR) { check_unpaired("command-r", "command-r"); }

}  // namespace
}  // namespace greta
