// greta_batched as a user runs it: completions prefixed by their index, a sequence's text and
// logits independent of --parallel (bit-equal dumps checked by greta_compare), the same logits
// as greta_infer for the same prompt, and clean usage errors.

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cli_runner.h"

namespace greta {
namespace {

namespace fs = std::filesystem;
using test::CliResult;
using test::CliRun;

const std::string kBatched = std::string(GRETA_BIN_DIR) + "/greta_batched";
const std::string kInfer = std::string(GRETA_BIN_DIR) + "/greta_infer";
const std::string kCompare = std::string(GRETA_BIN_DIR) + "/greta_compare";
const std::string kModel = std::string(GRETA_SOURCE_DIR) + "/models/stories260K.gguf";
const std::string kTinyQ8 = std::string(GRETA_SOURCE_DIR) + "/models/TinyStories-656K-Q8_0.gguf";

class GretaBatched : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("greta_batched_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(path("prompts.txt")) << "Once upon a time\n\nThe little dog\nLily went to the park\n"
                                          "One day, a boy named Tim\nThe sun was\nTom and Sue\n"
                                          "There was a big tree\nA cat sat\nThe king said\n";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

CliResult run(const std::string& bin, std::vector<std::string> args) {
  return test::run_cli(bin, CliRun{.args = std::move(args)});
}

TEST_F(GretaBatched, ParallelOneAndEightGiveBitEqualDumpsForEverySequence) {
  for (const std::string& model : {kModel, kTinyQ8}) {
    for (const char* p : {"1", "8"}) {
      const CliResult r = run(kBatched, {"-m", model, "-f", path("prompts.txt"), "-n", "24", "--parallel", p, "--seed",
                                         "7", "-t", "2", "--kv-aligned", "1", "--dtype", "f16", "--dump-logits",
                                         path(std::string("p") + p), "--dump-span", "2:20"});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      EXPECT_NE(r.err.find("9 sequences, parallel " + std::string(p)), std::string::npos) << r.err;
      EXPECT_NE(r.err.find("0 in use at exit"), std::string::npos) << r.err;
    }
    for (int i = 0; i < 9; ++i) {
      const std::string s = "seq-" + std::to_string(i);
      const CliResult c = run(kCompare, {path("p1") + "/" + s, path("p8") + "/" + s});
      EXPECT_EQ(c.exit_code, 0) << model << " " << s << ": " << c.out << c.err;
      EXPECT_NE(c.out.find("EQUIVALENT by strict bit-equality"), std::string::npos) << c.out;
    }
    std::ifstream meta(path("p8") + "/seq-4/metadata.json");
    const std::string m((std::istreambuf_iterator<char>(meta)), std::istreambuf_iterator<char>());
    for (const char* key : {"\"batch_invariant\": true", "\"sequence_index\": 4", "\"parallel\": 8"}) {
      EXPECT_NE(m.find(key), std::string::npos) << key << " in " << m.substr(0, 400);
    }
    fs::remove_all(path("p1"));
    fs::remove_all(path("p8"));
  }
}

TEST_F(GretaBatched, CompletionsArePrefixedAndIndependentOfParallel) {
  std::string texts[2];
  int k = 0;
  for (const char* p : {"1", "5"}) {
    const CliResult r = run(kBatched, {"-m", kModel, "-f", path("prompts.txt"), "-n", "16", "--parallel", p, "--seed",
                                       "3", "--temp", "0.8", "-t", "1", "--kv-aligned", "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // One line per completion, in completion order; sort to compare the sets.
    std::vector<std::string> lines;
    size_t a = 0;
    while (a < r.out.size()) {
      const size_t b = r.out.find('\n', a);
      lines.push_back(r.out.substr(a, b - a));
      a = b + 1;
    }
    ASSERT_EQ(lines.size(), 9u) << r.out;
    std::sort(lines.begin(), lines.end());
    for (int i = 0; i < 9; ++i) EXPECT_EQ(lines[i].rfind("[" + std::to_string(i) + "] ", 0), 0u) << lines[i];
    for (const auto& l : lines) texts[k] += l + "\n";
    ++k;
  }
  EXPECT_EQ(texts[0], texts[1]);
}

// Greedy, kv-aligned: a sequence's dump equals greta_infer's for the same prompt, bit for bit.
TEST_F(GretaBatched, SameLogitsAsGretaInfer) {
  const CliResult b = run(kBatched, {"-m", kModel, "-f", path("prompts.txt"), "-n", "8", "--parallel", "4", "--temp",
                                     "0", "--seed", "1", "--kv-aligned", "1", "--dump-logits", path("b")});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const CliResult i = run(kInfer, {"-m", kModel, "-p", "Lily went to the park", "-n", "8", "--temp", "0", "--seed", "1",
                                   "--kv-aligned", "1", "--dump-logits", path("i")});
  ASSERT_EQ(i.exit_code, 0) << i.err;
  const CliResult c = run(kCompare, {path("b") + "/seq-2", path("i")});
  EXPECT_EQ(c.exit_code, 0) << c.out << c.err;
  EXPECT_NE(c.out.find("EQUIVALENT by strict bit-equality"), std::string::npos) << c.out;
}

TEST_F(GretaBatched, UsageErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  std::ofstream(path("empty.txt")) << "\n\n";
  const std::vector<Case> cases = {
      {{"-m", kModel}, "greta_batched: error: --prompt-file is required"},
      {{"-m", kModel, "-f", path("empty.txt")}, "has no non-empty line"},
      {{"-m", kModel, "-f", path("prompts.txt"), "--parallel", "0"}, "--parallel: expected an integer in 1..256, got '0'"},
      {{"-m", kModel, "-f", path("prompts.txt"), "--kv-aligned", "2"}, "--kv-aligned: expected 0 or 1, got '2'"},
      {{"-m", kModel, "-f", path("prompts.txt"), "--dump-span", "1:2"}, "--dump-span needs --dump-logits DIR"},
      {{"-m", kModel, "-f", path("prompts.txt"), "-n", "4", "--dump-logits", path("d"), "--dump-span", "2:50"},
       "are outside what prompt 0 (line 1 of the non-empty lines) computes (1..9)"},
      {{"-m", kModel, "-f", path("prompts.txt"), "--backend", "tpu"}, "--backend: expected cpu or cuda, got 'tpu'"},
  };
  for (const Case& c : cases) {
    const CliResult r = run(kBatched, c.args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << "got: " << r.err;
  }
  const CliResult v = run(kBatched, {"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.out.rfind("greta_batched ", 0), 0u) << v.out;
}

}  // namespace
}  // namespace greta
