// greta_compare as a user runs it: crafted dump pairs, exit codes 0/1/2, messages, reports.

#include <bit>
#include <cmath>
#include <cstdlib>

#include <sys/wait.h>

#include <gtest/gtest.h>

#include "dump/invalid_dumps.h"

namespace greta::dump {
namespace {

using testing::TempDir;

struct CliRun {
  int code = -1;
  std::string out, err;
};

std::string quote(const std::string& s) { return "'" + s + "'"; }

CliRun run_compare(const std::vector<std::string>& args, const TempDir& tmp) {
  std::string cmd = quote(std::string(GRETA_BIN_DIR) + "/greta_compare");
  for (const auto& a : args) cmd += " " + quote(a);
  cmd += " >" + quote(tmp.sub("stdout")) + " 2>" + quote(tmp.sub("stderr"));
  int st = std::system(cmd.c_str());
  CliRun r;
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.out = testing::read_text(tmp.sub("stdout"));
  r.err = testing::read_text(tmp.sub("stderr"));
  return r;
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

class CompareCli : public ::testing::Test {
 protected:
  TempDir tmp;
  std::vector<std::vector<float>> rows = testing::make_rows(3, 1000);
  std::string a = tmp.sub("a"), b = tmp.sub("b");
};

TEST_F(CompareCli, IdenticalDumpsAreEquivalent) {
  testing::write_dump(a, rows, 20, 1, "prefill", {{"threads", 1}});
  testing::write_dump(b, rows, 20, 1, "decode", {{"threads", 3}});
  CliRun r = run_compare({a, b}, tmp);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(first_line(r.out),
            "verdict: EQUIVALENT by strict bit-equality (both dumps kv_aligned 1): all 3000 logits bit-equal, token ids equal");
  EXPECT_NE(r.out.find("metadata differences:\n  mode: \"prefill\" | \"decode\"\n  threads: 1 | 3\n"), std::string::npos)
      << r.out;
  EXPECT_EQ(r.err, "");
}

TEST_F(CompareCli, OneUlpApartIsNotEquivalentUnderStrict) {
  auto rows_b = rows;
  rows_b[1][417] = std::nextafter(rows_b[1][417], INFINITY);
  testing::write_dump(a, rows, 20, 1);
  testing::write_dump(b, rows_b, 20, 1);
  CliRun r = run_compare({a, b}, tmp);
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_EQ(first_line(r.out).rfind("verdict: NOT EQUIVALENT by strict bit-equality (both dumps kv_aligned 1): "
                                    "1 of 3000 logits differ (max |d| ",
                                    0),
            0u)
      << r.out;
  EXPECT_NE(first_line(r.out).find("at token_idx 21, logit 417)"), std::string::npos) << r.out;

  // The same pair with kv_aligned 0 is judged by the tolerances: equivalent.
  testing::write_dump(a, rows, 20, 0);
  testing::write_dump(b, rows_b, 20, 0);
  r = run_compare({a, b}, tmp);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(first_line(r.out).rfind("verdict: EQUIVALENT by tolerances (not both kv_aligned 1): max |d| <= 0.01, KL <= 0.001", 0), 0u)
      << r.out;
  // ... unless --strict.
  r = run_compare({a, b, "--strict"}, tmp);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(first_line(r.out).rfind("verdict: NOT EQUIVALENT by strict bit-equality (--strict)", 0), 0u) << r.out;
}

TEST_F(CompareCli, ToleranceModeThresholdsAndOverrides) {
  auto rows_b = rows;
  for (auto& x : rows_b[0]) x += 0.02f;  // a uniform shift: softmax unchanged, |d| = 0.02
  testing::write_dump(a, rows, 20, 0);
  testing::write_dump(b, rows_b, 20, 0);
  CliRun r = run_compare({a, b}, tmp);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(first_line(r.out).find(" > 0.01; max KL "), std::string::npos) << r.out;
  EXPECT_EQ(run_compare({a, b, "--atol", "0.05"}, tmp).code, 0);
  EXPECT_EQ(run_compare({a, b, "--atol", "0.05", "--max-kl", "0"}, tmp).code, 1);  // KL is ~1e-10, not 0
  // Tolerances given explicitly also apply to kv_aligned 1 dumps.
  testing::write_dump(a, rows, 20, 1);
  testing::write_dump(b, rows_b, 20, 1);
  EXPECT_EQ(run_compare({a, b}, tmp).code, 1);
  r = run_compare({a, b, "--atol", "0.05"}, tmp);
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(first_line(r.out).rfind("verdict: EQUIVALENT by tolerances (given on the command line)", 0), 0u) << r.out;
}

TEST_F(CompareCli, TokenIdDifferenceFailsStrictAndWarnsInToleranceMode) {
  testing::write_dump(a, rows, 20, 1, "prefill", {}, 100);
  testing::write_dump(b, rows, 20, 1, "decode", {}, 200);
  CliRun r = run_compare({a, b}, tmp);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(first_line(r.out).find("logits bit-equal but token_id differs at token_idx 20 (100 vs 200)"), std::string::npos)
      << r.out;
  testing::write_dump(a, rows, 20, 0, "prefill", {}, 100);
  testing::write_dump(b, rows, 20, 0, "decode", {}, 200);
  r = run_compare({a, b}, tmp);
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("warning: token_id differs at token_idx 20 (100 vs 200)"), std::string::npos) << r.out;
}

TEST_F(CompareCli, EveryInvalidDumpIsExit2NamingTheFile) {
  testing::write_dump(b, rows, 20, 1);
  for (const auto& c : testing::invalid_dump_cases()) {
    std::string bad = tmp.sub("bad_" + c.name);
    c.make(bad);
    CliRun r = run_compare({bad, b}, tmp);
    EXPECT_EQ(r.code, 2) << c.name;
    EXPECT_EQ(r.err.rfind("greta_compare: error: A: ", 0), 0u) << c.name << ": " << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.name << ": " << r.err;
    EXPECT_NE(r.err.find(bad), std::string::npos) << c.name << ": " << r.err;
    r = run_compare({b, bad}, tmp);
    EXPECT_EQ(r.code, 2) << c.name;
    EXPECT_EQ(r.err.rfind("greta_compare: error: B: ", 0), 0u) << c.name << ": " << r.err;
    r = run_compare({"--validate", bad}, tmp);
    EXPECT_EQ(r.code, 2) << c.name;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.name << ": " << r.err;
  }
}

TEST_F(CompareCli, IncomparableDumpsAreExit2) {
  testing::write_dump(a, rows, 20, 1);
  testing::write_dump(b, rows, 21, 1);
  CliRun r = run_compare({a, b}, tmp);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "greta_compare: error: the dumps cover different token spans: A '" + a +
                       "' has {start 20, count 3}, B '" + b + "' has {start 21, count 3}\n");
  testing::write_dump(b, testing::make_rows(2, 1000), 20, 1);
  r = run_compare({a, b}, tmp);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("different token spans"), std::string::npos);
  testing::write_dump(b, testing::make_rows(3, 999), 20, 1);
  r = run_compare({a, b}, tmp);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "greta_compare: error: the dumps have different vocab sizes: A '" + a +
                       "' has 1000 logits per token, B '" + b + "' has 999\n");
}

