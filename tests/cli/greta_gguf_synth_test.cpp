// greta_gguf synth --arch as a user runs it: every architecture greta runs is written, loads in
// greta_infer, and a bad --arch / --head-dim is a usage error (exit 2) with one line.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cli/cli_runner.h"

namespace greta {
namespace {

namespace fs = std::filesystem;
using test::CliResult;
using test::CliRun;

const std::string kGguf = std::string(GRETA_BIN_DIR) + "/greta_gguf";
const std::string kInfer = std::string(GRETA_BIN_DIR) + "/greta_infer";

class GretaGgufSynth : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("greta_gguf_synth_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

CliResult run(const std::string& bin, std::vector<std::string> args) {
  return test::run_cli(bin, CliRun{.args = std::move(args)});
}

TEST_F(GretaGgufSynth, EveryArchitectureIsWrittenAndRuns) {
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{"--arch", "llama"}, {"--arch", "qwen2"}, {"--arch", "qwen3", "--head-dim", "32"}, {"--arch", "phi3"}, {}}) {
    const std::string out = path("m.gguf");
    std::vector<std::string> args = {"synth", "--preset", "tiny", "--type", "q8_0", "--threads", "2", "--out", out};
    args.insert(args.end(), extra.begin(), extra.end());
    const CliResult w = run(kGguf, args);
    ASSERT_EQ(w.exit_code, 0) << w.err;
    const CliResult info = run(kGguf, {"info", out});
    ASSERT_EQ(info.exit_code, 0) << info.err;
    const std::string arch = extra.empty() ? "llama" : extra[1];
    EXPECT_NE(info.out.find("general.architecture"), std::string::npos);
    EXPECT_NE(info.out.find(arch + ".block_count"), std::string::npos) << info.out;
    const CliResult r = run(kInfer, {"-m", out, "--prompt-tokens", "1,300,301", "-n", "4", "--temp", "0", "-t", "1",
                                     "-s", "1", "--ignore-eos"});
    EXPECT_EQ(r.exit_code, 0) << arch << ": " << r.err;
  }
}

TEST_F(GretaGgufSynth, BadArchitectureOrHeadDimExitsTwo) {
  const CliResult a = run(kGguf, {"synth", "--arch", "gpt2", "--preset", "tiny", "--out", path("x.gguf")});
  EXPECT_EQ(a.exit_code, 2);
  EXPECT_EQ(a.err, "greta_gguf: error: synth: unknown architecture 'gpt2' (expected llama, qwen2, qwen3, phi3)\n");
  const CliResult h = run(kGguf, {"synth", "--arch", "qwen2", "--head-dim", "32", "--preset", "tiny", "--out", path("x.gguf")});
  EXPECT_EQ(h.exit_code, 2);
  EXPECT_EQ(h.err, "greta_gguf: error: synth: head_dim 32 must be dim / heads for qwen2 (only qwen3 decouples it)\n");
  EXPECT_FALSE(fs::exists(path("x.gguf")));
}

}  // namespace
}  // namespace greta
