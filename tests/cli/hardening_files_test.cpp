// Issue 6, item 3: a model or dump path that is missing, unreadable or a directory gets a one-line
// error naming the path and the problem, a non-zero exit status and no crash, from every CLI that
// takes one (greta_gguf, greta_tokenize, greta_compare). greta_infer's flags are tested in
// greta_infer_test.cpp.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cli/hardening_util.h"
#include "greta/dump/logits_dump.h"

namespace greta {
namespace {

namespace fs = std::filesystem;
using test::ProcOptions;
using test::ProcResult;
using test::run_process;

const std::string kBin = GRETA_BIN_DIR;
const std::string kModel = std::string(GRETA_SOURCE_DIR) + "/models/stories260K.gguf";

class HardeningFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("greta_hardening_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // 'nobody' must reach the files of the permission tests.
    fs::permissions(dir_, fs::perms::all);
    missing_ = (dir_ / "no_such_model.gguf").string();
    directory_ = (dir_ / "a_directory.gguf").string();
    fs::create_directory(directory_);
    unreadable_ = (dir_ / "unreadable.gguf").string();
    fs::copy_file(kModel, unreadable_);
    fs::permissions(unreadable_, fs::perms::none);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static void require_tool(const std::string& tool) {
    if (!fs::exists(kBin + "/" + tool)) GTEST_SKIP() << tool << " is not built";
  }
  // Unreadable files are readable by root: drop to 'nobody' for those runs.
  static ProcResult run(const std::vector<std::string>& args, bool drop_root = false) {
    return run_process(args, ProcOptions{.drop_root = drop_root});
  }
  fs::path dir_;
  std::string missing_, directory_, unreadable_;
};

// The contract of every case: exit status, exactly one line on stderr "<tool>: error: ..." that
// names the path and says what is wrong, nothing on stdout, no signal.
void expect_one_line_error(const ProcResult& r, const std::string& tool, int exit_code, const std::string& path,
                           const std::string& problem, bool expect_no_stdout = true) {
  EXPECT_EQ(r.term_signal, 0) << "killed by signal " << r.term_signal << "\n" << r.err;
  EXPECT_EQ(r.exit_code, exit_code) << r.err;
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  EXPECT_EQ(r.err.rfind(tool + ": error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(path), std::string::npos) << "message does not name " << path << ": " << r.err;
  EXPECT_NE(r.err.find(problem), std::string::npos) << "expected '" << problem << "' in: " << r.err;
  if (expect_no_stdout) {
    EXPECT_EQ(r.out, "");
  }
}

TEST_F(HardeningFiles, GgufInfoMissingFile) {
  require_tool("greta_gguf");
  expect_one_line_error(run({kBin + "/greta_gguf", "info", missing_}), "greta_gguf", 1, missing_,
                        "cannot open: No such file or directory");
}

TEST_F(HardeningFiles, GgufInfoDirectory) {
  require_tool("greta_gguf");
  expect_one_line_error(run({kBin + "/greta_gguf", "info", directory_}), "greta_gguf", 1, directory_,
                        "not a regular file");
}

TEST_F(HardeningFiles, GgufInfoUnreadable) {
  require_tool("greta_gguf");
  expect_one_line_error(run({kBin + "/greta_gguf", "info", unreadable_}, true), "greta_gguf", 1, unreadable_,
                        "cannot open: Permission denied");
}

TEST_F(HardeningFiles, GgufInfoEmptyFile) {
  require_tool("greta_gguf");
  const std::string empty = (dir_ / "empty.gguf").string();
  test::write_bytes(empty, nullptr, 0);
  expect_one_line_error(run({kBin + "/greta_gguf", "info", empty}), "greta_gguf", 1, empty,
                        "file is too small to be GGUF (0 bytes)");
}

TEST_F(HardeningFiles, TokenizeMissingFile) {
  require_tool("greta_tokenize");
  expect_one_line_error(run({kBin + "/greta_tokenize", "-m", missing_, "-p", "hello"}), "greta_tokenize", 1,
                        missing_, "cannot open: No such file or directory");
}

TEST_F(HardeningFiles, TokenizeDirectory) {
  require_tool("greta_tokenize");
  expect_one_line_error(run({kBin + "/greta_tokenize", "-m", directory_, "-p", "hello"}), "greta_tokenize", 1,
                        directory_, "not a regular file");
}

TEST_F(HardeningFiles, TokenizeUnreadable) {
  require_tool("greta_tokenize");
  expect_one_line_error(run({kBin + "/greta_tokenize", "-m", unreadable_, "-p", "hello"}, true), "greta_tokenize",
                        1, unreadable_, "cannot open: Permission denied");
}

TEST_F(HardeningFiles, TokenizeNotGguf) {
  require_tool("greta_tokenize");
  const std::string text = (dir_ / "readme.gguf").string();
  const std::string body = "this is not a model\n";
  test::write_bytes(text, reinterpret_cast<const uint8_t*>(body.data()), body.size());
  expect_one_line_error(run({kBin + "/greta_tokenize", "-m", text, "-p", "hello"}), "greta_tokenize", 1, text,
                        "not a GGUF file");
}

// greta_compare reads dumps (directories) and, optionally, a model for token texts.
class HardeningCompare : public HardeningFiles {
 protected:
  void SetUp() override {
    HardeningFiles::SetUp();
    dump_a_ = (dir_ / "dump_a").string();
    dump_b_ = (dir_ / "dump_b").string();
    for (const std::string& d : {dump_a_, dump_b_}) {
      dump::DumpWriter w(d);
      const std::vector<float> logits = {0.5f, -1.0f, 2.0f, 0.25f};
      w.add(5, 3, logits.data(), 4);
      dump::DumpMetadata m;
      m.dtype = "f32";
      m.prompt_len = 5;
      m.gen_len = 0;
      m.kv_aligned = 1;
      m.mode = "prefill";
      m.span_start = 5;
      m.span_count = 1;
      w.finish(m);
    }
    fs::permissions(dump_a_, fs::perms::all);
    fs::permissions(dump_b_, fs::perms::all);
  }
  std::string dump_a_, dump_b_;
};

TEST_F(HardeningCompare, ValidDumpsCompare) {
  require_tool("greta_compare");
  const ProcResult r = run({kBin + "/greta_compare", dump_a_, dump_b_});
  EXPECT_EQ(r.term_signal, 0);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(HardeningCompare, MissingDumpDirectory) {
  require_tool("greta_compare");
  expect_one_line_error(run({kBin + "/greta_compare", missing_, dump_b_}), "greta_compare", 2, missing_,
                        "does not exist");
}

TEST_F(HardeningCompare, DumpIsAFile) {
  require_tool("greta_compare");
  const std::string file = (dir_ / "a_file").string();
  test::write_bytes(file, reinterpret_cast<const uint8_t*>("x"), 1);
  expect_one_line_error(run({kBin + "/greta_compare", dump_a_, file}), "greta_compare", 2, file,
                        "is not a directory");
}

TEST_F(HardeningCompare, UnreadableDumpMetadata) {
  require_tool("greta_compare");
  const std::string meta = dump_b_ + "/metadata.json";
  fs::permissions(meta, fs::perms::none);
  expect_one_line_error(run({kBin + "/greta_compare", dump_a_, dump_b_}, true), "greta_compare", 2, meta,
                        "Permission denied");
}

// The model only gives token texts to the HTML report: greta_compare reads it with --html, after
// printing the text report, and a bad one is a usage error naming the flag and the file, with no
// HTML file left behind.
TEST_F(HardeningCompare, ModelMissing) {
  require_tool("greta_compare");
  const std::string html = (dir_ / "report.html").string();
  const ProcResult r = run({kBin + "/greta_compare", "--html", html, "--model", missing_, dump_a_, dump_b_});
  expect_one_line_error(r, "greta_compare", 2, "--model: " + missing_, "cannot open: No such file or directory",
                        /*expect_no_stdout=*/false);
  EXPECT_FALSE(fs::exists(html));
}

TEST_F(HardeningCompare, ModelIsADirectory) {
  require_tool("greta_compare");
  const std::string html = (dir_ / "report.html").string();
  const ProcResult r = run({kBin + "/greta_compare", "--html", html, "--model", directory_, dump_a_, dump_b_});
  expect_one_line_error(r, "greta_compare", 2, "--model: " + directory_, "not a regular file", false);
  EXPECT_FALSE(fs::exists(html));
}

TEST_F(HardeningCompare, ModelUnreadable) {
  require_tool("greta_compare");
  const std::string html = (dir_ / "report.html").string();
  const ProcResult r = run({kBin + "/greta_compare", "--html", html, "--model", unreadable_, dump_a_, dump_b_}, true);
  expect_one_line_error(r, "greta_compare", 2, "--model: " + unreadable_, "cannot open: Permission denied", false);
  EXPECT_FALSE(fs::exists(html));
}

}  // namespace
}  // namespace greta
