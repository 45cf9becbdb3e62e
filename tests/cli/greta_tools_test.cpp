// What every tool shares, as a user sees it: --version (exit 0, one format), `tool: error:` on
// parser errors, --help naming the tool, and llama.cpp's habits (-ngl, -fa, -cnv, -n -1,
// greta_bench's list sweeps) accepted or rejected with a message naming the flag.

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/cli_runner.h"
#include "cli/hardening_util.h"
#include "greta/core/build_info.h"

namespace greta {
namespace {

namespace fs = std::filesystem;
using test::CliResult;
using test::CliRun;

const std::string kBin = std::string(GRETA_BIN_DIR);
const std::string kModel = std::string(GRETA_SOURCE_DIR) + "/models/stories260K.gguf";

CliResult run(const std::string& tool, std::vector<std::string> args) {
  return test::run_cli(kBin + "/" + tool, CliRun{.args = std::move(args)});
}

// The tools of this build (greta_server only where cpp-httplib was found).
std::vector<std::string> tools() {
  std::vector<std::string> t = {"greta_infer",   "greta_gguf",  "greta_tokenize", "greta_bench",
                                "greta_compare", "greta_batched"};
  if (fs::exists(kBin + "/greta_server")) t.push_back("greta_server");
  return t;
}

std::string version_line(const std::string& tool) {
  return tool + " " + build::kVersion + " (" + build::kGitBranch + "@" + build::kGitCommit + ")\n";
}

TEST(GretaTools, VersionExitsZeroWithOneFormat) {
  for (const std::string& tool : tools()) {
    const CliResult r = run(tool, {"--version"});
    EXPECT_EQ(r.exit_code, 0) << tool << ": " << r.err;
    EXPECT_EQ(r.out, version_line(tool)) << tool;
    EXPECT_EQ(r.err, "") << tool;
  }
}

TEST(GretaTools, HelpNamesTheToolNotTheBinaryPath) {
  for (const std::string& tool : tools()) {
    const CliResult r = run(tool, {"--help"});
    EXPECT_EQ(r.exit_code, 0) << tool << ": " << r.err;
    EXPECT_NE(r.out.find("Usage: " + tool + " "), std::string::npos) << tool << ":\n" << r.out;
    EXPECT_EQ(r.out.find(kBin), std::string::npos) << tool << ":\n" << r.out;
    EXPECT_NE(r.out.find("--version"), std::string::npos) << tool << ":\n" << r.out;
  }
  const CliResult c = run("greta_compare", {"--help"});
  EXPECT_EQ(c.out.find("(0x)"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("Usage: greta_compare [OPTIONS] [A B]"), std::string::npos) << c.out;
}

TEST(GretaTools, ParserErrorsCarryTheToolPrefix) {
  for (const std::string& tool : tools()) {
    if (tool == "greta_gguf") continue;  // a subcommand is asked for first (below)
    // Required options are checked before unknown ones: give them.
    std::vector<std::string> args = {"--no-such-flag"};
    if (tool == "greta_tokenize") args = {"-m", kModel, "--no-such-flag"};
    if (tool == "greta_batched") args = {"-f", "p.txt", "--no-such-flag"};
    const CliResult r = run(tool, args);
    EXPECT_EQ(r.exit_code, 2) << tool;
    EXPECT_EQ(r.err, tool + ": error: The following argument was not expected: --no-such-flag (see --help)\n")
        << tool;
    EXPECT_EQ(r.out, "") << tool;
  }
  const CliResult g = run("greta_gguf", {"info", "x.gguf", "--no-such-flag"});
  EXPECT_EQ(g.exit_code, 2);
  EXPECT_EQ(g.err, "greta_gguf: error: The following argument was not expected: --no-such-flag (see --help)\n");
  const CliResult s = run("greta_gguf", {});
  EXPECT_EQ(s.exit_code, 2);
  EXPECT_EQ(s.err, "greta_gguf: error: A subcommand is required (see --help)\n");
  const CliResult t = run("greta_tokenize", {"-p", "x"});
  EXPECT_EQ(t.exit_code, 2);
  EXPECT_EQ(t.err, "greta_tokenize: error: --model is required (see --help)\n");
}

// ---- llama.cpp's habits ----

struct Rejected {
  std::string tool;
  std::vector<std::string> args;
  std::string err;
};

TEST(GretaTools, LlamaCppFlagsGretaDoesNotHaveAreRejectedNamingTheFlag) {
  const std::string chat =
      ": conversation and interactive modes are not supported; greta_infer generates once from -p/-f "
      "(greta_server serves chat: docs/SERVER.md)\n";
  const std::vector<Rejected> cases = {
      {"greta_infer", {"-cnv"}, "greta_infer: error: -cnv" + chat},
      {"greta_infer", {"--conversation"}, "greta_infer: error: --conversation" + chat},
      {"greta_infer", {"-i"}, "greta_infer: error: -i" + chat},
      {"greta_infer", {"-if"}, "greta_infer: error: -if" + chat},
      {"greta_infer", {"-ctk", "q8_0"},
       "greta_infer: error: -ctk: llama.cpp's flag is not supported by greta_infer; greta has one KV-cache type "
       "for K and V: --dtype f32|f16|bf16 (see --help)\n"},
      {"greta_infer", {"-np", "4"},
       "greta_infer: error: -np: greta_infer runs one sequence; greta_batched --parallel P runs many\n"},
      {"greta_infer", {"-ngl", "x"}, "greta_infer: error: -ngl: expected an integer in 0..1073741824, got 'x'\n"},
      {"greta_infer", {"-ngl"}, "greta_infer: error: -ngl: expected a value\n"},
      {"greta_infer", {"-n", "-2"}, "greta_infer: error: --max-tokens: expected an integer in -1..1000000, got '-2'\n"},
      {"greta_batched", {"-cnv"},
       "greta_batched: error: -cnv: conversation and interactive modes are not supported; greta_batched generates "
       "once from the prompt file (greta_server serves chat: docs/SERVER.md)\n"},
      {"greta_bench", {"-m", kModel, "-ctk", "q8_0"},
       "greta_bench: error: -ctk: llama.cpp's flag is not supported by greta_bench; greta has one KV-cache type "
       "for K and V: --dtype f32|f16|bf16 (see --help)\n"},
      {"greta_bench", {"-m", kModel, "-ngl", "0,99"},
       "greta_bench: error: -ngl 0,99: a sweep over CPU and GPU is not supported: run once per backend "
       "(--backend)\n"},
      {"greta_bench", {"-m", kModel, "-p", "16,,32"},
       "greta_bench: error: --n-prompt: expected integers in 0..1048576 separated by commas, got '16,,32'\n"},
      {"greta_bench", {"-m", kModel, "-t", "1,0"}, "greta_bench: error: --threads: expected an integer in 1..1024, got '0'\n"},
  };
  for (const Rejected& c : cases) {
    const CliResult r = run(c.tool, c.args);
    EXPECT_EQ(r.exit_code, 2) << c.tool << " " << c.args[0];
    EXPECT_EQ(r.err, c.err) << c.tool << " " << c.args[0];
    EXPECT_EQ(r.out, "");
  }
}

TEST(GretaTools, NglAndFlashAttentionAreAcceptedWithANote) {
  const std::vector<std::string> base = {"-m", kModel, "-p", "Once upon a time", "-n", "4", "--temp", "0", "-t", "1"};
  const CliResult plain = run("greta_infer", base);
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  struct Case {
    std::vector<std::string> extra;
    std::string note;
  };
#ifdef GRETA_HAVE_CUDA
  const std::string ngl_note = "";  // -ngl 99 runs on the GPU (tested in test_cuda)
#else
  const std::string ngl_note =
      "greta_infer: note: -ngl 99: this greta_infer has no GPU backend (configure with -DGRETA_CUDA=ON); "
      "running on the CPU\n";
#endif
  const std::string fa_note = ": ignored: greta has one attention kernel per backend, always used\n";
  const std::vector<Case> cases = {
      {{"-ngl", "0"}, ""},
      {{"-fa"}, "greta_infer: note: -fa" + fa_note},
      {{"-fa", "on"}, "greta_infer: note: -fa" + fa_note},
      {{"--flash-attn=auto"}, "greta_infer: note: --flash-attn" + fa_note},
      {{"--n-predict", "4"}, ""},
  };
  std::vector<Case> all = cases;
#ifndef GRETA_HAVE_CUDA
  all.push_back({{"-ngl", "99"}, ngl_note});
  all.push_back({{"--n-gpu-layers", "99"},
                 "greta_infer: note: --n-gpu-layers 99: this greta_infer has no GPU backend (configure with "
                 "-DGRETA_CUDA=ON); running on the CPU\n"});
#endif
  for (const Case& c : all) {
    std::vector<std::string> args = c.extra;
    args.insert(args.end(), base.begin(), base.end());
    const CliResult r = run("greta_infer", args);
    EXPECT_EQ(r.exit_code, 0) << c.extra[0] << ": " << r.err;
    EXPECT_EQ(r.out, plain.out) << c.extra[0];
    EXPECT_EQ(r.err.substr(0, c.note.size()), c.note) << c.extra[0];
    if (c.note.empty()) EXPECT_EQ(r.err.find("note:"), std::string::npos) << r.err;
  }
}

TEST(GretaTools, MaxTokensMinusOneRunsUntilTheContextIsFull) {
  // 5 prompt tokens in a 32-token context: 28 tokens fit (the last is sampled, never fed back).
  const CliResult r = run("greta_infer", {"-m", kModel, "-p", "Once upon a time", "-n", "-1", "-c", "32", "--temp",
                                          "0", "--ignore-eos", "-t", "1", "-s", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("greta_infer: context full (32 tokens): stopped after 28 generated tokens\n"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("generation     28 tokens"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("exceed the context"), std::string::npos) << r.err;  // no limit: no note
}

TEST(GretaTools, BenchSweepsListsLikeLlamaBench) {
  const CliResult r = run("greta_bench", {"-m", kModel, "-p", "16,32", "-n", "16,32", "-t", "1", "-r", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::pair<int, int>> tests;  // (pp n_tokens, tg n_tokens) of each line
  size_t a = 0;
  while (a < r.out.size()) {
    const size_t b = r.out.find('\n', a);
    const nlohmann::json j = nlohmann::json::parse(r.out.substr(a, b - a));
    tests.emplace_back(j["pp"]["n_tokens"].get<int>(), j["tg"]["n_tokens"].get<int>());
    EXPECT_EQ(j["threads"], 1);
    a = b + 1;
  }
  const std::vector<std::pair<int, int>> expected = {{16, 0}, {32, 0}, {0, 16}, {0, 32}};
  EXPECT_EQ(tests, expected) << r.out;
}

TEST(GretaTools, BenchPrintsParameterCountsOfSmallModels) {
  const CliResult r = run("greta_bench", {"-m", kModel, "-p", "8", "-n", "0", "-t", "1", "-r", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("0.00B params"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(llama, f32, 292.8K params, "), std::string::npos) << r.out;
}

// ---- The first command's story, and feedback on odd requests ----

const std::string kPrompt = "Once upon a time";

// A scratch directory, removed at the end.
struct Scratch {
  Scratch() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir = fs::temp_directory_path() / ("greta_tools_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~Scratch() { fs::remove_all(dir); }
  std::string path(const std::string& n) const { return (dir / n).string(); }
  fs::path dir;
};

TEST(GretaTools, DefaultRunEchoesThePromptAndEndsWithAWholeWord) {
  // Without -n: 128 tokens, then the word being written is finished (no space in what follows).
  const std::vector<std::string> base = {"-m", kModel, "-p", kPrompt, "-t", "1", "-s", "5", "--temp", "0"};
  const CliResult r = run("greta_infer", base);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind(kPrompt + ",", 0), 0u) << r.out;  // the prompt first, then the story
  std::vector<std::string> fixed = base;
  fixed.insert(fixed.end(), {"-n", "128"});
  const CliResult n128 = run("greta_infer", fixed);
  ASSERT_EQ(n128.exit_code, 0) << n128.err;
  ASSERT_EQ(r.out.rfind(n128.out, 0), 0u) << r.out << "\n---\n" << n128.out;
  const std::string rest = r.out.substr(n128.out.size());
  EXPECT_EQ(rest.find_first_of(" \n"), std::string::npos) << "'" << rest << "'";
  // --no-display-prompt: the generated text only.
  std::vector<std::string> quiet = base;
  quiet.push_back("--no-display-prompt");
  const CliResult q = run("greta_infer", quiet);
  ASSERT_EQ(q.exit_code, 0) << q.err;
  EXPECT_EQ(kPrompt + q.out, r.out);
}

TEST(GretaTools, SeedLineOnlyWhenSamplingUsesIt) {
  const CliResult sampled = run("greta_infer", {"-m", kModel, "-p", kPrompt, "-n", "2", "-t", "1"});
  ASSERT_EQ(sampled.exit_code, 0) << sampled.err;
  EXPECT_EQ(sampled.err.rfind("greta_infer: seed ", 0), 0u) << sampled.err;
  const CliResult greedy = run("greta_infer", {"-m", kModel, "-p", kPrompt, "-n", "2", "-t", "1", "--temp", "0"});
  ASSERT_EQ(greedy.exit_code, 0) << greedy.err;
  EXPECT_EQ(greedy.err.find("(random; pass --seed"), std::string::npos) << greedy.err;
  // A model that cannot be loaded: its error is the only line.
  const CliResult missing = run("greta_infer", {"-m", "/nonexistent/m.gguf", "-p", kPrompt});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err.rfind("greta_infer: error: ", 0), 0u) << missing.err;
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1) << missing.err;
}

TEST(GretaTools, WarnsAboveTheTrainedContextAndOnADoubleBos) {
  const CliResult c = run("greta_infer", {"-m", kModel, "-p", kPrompt, "-n", "1", "-t", "1", "-s", "1", "-c", "4096"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(c.err.rfind("greta_infer: warning: -c 4096 is above the model's trained context (2048 tokens): "
                        "positions past 2048 were never trained and the text degrades there\n",
                        0),
            0u)
      << c.err;
  const CliResult b = run("greta_infer", {"-m", kModel, "-p", "<s>Once", "-n", "1", "-t", "1", "-s", "1"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(b.err.rfind("greta_infer: warning: the prompt starts with two BOS tokens: the model adds one and "
                        "the prompt text begins with '<s>'; remove it from the prompt\n",
                        0),
            0u)
      << b.err;
  const CliResult ok = run("greta_infer", {"-m", kModel, "-p", kPrompt, "-n", "1", "-t", "1", "-s", "1", "-c", "2048"});
  EXPECT_EQ(ok.err.find("warning"), std::string::npos) << ok.err;
}

TEST(GretaTools, OutOfMemoryNamesTheSizeAndSuggestsASmallerContext) {
  // A sanitizer's shadow memory does not fit under `ulimit -v` (the runtime fails to start).
  if (test::kSanitized) GTEST_SKIP() << "ulimit -v leaves no room for the sanitizer's shadow memory";
  // 600 MB of address space; a 1M-token f32 context of stories260K needs more for its KV cache.
  const CliResult r = test::run_cli(
      "/bin/sh", CliRun{.args = {"-c", "ulimit -v 600000; exec '" + kBin + "/greta_infer' -m '" + kModel +
                                           "' -p x -n 1 -t 1 -s 1 --dtype f32 -c 1048576"}});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const std::string oom =
      "greta_infer: error: out of memory creating a context of 1048576 tokens (its f32 KV cache alone "
      "needs 1.25 GiB): lower -c/--ctx-size or use --dtype bf16\n";
  ASSERT_GE(r.err.size(), oom.size()) << r.err;
  EXPECT_EQ(r.err.substr(r.err.size() - oom.size()), oom) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(GretaTools, DumpsLeaveNoLockFile) {
  Scratch s;
  const CliResult r = run("greta_infer", {"-m", kModel, "-p", kPrompt, "-n", "2", "-t", "1", "-s", "1",
                                          "--dump-logits", s.path("d")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(s.path("d"))) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"logits.jsonl.gz", "metadata.json"}));
}

TEST(GretaTools, SmokeScriptHelpExitsZero) {
  const std::string script = std::string(GRETA_SOURCE_DIR) + "/tools/benchmarks/test_b3_68_smoke.sh";
  const CliResult h = test::run_cli(script, CliRun{.args = {"--help"}});
  EXPECT_EQ(h.exit_code, 0) << h.err;
  EXPECT_EQ(h.out.rfind("usage: test_b3_68_smoke.sh [DUMP_DIR]\n", 0), 0u) << h.out;
  const CliResult bad = test::run_cli(script, CliRun{.args = {"--bogus"}});
  EXPECT_EQ(bad.exit_code, 2);
}

// The first run builds greta_infer only; scripts/test.sh asks setup.sh for everything (--test).
TEST(GretaTools, SetupScriptModes) {
  const std::string setup = std::string(GRETA_SOURCE_DIR) + "/scripts/setup.sh";
  const CliResult h = test::run_cli(setup, CliRun{.args = {"--help"}});
  EXPECT_EQ(h.exit_code, 0) << h.err;
  EXPECT_NE(h.out.find("scripts/setup.sh            the first run: the packages to build the tools, then greta_infer only"),
            std::string::npos)
      << h.out;
  EXPECT_NE(h.out.find("scripts/setup.sh --test"), std::string::npos) << h.out;
  const CliResult bad = test::run_cli(setup, CliRun{.args = {"--bogus"}});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.err, "setup: error: unknown option '--bogus' (see --help)\n");
}

}  // namespace
}  // namespace greta
