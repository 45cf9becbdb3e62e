// Issue 6: regression tests for the bugs the dump and CLI fuzzers found (docs/PROGRESS.md,
// "Hardening"). Each input is also kept in fuzz/regressions/ for the fuzz targets.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli/hardening_util.h"
#include "greta/core/error.h"
#include "greta/dump/logits_dump.h"

namespace greta {
namespace {

namespace fs = std::filesystem;
using test::ProcResult;

const std::string kBin = GRETA_BIN_DIR;
const std::string kModel = std::string(GRETA_SOURCE_DIR) + "/models/stories260K.gguf";

class HardeningDump : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("greta_hardening_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// A valid one-record dump in `dir` whose metadata carries `extra_json` as the value of key "x".
void write_dump_with_extra(const std::string& dir, const std::string& extra_json) {
  {
    dump::DumpWriter w(dir);
    const std::vector<float> logits = {0.5f, -1.0f, 2.0f};
    w.add(0, 1, logits.data(), 3);
    dump::DumpMetadata m;
    m.dtype = "f32";
    m.prompt_len = 1;
    m.kv_aligned = 1;
    m.mode = "prefill";
    m.span_start = 0;
    m.span_count = 1;
    w.finish(m);
  }
  // Splice the extra key into the published metadata, dropping the writer's fingerprint check
  // only in the sense that the logits file is unchanged (the fingerprint stays valid).
  const std::string meta_path = dir + "/metadata.json";
  std::ifstream in(meta_path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t brace = text.find('{');
  ASSERT_NE(brace, std::string::npos);
  text.insert(brace + 1, "\"x\": " + extra_json + ", ");
  std::ofstream(meta_path, std::ios::trunc) << text;
}

// Bug 2: a metadata.json with a deeply nested extra value overflowed the stack while the reader
// copied the extras (nlohmann::json's copy is recursive). Expected: a one-line usage error (exit 2).
TEST_F(HardeningDump, DeeplyNestedMetadataIsRejectedNotACrash) {
  const std::string d = path("deep");
  const int depth = 500000;
  write_dump_with_extra(d, std::string(depth, '[') + std::string(depth, ']'));
  if (fs::exists(kBin + "/greta_compare")) {
    const ProcResult r = test::run_process({kBin + "/greta_compare", "--validate", d}, {});
    EXPECT_EQ(r.term_signal, 0) << "greta_compare crashed: " << r.err.substr(0, 2000);
    EXPECT_EQ(r.exit_code, 2) << r.err.substr(0, 2000);
    EXPECT_EQ(test::count_lines(r.err), 1) << r.err.substr(0, 2000);
    EXPECT_NE(r.err.find("metadata.json"), std::string::npos) << r.err.substr(0, 2000);
  }
}

// A shallow nested extra is fine and survives the round trip.
TEST_F(HardeningDump, ModeratelyNestedMetadataIsAccepted) {
  const std::string d = path("shallow");
  write_dump_with_extra(d, "[[[1, 2], {\"a\": [3]}]]");
  dump::Dump got = dump::read_dump(d);
  EXPECT_EQ(got.meta.extra["x"], nlohmann::json::parse("[[[1, 2], {\"a\": [3]}]]"));
}

// Bug 3: a model path (or dump path) that is not UTF-8 -- legal on Linux -- made the dump
// writer's JSON serialisation throw nlohmann's type_error 316 after generation: exit 1 with
// "[json.exception.type_error.316] invalid UTF-8 byte", and no dump. Expected: the run succeeds
// and the dump is published (the path recorded with U+FFFD replacements or escaped).
TEST_F(HardeningDump, NonUtf8ModelPathStillDumps) {
  if (!fs::exists(kBin + "/greta_infer")) GTEST_SKIP() << "greta_infer is not built";
  const std::string model = path("m\xff.gguf");
  fs::copy_file(kModel, model);
  const std::string out = path("dump");
  const ProcResult r = test::run_process(
      {kBin + "/greta_infer", "-m", model, "-p", "Once upon", "-n", "2", "--seed", "1", "--dump-logits", out}, {});
  EXPECT_EQ(r.term_signal, 0) << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("json.exception"), std::string::npos) << r.err;
  EXPECT_NO_THROW(dump::read_dump(out));
}

}  // namespace
}  // namespace greta