TEST_F(CompareCli, NullLogitIsInvalidInput) {
  auto rows_b = rows;
  rows_b[2][3] = NAN;
  testing::write_dump(a, rows, 20, 1);
  testing::write_dump(b, rows_b, 20, 1);
  CliRun r = run_compare({a, b}, tmp);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "greta_compare: error: B '" + b +
                       "/logits.jsonl.gz' line 3: logits[3] is null (a non-finite logit); the analyzer needs finite logits\n");
  // The dump itself is valid under the contract (null is how a non-finite value is written).
  r = run_compare({"--validate", b}, tmp);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("valid dump: 3 tokens x 1000 logits, token_span {start 20, count 3}"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 null logits"), std::string::npos) << r.out;
}

TEST_F(CompareCli, JsonAndHtmlReports) {
  auto rows_b = rows;
  rows_b[0][5] += 1e-3f;
  rows_b[2][7] -= 3e-5f;
  testing::write_dump(a, rows, 20, 0, "prefill");
  testing::write_dump(b, rows_b, 20, 0, "decode");
  CliRun r = run_compare({a, b, "--json", tmp.sub("r.json"), "--html", tmp.sub("r.html")}, tmp);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  auto j = nlohmann::json::parse(testing::read_text(tmp.sub("r.json")));
  EXPECT_EQ(j["verdict"]["equivalent"], true);
  EXPECT_EQ(j["verdict"]["mode"], "tolerance");
  EXPECT_EQ(j["overall"]["n_logits"], 3000);
  EXPECT_EQ(j["overall"]["bit_equal"], 2998);
  EXPECT_EQ(j["tokens"].size(), 3u);
  EXPECT_EQ(j["tokens"][0]["max_abs_diff_at"], 5);
  EXPECT_EQ(j["tokens"][1]["bit_equal"], 1000);
  EXPECT_EQ(j["tokens"][0]["top5_a"].size(), 5u);
  EXPECT_EQ(j["metadata_differences"][0]["key"], "mode");
  EXPECT_EQ(j["abs_diff_histogram"]["bit_equal"], 2998);
  std::string html = testing::read_text(tmp.sub("r.html"));
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("EQUIVALENT"), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("href="), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
}

TEST_F(CompareCli, UsageErrorsAreExit2) {
  testing::write_dump(a, rows, 20, 1);
  CliRun r = run_compare({a}, tmp);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "greta_compare: error: expected two dump directories A and B (see --help)\n");
  EXPECT_EQ(run_compare({a, a, "--strict", "--atol", "1"}, tmp).code, 2);
  EXPECT_EQ(run_compare({a, a, "--atol", "-1"}, tmp).code, 2);
  EXPECT_EQ(run_compare({a, a, "--bogus"}, tmp).code, 2);
  r = run_compare({a, a, "--json", tmp.sub("no/such/dir/r.json")}, tmp);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("cannot write the JSON report"), std::string::npos);
  EXPECT_EQ(run_compare({"--help"}, tmp).code, 0);
}

}  // namespace
}  // namespace greta::dump

namespace greta::dump {
namespace {

// Token texts only appear in the HTML report: --model without --html is refused, not ignored.
TEST(CompareCliModel, ModelWithoutHtmlIsAUsageError) {
  TempDir tmp;
  const auto rows = testing::make_rows(1, 10);
  const std::string a = tmp.sub("a"), b = tmp.sub("b");
  testing::write_dump(a, rows, 20, 1, "prefill", {});
  testing::write_dump(b, rows, 20, 1, "decode", {});
  const CliRun r = run_compare({a, b, "--model", std::string(GRETA_SOURCE_DIR) + "/models/stories260K.gguf"}, tmp);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--model requires --html"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace greta::dump
