// greta_tokenize as a user runs it: output, flags, exit codes and error messages.

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

#include "tokenizer/tokenizer_test_util.h"

namespace greta {
namespace {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string stderr_path() {
  return ::testing::TempDir() + "greta_tokenize_stderr_" + std::to_string(::getpid()) + ".txt";
}

// Runs greta_tokenize through the shell; stderr goes through a temporary file, removed after.
RunResult run_tokenize(const std::string& args) {
  const std::string bin = std::string(GRETA_BIN_DIR) + "/greta_tokenize";
  const std::string err_path = stderr_path();
  const std::string cmd = "'" + bin + "' " + args + " 2>'" + err_path + "'";
  RunResult r;
  std::FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof(buf), p)) > 0;) r.out.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = testing::read_all(err_path);
  std::remove(err_path.c_str());
  return r;
}

std::string stories() { return "'" + std::string(GRETA_SOURCE_DIR) + "/models/stories260K.gguf'"; }

class GretaTokenizeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string bin = std::string(GRETA_BIN_DIR) + "/greta_tokenize";
    ASSERT_EQ(access(bin.c_str(), X_OK), 0) << bin << " is not built";
  }
};

TEST_F(GretaTokenizeCli, PromptWithModelDefaults) {
  const RunResult r = run_tokenize("-m " + stories() + " -p 'Once upon a time'");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "1 403 407 261 378\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(GretaTokenizeCli, NoSpecialAndPieces) {
  EXPECT_EQ(run_tokenize("-m " + stories() + " -p 'Once upon a time' --no-special").out, "403 407 261 378\n");
  EXPECT_EQ(run_tokenize("-m " + stories() + " -p 'Once' --pieces").out, "1 403\n1\t'<s>'\n403\t' Once'\n");
}

TEST_F(GretaTokenizeCli, ParseSpecial) {
  const std::string spm = "'" + testing::vocab_path("llama-spm") + "'";
  EXPECT_EQ(run_tokenize("-m " + spm + " -p '<s>Hello' --no-special --parse-special").out, "1 15043\n");
  EXPECT_NE(run_tokenize("-m " + spm + " -p '<s>Hello' --no-special").out, "1 15043\n");
}

TEST_F(GretaTokenizeCli, FileInputIsTokenizedByteExactly) {
  const std::string path = ::testing::TempDir() + "greta_tokenize_input_" + std::to_string(::getpid()) + ".txt";
  std::ofstream(path, std::ios::binary) << "Once upon a time";
  EXPECT_EQ(run_tokenize("-m " + stories() + " -f '" + path + "'").out, "1 403 407 261 378\n");
  std::remove(path.c_str());
}

// The test leaves nothing in the temporary directory (the stderr capture is removed after each run).
TEST_F(GretaTokenizeCli, LeavesNoTemporaryFiles) {
  const RunResult r = run_tokenize("-m " + stories() + " -p x --no-such-flag");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "greta_tokenize: error: The following argument was not expected: --no-such-flag (see --help)\n");
  EXPECT_NE(access(stderr_path().c_str(), F_OK), 0) << stderr_path() << " was left behind";
}

TEST_F(GretaTokenizeCli, Errors) {
  RunResult r = run_tokenize("-m /nonexistent/x.gguf -p hi");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("greta_tokenize: error: /nonexistent/x.gguf: ", 0), 0u) << r.err;

  r = run_tokenize("-m " + stories());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "greta_tokenize: error: one of -p TEXT, -f FILE or --cases FILE.inp is required\n");

  r = run_tokenize("-m " + stories() + " -p a -f b");
  EXPECT_EQ(r.exit_code, 2);

  r = run_tokenize("-m " + stories() + " --no-such-flag");
  EXPECT_EQ(r.exit_code, 2);

  r = run_tokenize("-m " + stories() + " -f /nonexistent/prompt.txt");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "greta_tokenize: error: cannot open '/nonexistent/prompt.txt'\n");
}

TEST_F(GretaTokenizeCli, CasesFileWithoutFinalSeparator) {
  const std::string path = ::testing::TempDir() + "greta_tokenize_cases_" + std::to_string(::getpid()) + ".inp";
  std::ofstream(path, std::ios::binary) << "Once\n__ggml_vocab_test__\n\n__ggml_vocab_test__\nupon";
  const RunResult r = run_tokenize("-m " + stories() + " --cases '" + path + "'");
  std::remove(path.c_str());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, " 403\n\n 407\n");
}

}  // namespace
}  // namespace greta
