// greta_infer as a user runs it: exit statuses, messages, output text, dumps, env vars, signals.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_runner.h"
#include "greta/dump/logits_dump.h"
#include "greta/app/generate.h"

namespace greta {
namespace {

namespace fs = std::filesystem;
using test::CliResult;
using test::CliRun;

const std::string kBinary = std::string(GRETA_BIN_DIR) + "/greta_infer";
const std::string kModel = std::string(GRETA_SOURCE_DIR) + "/models/stories260K.gguf";
const std::string kPrompt = "Once upon a time";
// stories260K greedy from "Once upon a time" (prompt ids 1 403 407 261 378): ids 5..20 of
// ../shared/models/stories260K.greedy256.txt and their text.
const std::vector<int> kGreedyIds = {432, 383, 286, 261, 376, 298, 315, 421,
                                     395, 317, 426, 338, 401, 396, 267, 337};
const std::string kGreedyText = ", there was a little girl named Lily. She loved to play";

CliResult infer(std::vector<std::string> args, std::map<std::string, std::optional<std::string>> env = {}) {
  return test::run_cli(kBinary, CliRun{.args = std::move(args), .env = std::move(env)});
}

// A fresh, empty scratch directory per test.
class GretaInfer : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("greta_cli_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.push_back(e.path().filename().string());
  return names;
}

// Everything in a dump directory: the published files and any leftover (the writer locks the
// directory itself, so no lock file may appear either).
std::vector<std::string> dump_files(const std::string& dir) { return files_in(dir); }

TEST_F(GretaInfer, HelpAndVersionExitZero) {
  const CliResult h = infer({"--help"});
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("--kv-aligned"), std::string::npos);
  EXPECT_NE(h.out.find("GRETA_SEED"), std::string::npos);
  EXPECT_EQ(h.err, "");
  const CliResult h2 = infer({"-h"});
  EXPECT_EQ(h2.exit_code, 0);
  EXPECT_EQ(h2.out, h.out);
  const CliResult v = infer({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.out.rfind("greta_infer 0.", 0), 0u) << v.out;
}

struct BadInput {
  std::vector<std::string> args;
  std::map<std::string, std::optional<std::string>> env;
  std::string message;
};

TEST_F(GretaInfer, MalformedFlagsAndEnvExitTwoBeforeTheModelIsLoaded) {
  const std::string kIdsExpect = "expected token ids (decimal, 0..2147483647) separated by commas or spaces";
  const std::string seed_expect = "expected an unsigned 64-bit decimal integer (0..18446744073709551615)";
  const std::vector<BadInput> cases = {
      {{"--kv-aligned", "2"}, {}, "--kv-aligned: expected 0 or 1, got '2'"},
      {{"--kv-aligned=yes"}, {}, "--kv-aligned: expected 0 or 1, got 'yes'"},
      {{"--mode", "both"}, {}, "--mode: expected prefill or decode, got 'both'"},
      {{"--dtype", "f8"}, {}, "--dtype: expected f32, f16 or bf16, got 'f8'"},
      {{"--dump-span", "3"}, {}, "--dump-span: expected START:COUNT, two decimal integers with START >= 1 and COUNT >= 1, got '3'"},
      {{"--dump-span", "0:2"}, {}, "--dump-span: expected START:COUNT, two decimal integers with START >= 1 and COUNT >= 1, got '0:2'"},
      {{"-t", "0"}, {}, "--threads: expected an integer in 1..256, got '0'"},
      {{"--threads", "10000"}, {}, "--threads: expected an integer in 1..256, got '10000'"},
      {{"-n", "abc"}, {}, "--max-tokens: expected an integer in -1..1000000, got 'abc'"},
      {{"--temp", "-1"}, {}, "--temp: expected a number in [0, 100], got '-1'"},
      {{"--top-p", "2"}, {}, "--top-p: expected a number in [0, 1], got '2'"},
      {{"--seed", "-1"}, {}, "--seed: " + seed_expect + ", got '-1'"},
      {{}, {{"GRETA_SEED", "-1"}}, "GRETA_SEED: " + seed_expect + ", got '-1'"},
      {{}, {{"GRETA_SEED", "12abc"}}, "GRETA_SEED: " + seed_expect + ", got '12abc'"},
      {{}, {{"GRETA_SEED", "18446744073709551616"}}, "GRETA_SEED: " + seed_expect + ", got '18446744073709551616'"},
      {{}, {{"GRETA_KV_ALIGNED", "2"}}, "GRETA_KV_ALIGNED: expected 0 or 1, got '2'"},
      {{"-p", "x", "-f", "y"}, {}, "--prompt and --prompt-file are exclusive: give one of them"},
      {{"-p", "ab\xff"}, {}, "--prompt: expected UTF-8 text, got an invalid byte at offset 2"},
      {{"--dump-span", "1:2"}, {}, "--dump-span needs --dump-logits DIR"},
      {{"-p", "x", "--prompt-tokens", "1"}, {}, "--prompt-tokens is exclusive with --prompt and --prompt-file: give one of them"},
      {{"--prompt-tokens", "1", "-f", "y"}, {}, "--prompt-tokens is exclusive with --prompt and --prompt-file: give one of them"},
      {{"--prompt-tokens", "1,x"}, {}, "--prompt-tokens: " + kIdsExpect + ", got '1,x'"},
      {{"--prompt-tokens", ""}, {}, "--prompt-tokens: " + kIdsExpect + ", got ''"},
      {{"--prompt-tokens", "1,,2"}, {}, "--prompt-tokens: " + kIdsExpect + ", got '1,,2'"},
      {{"--prompt-tokens", "1,2,"}, {}, "--prompt-tokens: " + kIdsExpect + ", got '1,2,'"},
      {{"--prompt-tokens", "-1"}, {}, "--prompt-tokens: " + kIdsExpect + ", got '-1'"},
      {{"--prompt-tokens", "2147483648"}, {}, "--prompt-tokens: " + kIdsExpect + ", got '2147483648'"},
  };
  for (const BadInput& c : cases) {
    // A model that does not exist: the flag error must come first (nothing is loaded).
    std::vector<std::string> args = {"-m", "/nonexistent/model.gguf"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const CliResult r = infer(args, c.env);
    EXPECT_EQ(r.exit_code, 2) << c.message;
    EXPECT_EQ(r.err, "greta_infer: error: " + c.message + "\n");
    EXPECT_EQ(r.out, "");
  }
  const CliResult unknown = infer({"--frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("greta_infer: error: "), std::string::npos);
  EXPECT_NE(unknown.err.find("--frobnicate"), std::string::npos);
}

TEST_F(GretaInfer, MissingModelAndDirectoryAsModelExitOne) {
  const CliResult missing = infer({"-m", path("nope.gguf"), "-s", "1"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err.rfind("greta_infer: error: ", 0), 0u) << missing.err;
  EXPECT_NE(missing.err.find("nope.gguf"), std::string::npos) << missing.err;
  EXPECT_EQ(missing.out, "");
  const CliResult dir = infer({"-m", dir_.string(), "-s", "1"});
  EXPECT_EQ(dir.exit_code, 1);
  EXPECT_NE(dir.err.find("greta_infer: error: "), std::string::npos) << dir.err;
  EXPECT_NE(dir.err.find(dir_.string()), std::string::npos) << dir.err;
}

TEST_F(GretaInfer, GreedyContinuationMatchesTheReference) {
  for (const char* mode : {"prefill", "decode"}) {
    for (const char* threads : {"1", mode[0] == 'p' ? "2" : "3"}) {
      const CliResult r = infer({"-m", kModel, "-p", kPrompt, "--temp", "0", "--dtype", "f32", "-n",
                                 "16", "--mode", mode, "-t", threads, "-s", "1"});
      EXPECT_EQ(r.exit_code, 0) << r.err;
      EXPECT_EQ(r.out, kPrompt + kGreedyText) << mode << " -t " << threads;  // the prompt is echoed
      EXPECT_NE(r.err.find("tokens/s"), std::string::npos);
      EXPECT_NE(r.err.find("loaded in"), std::string::npos);
    }
  }
  // The ids themselves, through the dump's record of the run.
  const CliResult r = infer({"-m", kModel, "-p", kPrompt, "--temp", "0", "--dtype", "f32", "-n",
                             "16", "-t", "1", "-s", "1", "--dump-logits", path("d")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const dump::Dump d = dump::read_dump(path("d"));
  EXPECT_EQ(d.metadata["prompt_token_ids"], nlohmann::json({1, 403, 407, 261, 378}));
  EXPECT_EQ(d.metadata["generated_token_ids"], nlohmann::json(kGreedyIds));
}

TEST_F(GretaInfer, PromptTokensReproduceTheTokenizedPrompt) {
  // What greta_tokenize prints ("1 403 407 261 378\n") and comma lists give the same run as
  // the text: the ids are the whole prompt (no BOS added).
  for (const char* ids : {"1 403 407 261 378\n", "1,403,407,261,378", " 1, 403 ,407\t261 , 378 "}) {
    const CliResult r = infer({"-m", kModel, "--prompt-tokens", ids, "--temp", "0", "--dtype", "f32", "-n",
                               "16", "-t", "1", "-s", "1", "--dump-logits", path("d")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, kGreedyText) << ids;
    const dump::Dump d = dump::read_dump(path("d"));
    EXPECT_EQ(d.metadata["prompt_token_ids"], nlohmann::json({1, 403, 407, 261, 378}));
    EXPECT_EQ(d.metadata["generated_token_ids"], nlohmann::json(kGreedyIds));
    EXPECT_EQ(d.metadata["options"]["prompt-tokens"], nlohmann::json({1, 403, 407, 261, 378}));
  }
  // No BOS is added: without the 1 the prompt is four tokens.
  const CliResult nobos = infer({"-m", kModel, "--prompt-tokens", "403,407,261,378", "--temp", "0", "-n", "0",
                                 "-t", "1", "-s", "1", "--dump-logits", path("e")});
  ASSERT_EQ(nobos.exit_code, 0) << nobos.err;
  EXPECT_EQ(dump::read_dump(path("e")).metadata["prompt_token_ids"], nlohmann::json({403, 407, 261, 378}));
}

TEST_F(GretaInfer, PromptTokenOutsideTheVocabularyExitsTwo) {
  for (const char* ids : {"1,80,512", "1 99999"}) {
    const CliResult r = infer({"-m", kModel, "--prompt-tokens", ids, "-s", "1", "--dump-logits", path("d")});
    EXPECT_EQ(r.exit_code, 2) << ids;
    const std::string bad = std::string(ids) == "1,80,512" ? "512 (at index 2)" : "99999 (at index 1)";
    EXPECT_EQ(r.err, "greta_infer: error: --prompt-tokens: token id " + bad +
                         " is outside the vocabulary of 512 tokens (ids 0..511)\n");
    EXPECT_EQ(r.out, "");
    EXPECT_TRUE(dump_files(path("d")).empty());
  }
}

TEST_F(GretaInfer, DefaultModelIsFoundFromAnyDirectory) {
  CliRun run{.args = {"-p", kPrompt, "--temp", "0", "--dtype", "f32", "-n", "16", "-t", "1"},
             .cwd = dir_.string()};
  const CliResult r = test::run_cli(kBinary, run);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, kPrompt + kGreedyText);
  // No seed given and greedy decoding: the seed is never used, so no seed line.
  EXPECT_EQ(r.err.find("(random; pass --seed"), std::string::npos) << r.err;
}

TEST_F(GretaInfer, SameSeedSameTokensInBothModes) {
  std::string first;
  nlohmann::json first_ids;
  int run = 0;
  for (const char* mode : {"prefill", "decode", "prefill"}) {
    const std::string d = path("d" + std::to_string(run++));
    const CliResult r = infer({"-m", kModel, "-p", kPrompt, "--temp", "0.8", "--seed", "1234",
                               "-n", "48", "--kv-aligned", "1", "--mode", mode, "-t", "1",
                               "--dump-logits", d});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(r.out.empty());
    const nlohmann::json ids = dump::read_dump(d).metadata["generated_token_ids"];
    EXPECT_EQ(ids.size(), 48u);
    if (first.empty()) first = r.out, first_ids = ids;
    EXPECT_EQ(r.out, first) << mode;
    EXPECT_EQ(ids, first_ids) << mode;
  }
  // The seed from GRETA_SEED is the same seed.
  const CliResult env = infer({"-m", kModel, "-p", kPrompt, "--temp", "0.8", "-n", "48",
                               "--kv-aligned", "1", "-t", "1"},
                              {{"GRETA_SEED", "1234"}});
  EXPECT_EQ(env.out, first);
  const CliResult other = infer({"-m", kModel, "-p", kPrompt, "--temp", "0.8", "--seed", "1235",
                                 "-n", "48", "--kv-aligned", "1", "-t", "1"});
  EXPECT_NE(other.out, first);
}

TEST_F(GretaInfer, EnvVarPrecedence) {
  const auto run = [&](std::vector<std::string> extra, std::map<std::string, std::optional<std::string>> env) {
    const std::string d = path("d");
    fs::remove_all(d);
    std::vector<std::string> args = {"-m", kModel, "-p", kPrompt, "-n", "2", "-t", "1",
                                     "--dump-logits", d};
    args.insert(args.end(), extra.begin(), extra.end());
    const CliResult r = infer(args, env);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return dump::read_dump(d).metadata;
  };
  nlohmann::json m = run({}, {{"GRETA_SEED", "42"}, {"GRETA_KV_ALIGNED", "1"}});
  EXPECT_EQ(m["seed"], 42u);
  EXPECT_EQ(m["kv_aligned"], 1);
  m = run({"--seed", "7", "--kv-aligned", "0"}, {{"GRETA_SEED", "42"}, {"GRETA_KV_ALIGNED", "1"}});
  EXPECT_EQ(m["seed"], 7u);
  EXPECT_EQ(m["kv_aligned"], 0);
  // The flag wins even over a malformed variable, which is then not read.
  m = run({"-s", "9", "--kv-aligned=1"}, {{"GRETA_SEED", "junk"}, {"GRETA_KV_ALIGNED", "junk"}});
  EXPECT_EQ(m["seed"], 9u);
  EXPECT_EQ(m["kv_aligned"], 1);
  // Empty counts as unset: a random seed, recorded; kv_aligned defaults to 0.
  m = run({}, {{"GRETA_SEED", ""}, {"GRETA_KV_ALIGNED", ""}});
  EXPECT_EQ(m["seed_source"], "random");
  EXPECT_TRUE(m["seed"].is_number_unsigned());
  EXPECT_EQ(m["kv_aligned"], 0);
}

TEST_F(GretaInfer, DefaultDumpSpanIsTheFirstGeneratedToken) {
  for (const char* mode : {"prefill", "decode"}) {
    const std::string d = path(mode);
    const CliResult r = infer({"-m", kModel, "-p", kPrompt, "--temp", "0", "-n", "4", "-t", "1",
                               "--seed", "42", "--kv-aligned", "1", "--mode", mode, "--dtype", "bf16",
                               "--dump-logits", d});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const dump::Dump dp = dump::read_dump(d);
    EXPECT_EQ(dp.meta.prompt_len, 5);
    EXPECT_EQ(dp.meta.gen_len, 4);
    EXPECT_EQ(dp.meta.seed, 42u);
    EXPECT_EQ(dp.meta.kv_aligned, 1);
    EXPECT_EQ(dp.meta.mode, mode);
    EXPECT_EQ(dp.meta.dtype, "bf16");
    EXPECT_EQ(dp.meta.span_start, 5);
    EXPECT_EQ(dp.meta.span_count, 1);
    ASSERT_EQ(dp.records.size(), 1u);
    EXPECT_EQ(dp.records[0].token_idx, 5);
    EXPECT_EQ(dp.records[0].token_id, 432);
    EXPECT_EQ(dp.records[0].logits.size(), 512u);
    for (const char* key : {"timestamp", "repo_branch", "model", "arch", "vocab_size", "weights_type",
                            "backend", "threads", "version", "commit", "prompt_token_ids", "n_ctx",
                            "sampling", "simd_target"}) {
      EXPECT_TRUE(dp.metadata.contains(key)) << key;
    }
    EXPECT_EQ(dp.metadata["vocab_size"], 512);
    EXPECT_EQ(dp.metadata["backend"], "cpu");
  }
}

TEST_F(GretaInfer, KvAlignedDumpsOfBothModesAreBitIdentical) {
  // Span over prompt positions and generated ones: 1..12 with a 5-token prompt and -n 8.
  std::vector<dump::Dump> dumps;
  for (const char* mode : {"prefill", "decode"}) {
    const CliResult r = infer({"-m", kModel, "-p", kPrompt, "--seed", "5", "-n", "8", "-t", "1",
                               "--kv-aligned", "1", "--mode", mode, "--dump-logits", path(mode),
                               "--dump-span", "1:12"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    dumps.push_back(dump::read_dump(path(mode)));
  }
  ASSERT_EQ(dumps[0].records.size(), 12u);
  ASSERT_EQ(dumps[1].records.size(), 12u);
  const std::vector<int> prompt = {1, 403, 407, 261, 378};
  for (size_t i = 0; i < 12; ++i) {
    const auto& a = dumps[0].records[i];
    const auto& b = dumps[1].records[i];
    EXPECT_EQ(a.token_idx, static_cast<int64_t>(i + 1));
    EXPECT_EQ(a.token_idx, b.token_idx);
    EXPECT_EQ(a.token_id, b.token_id);
    if (i + 1 < 5) EXPECT_EQ(a.token_id, prompt[i + 1]);
    ASSERT_EQ(a.logits.size(), b.logits.size());
    EXPECT_EQ(std::memcmp(a.logits.data(), b.logits.data(), a.logits.size() * sizeof(float)), 0)
        << "token_idx " << a.token_idx;
  }
}

TEST_F(GretaInfer, DumpSpanOutsideTheRunExitsTwoAndWritesNothing) {
  // 5 prompt tokens + 4 generated: indices 1..9 are computed.
  const CliResult r = infer({"-m", kModel, "-p", kPrompt, "-n", "4", "-t", "1", "-s", "1",
                             "--dump-logits", path("d"), "--dump-span", "8:3"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("greta_infer: error: --dump-span 8:3: token indices 8..10 are outside what "
                       "this run computes (1..9"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.out, "");
  // The run created the directory and removes it again: nothing is left behind.
  EXPECT_FALSE(fs::exists(path("d")));
  // A directory that existed before stays, empty.
  fs::create_directories(path("kept"));
  const CliResult r2 = infer({"-m", kModel, "-p", kPrompt, "-n", "4", "-t", "1", "-s", "1",
                              "--dump-logits", path("kept"), "--dump-span", "8:3"});
  EXPECT_EQ(r2.exit_code, 2);
  EXPECT_TRUE(fs::is_directory(path("kept")));
  EXPECT_TRUE(dump_files(path("kept")).empty());
  const CliResult ok = infer({"-m", kModel, "-p", kPrompt, "-n", "4", "-t", "1", "-s", "1",
                              "--dump-logits", path("d"), "--dump-span", "7:3"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(dump::read_dump(path("d")).records.back().token_idx, 9);
}

TEST_F(GretaInfer, DumpDirectoryThatIsAFileFailsBeforeLoading) {
  { std::ofstream(path("file")) << "x"; }
  const CliResult r = infer({"-m", "/nonexistent/model.gguf", "--dump-logits", path("file"), "-s", "1"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("greta_infer: error: "), std::string::npos);
  EXPECT_NE(r.err.find("not a directory"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("nonexistent"), std::string::npos) << r.err;
}

TEST_F(GretaInfer, FullDestinationFailsWithoutPartialFiles) {
  // RLIMIT_FSIZE stands in for a full filesystem: the 12-record dump (~30 KB) cannot be written.
  CliRun run{.args = {"-m", kModel, "-p", kPrompt, "-n", "8", "-t", "1", "-s", "1",
                      "--dump-logits", path("d"), "--dump-span", "1:12"},
             .fsize_limit = 4096};
  const CliResult r = test::run_cli(kBinary, run);
  EXPECT_EQ(r.term_signal, 0);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("greta_infer: error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(path("d")), std::string::npos) << r.err;
  EXPECT_TRUE(dump_files(path("d")).empty());
}

TEST_F(GretaInfer, TwoRunsDumpingToOneDirectoryLeaveOneCompleteDump) {
  // Different spans and seeds: a mix of the two runs' files would fail validation.
  const std::string d = path("d");
  CliResult a, b;
  std::thread ta([&] {
    a = test::run_cli(kBinary, CliRun{.args = {"-m", kModel, "-p", kPrompt, "-n", "6", "-t", "1",
                                               "-s", "1", "--dump-logits", d, "--dump-span", "2:8"}});
  });
  std::thread tb([&] {
    b = test::run_cli(kBinary, CliRun{.args = {"-m", kModel, "-p", kPrompt, "-n", "3", "-t", "1",
                                               "-s", "2", "--dump-logits", d}});
  });
  ta.join();
  tb.join();
  EXPECT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(b.exit_code, 0) << b.err;
  const dump::Dump dp = dump::read_dump(d);
  const bool is_a = dp.meta.seed == 1u;
  EXPECT_EQ(dp.meta.span_start, is_a ? 2 : 5);
  EXPECT_EQ(dp.records.size(), is_a ? 8u : 1u);
  EXPECT_EQ(dp.meta.gen_len, is_a ? 6 : 3);
  for (const std::string& n : dump_files(d)) {
    EXPECT_TRUE(n == "metadata.json" || n == "logits.jsonl.gz") << n;
  }
}

TEST_F(GretaInfer, MalformedModelFilesExitOneWithAMessage) {
  // Truncated copies of a valid model, the GGUF v1 file, and a non-GGUF file.
  std::string bytes;
  {
    std::ifstream in(kModel, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_GT(bytes.size(), 100000u);
  std::vector<std::string> models;
  for (size_t cut : {size_t{0}, size_t{3}, size_t{24}, size_t{200}, size_t{5000}, bytes.size() / 2,
                     bytes.size() - 1}) {
    const std::string p = path("cut" + std::to_string(cut) + ".gguf");
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(cut));
    models.push_back(p);
  }
  models.push_back(std::string(GRETA_TEST_DATA) + "/gguf/stories260K.gguf-v1.gguf");
  { std::ofstream(path("text.gguf")) << "this is not a model\n"; }
  models.push_back(path("text.gguf"));
  for (const std::string& m : models) {
    const CliResult r = infer({"-m", m, "-p", kPrompt, "-n", "4", "-t", "1", "-s", "1"});
    EXPECT_EQ(r.term_signal, 0) << m;
    EXPECT_EQ(r.exit_code, 1) << m << ": " << r.err;
    EXPECT_EQ(r.err.rfind("greta_infer: error: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST_F(GretaInfer, StreamedTextIsValidUtf8EvenFromRandomByteTokens) {
  // At a huge temperature with no filters, byte tokens (<0x80>..<0xFF>) come out in random order:
  // stdout must still be valid UTF-8 (incomplete or invalid sequences become U+FFFD).
  for (const char* seed : {"1", "2", "3"}) {
    const CliResult r = infer({"-m", kModel, "-n", "400", "--ignore-eos", "-t", "1", "--temp", "100",
                               "--top-k", "0", "--top-p", "1", "--min-p", "0", "-s", seed});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(r.out.empty());
    EXPECT_EQ(utf8_first_invalid(r.out), std::string::npos) << "seed " << seed;
  }
}

TEST_F(GretaInfer, ClosedStdoutIsAnErrorAndLeavesNoDump) {
  // The reader goes away after the first bytes: the next write fails with EPIPE.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const std::string d = path("d");
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    const int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    execl(kBinary.c_str(), kBinary.c_str(), "-m", kModel.c_str(), "-n", "100000", "--ignore-eos",
          "-c", "4096", "-t", "1", "-s", "1", "--dump-logits", d.c_str(), static_cast<char*>(nullptr));
    _exit(126);
  }
  close(fds[1]);
  char c;
  ASSERT_EQ(read(fds[0], &c, 1), 1);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_TRUE(dump_files(d).empty());
}

TEST_F(GretaInfer, EndOfGenerationStopsTheRunAndBoundsTheDumpSpan) {
  // With every token about equally likely, EOS (id 2) comes within 3000 tokens (for seed 1 at
  // index 1534 today); generation stops there (EOS counted, not printed) unless --ignore-eos.
  const std::vector<std::string> base = {"-m", kModel, "-n", "3000", "-c", "4096", "--temp", "100",
                                         "--top-k", "0", "--top-p", "1", "--min-p", "0", "-t", "1",
                                         "-s", "1", "--dump-logits"};
  auto args = [&](const std::string& d, const std::string& span) {
    std::vector<std::string> a = base;
    a.push_back(d);
    a.push_back("--dump-span");
    a.push_back(span);
    return a;
  };
  // BOS-only prompt: the k-th generated token has index k, so gen_len is the EOS index.
  const CliResult first = infer(args(path("first"), "1:1"));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const int64_t eos_idx = dump::read_dump(path("first")).meta.gen_len;
  ASSERT_LT(eos_idx, 3000) << "no EOS sampled";
  const std::string eos = std::to_string(eos_idx);

  const CliResult ok = infer(args(path("ok"), eos + ":1"));
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.err.find("stop: end-of-generation"), std::string::npos) << ok.err;
  const dump::Dump d = dump::read_dump(path("ok"));
  EXPECT_EQ(d.meta.gen_len, eos_idx);
  EXPECT_EQ(d.metadata["stop_reason"], "end-of-generation");
  EXPECT_EQ(d.metadata["generated_token_ids"].back(), 2);
  ASSERT_EQ(d.records.size(), 1u);
  EXPECT_EQ(d.records[0].token_idx, eos_idx);
  EXPECT_EQ(d.records[0].token_id, 2);
  // A span past the end-of-generation token cannot be completed: error, nothing written.
  const CliResult past = infer(args(path("past"), std::to_string(eos_idx - 4) + ":10"));
  EXPECT_EQ(past.exit_code, 1);
  EXPECT_EQ(past.err, "greta_infer: warning: -c 4096 is above the model's trained context (2048 tokens): positions "
                      "past 2048 were never trained and the text degrades there\n"
                      "greta_infer: error: generation stopped (end-of-generation) at token index " +
                          eos + ", before the end of the dump span (" + std::to_string(eos_idx + 5) +
                          "): no dump written; use --ignore-eos or a shorter --dump-span\n");
  EXPECT_TRUE(dump_files(path("past")).empty());
  // --ignore-eos keeps going.
  std::vector<std::string> a = args(path("all"), std::to_string(eos_idx - 4) + ":10");
  a.push_back("--ignore-eos");
  const CliResult all = infer(a);
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(dump::read_dump(path("all")).meta.gen_len, 3000);
}

TEST_F(GretaInfer, ZeroMaxTokens) {
  const CliResult r = infer({"-m", kModel, "-p", kPrompt, "-n", "0", "-t", "1", "-s", "3",
                             "--temp", "0", "--dump-logits", path("d")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, kPrompt);  // the prompt is echoed, nothing is generated
  const dump::Dump d = dump::read_dump(path("d"));
  EXPECT_EQ(d.meta.gen_len, 0);
  ASSERT_EQ(d.records.size(), 1u);
  EXPECT_EQ(d.records[0].token_idx, 5);
  EXPECT_EQ(d.records[0].token_id, 432);  // the token that would come next
}

TEST_F(GretaInfer, EmptyPromptIsBosOnly) {
  const CliResult r = infer({"-m", kModel, "-p", "", "-n", "8", "-t", "1", "--temp", "0",
                             "--dtype", "f32", "--dump-logits", path("d")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, " Once upon a time, there was a");
  const dump::Dump d = dump::read_dump(path("d"));
  EXPECT_EQ(d.meta.prompt_len, 1);
  EXPECT_EQ(d.metadata["prompt_token_ids"], nlohmann::json({1}));
  EXPECT_EQ(d.metadata["generated_token_ids"],
            nlohmann::json({403, 407, 261, 378, 432, 383, 286, 261}));
  // The same through --mode decode (a one-token prompt goes entirely through decode).
  const CliResult dec = infer({"-m", kModel, "-n", "8", "-t", "1", "--temp", "0", "--dtype", "f32",
                               "--mode", "decode"});
  EXPECT_EQ(dec.out, r.out);
}

TEST_F(GretaInfer, PromptLongerThanTheContextExitsOne) {
  const CliResult r = infer({"-m", kModel, "-p", kPrompt, "-c", "3", "-t", "1", "-s", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "greta_infer: error: the prompt is 5 tokens, longer than the context (3 tokens): "
                   "raise -c/--ctx-size or shorten the prompt\n");
  EXPECT_EQ(r.out, "");
}

TEST_F(GretaInfer, GenerationStopsWhenTheContextIsFull) {
  // -c 8 holds 8 positions: 5 prompt tokens, then 8 - 5 + 1 = 4 generated tokens fit.
  const CliResult r = infer({"-m", kModel, "-p", kPrompt, "-c", "8", "-n", "100", "-t", "1",
                             "--temp", "0", "--dtype", "f32", "--dump-logits", path("d")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, kPrompt + ", there was a");
  EXPECT_NE(r.err.find("generation stops when the context is full"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("context full (8 tokens): stopped after 4 generated tokens"), std::string::npos);
  EXPECT_EQ(dump::read_dump(path("d")).meta.gen_len, 4);
}

TEST_F(GretaInfer, PromptFile) {
  { std::ofstream(path("p.txt")) << kPrompt << "\n"; }
  const CliResult r = infer({"-m", kModel, "-f", path("p.txt"), "--temp", "0", "--dtype", "f32",
                             "-n", "16", "-t", "1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, kPrompt + kGreedyText);  // the file's text (its final newline removed) is echoed
  { std::ofstream(path("bad.txt")) << "Once \xff\xfe upon"; }
  const CliResult bad = infer({"-m", kModel, "-f", path("bad.txt"), "-s", "1"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.err, "greta_infer: error: prompt file '" + path("bad.txt") +
                         "' is not valid UTF-8 (first invalid byte at offset 5); expected UTF-8 text\n");
  const CliResult missing = infer({"-m", kModel, "-f", path("missing.txt"), "-s", "1"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err, "greta_infer: error: cannot read prompt file '" + path("missing.txt") +
                             "': No such file or directory\n");
}

void expect_clean_stop(const std::string& dir, int sig, int expected_status) {
  // A full run takes seconds (8192 positions), so the signal always lands mid-generation.
  CliRun run{.args = {"-m", kModel, "-p", kPrompt, "-n", "100000", "--ignore-eos", "-c", "8192",
                      "-t", "1", "-s", "1", "--dump-logits", dir, "--dump-span", "5:2"},
             .signal_after_output = sig};
  const CliResult r = test::run_cli(kBinary, run);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.term_signal, 0);
  EXPECT_EQ(r.exit_code, expected_status) << r.err;
  EXPECT_FALSE(r.out.empty());
  EXPECT_NE(r.err.find("interrupted by"), std::string::npos) << r.err;
  EXPECT_TRUE(dump_files(dir).empty()) << "files left in " << dir;
}

TEST_F(GretaInfer, SigintStopsCleanlyWithoutADump) { expect_clean_stop(path("d"), SIGINT, 130); }
TEST_F(GretaInfer, SigtermStopsCleanlyWithoutADump) { expect_clean_stop(path("d"), SIGTERM, 143); }

}  // namespace
}  // namespace greta
