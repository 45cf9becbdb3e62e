// The greta_gguf CLI as a user runs it: output, one-line errors, exit codes (1 runtime, 2 usage).
// Skipped when the tool has not been built into GRETA_BIN_DIR.

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;

const std::string kTool = GRETA_BIN_DIR "/greta_gguf";

struct Result {
  int code = -1;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class GretaGgufTool : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kTool)) GTEST_SKIP() << kTool << " not built";
    dir_ = fs::temp_directory_path() / ("greta_gguf_tool_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  Result run(const std::string& args) {
    const std::string out = (dir_ / "stdout").string(), err = (dir_ / "stderr").string();
    const int status = std::system((kTool + " " + args + " >" + out + " 2>" + err).c_str());
    Result r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }
  fs::path dir_;
};

TEST_F(GretaGgufTool, InfoOnShippedModel) {
  const Result r = run("info " GRETA_SOURCE_DIR "/models/stories260K.gguf");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\n  llama.block_count: u32 = 5\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\n  llama.attention.head_count_kv: u32 = 4\n"), std::string::npos);
  EXPECT_NE(r.out.find("\ntensors: 48\n"), std::string::npos);
  EXPECT_EQ(r.err, "");
}

TEST_F(GretaGgufTool, Errors) {
  const std::string v1 = GRETA_TEST_DATA "/gguf/stories260K.gguf-v1.gguf";
  Result r = run("info " + v1);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "greta_gguf: error: " + v1 + ": GGUF version 1 is unsupported (expected version 2 or 3)\n");
  EXPECT_EQ(r.out, "");

  r = run("info");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind("greta_gguf: error: ", 0), 0u) << r.err;
  EXPECT_EQ(run("frobnicate").code, 2);
  EXPECT_EQ(run("").code, 2);

  const std::string out = (dir_ / "m.gguf").string();
  r = run("synth --preset tiny --type q9_9 --out " + out);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err,
            "greta_gguf: error: --type 'q9_9' is not a supported type (expected f32, f16, bf16, q8_0, q4_0, q4_1, "
            "q5_0, q5_1, q2_K, q3_K, q4_K, q5_K or q6_K)\n");
  r = run("synth --preset huge --out " + out);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "greta_gguf: error: synth: unknown preset 'huge' (expected tiny, tinyllama-1.1b or llama-7b)\n");
  r = run("synth --type q8_0 --out " + out);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "greta_gguf: error: synth: give exactly one of --preset or --shape\n");
  EXPECT_EQ(run("synth --preset tiny --shape 64,2,4,2,192,512 --out " + out).code, 2);
  r = run("synth --shape 64,2,4,2 --out " + out);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err,
            "greta_gguf: error: synth: --shape '64,2,4,2' is invalid (expected dim,layers,heads,kv_heads,ffn,vocab: "
            "six positive integers)\n");
  r = run("synth --preset tiny --out " + (dir_ / "no" / "m.gguf").string());
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("greta_gguf: error: " + (dir_ / "no" / "m.gguf").string() + ": cannot create", 0), 0u) << r.err;
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(GretaGgufTool, SynthThenInfo) {
  const std::string a = (dir_ / "a.gguf").string(), b = (dir_ / "b.gguf").string();
  Result r = run("synth --preset tiny --type q4_0 --output-type q8_0 --seed 9 --threads 1 --out " + a);
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("synth --preset tiny --type q4_0 --output-type q8_0 --seed 9 --threads 2 --out " + b);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(slurp(a), slurp(b));
  r = run("info " + a);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\n  greta.synth.seed: u64 = 9\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\n  general.file_type: u32 = 2\n"), std::string::npos);
  EXPECT_NE(r.out.find("  output.weight             q8_0   [64, 512]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  blk.1.ffn_down.weight     q4_0   [192, 64]"), std::string::npos) << r.out;
  r = run("synth --shape 64,1,2,1,64,300 --context 128 --type f16 --vocab-from " GRETA_SOURCE_DIR
          "/models/stories260K.gguf --out " + a);
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("info --max-elems 2 " + a);
  EXPECT_NE(r.out.find("\n  llama.context_length: u32 = 128\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\n  tokenizer.ggml.tokens: array[string; 512] = [\"<unk>\", \"<s>\", ...]\n"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\n  tokenizer.ggml.seperator_token_id: u32 = 4294967295\n"), std::string::npos);
}

}  // namespace
