// The dump round-trips float32 bits exactly; non-finite values become null.

#include <bit>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include <gtest/gtest.h>

#include "dump/dump_fixtures.h"
#include "greta/core/build_info.h"
#include "greta/dump/logits_dump.h"

namespace greta::dump {
namespace {

using testing::TempDir;

std::vector<float> special_values() {
  using L = std::numeric_limits<float>;
  return {0.0f, -0.0f, 1.0f, -1.0f, L::min(), -L::min(), L::denorm_min(), -L::denorm_min(),
          std::bit_cast<float>(0x007fffffu), std::bit_cast<float>(0x807fffffu), L::max(), -L::max(),
          L::epsilon(), 1.0f + L::epsilon(), 0.1f, 1.0f / 3.0f, 16777216.0f, 16777217.0f, 3.4028233e38f,
          std::nextafter(1.0f, 2.0f), std::nextafter(1e-38f, 0.0f), 123456789.0f, -9.99999944e-39f};
}

TEST(DumpRoundTrip, AppendFloatIsShortestAndReadsBack) {
  std::string s;
  append_float(s, 0.1f);
  EXPECT_EQ(s, "0.1");
  s.clear();
  append_float(s, -0.0f);
  EXPECT_EQ(s, "-0");
  s.clear();
  append_float(s, std::numeric_limits<float>::quiet_NaN());
  append_float(s, std::numeric_limits<float>::infinity());
  append_float(s, -std::numeric_limits<float>::infinity());
  EXPECT_EQ(s, "nullnullnull");
  for (float v : special_values()) {
    std::string t;
    append_float(t, v);
    float back = 0.0f;
    auto r = std::from_chars(t.data(), t.data() + t.size(), back);
    EXPECT_EQ(r.ptr, t.data() + t.size()) << t;
    EXPECT_EQ(std::bit_cast<uint32_t>(back), std::bit_cast<uint32_t>(v)) << t;
  }
}

TEST(DumpRoundTrip, RandomBitPatternsSpecialsAndNonFinite) {
  TempDir tmp;
  const int64_t vocab = 5000, count = 4, start = 17;
  std::vector<std::vector<float>> rows(count, std::vector<float>(vocab));
  std::mt19937_64 rng(7);
  for (auto& r : rows) {
    for (auto& x : r) x = std::bit_cast<float>(static_cast<uint32_t>(rng()));  // any bits, NaNs included
  }
  auto sp = special_values();
  for (size_t i = 0; i < sp.size(); ++i) rows[0][i] = sp[i];
  rows[1][0] = std::numeric_limits<float>::quiet_NaN();
  rows[1][1] = std::numeric_limits<float>::infinity();
  rows[1][2] = -std::numeric_limits<float>::infinity();
  testing::write_dump(tmp.sub("d"), rows, start);

  Dump d = read_dump(tmp.sub("d"));
  ASSERT_EQ(d.records.size(), static_cast<size_t>(count));
  EXPECT_EQ(d.meta.span_start, start);
  EXPECT_EQ(d.meta.span_count, count);
  EXPECT_EQ(d.meta.dtype, "bf16");
  EXPECT_EQ(d.meta.seed, 42u);
  EXPECT_EQ(d.meta.repo_branch, std::string(build::kGitBranch));
  EXPECT_EQ(d.metadata["vocab_size"], vocab);
  int64_t nulls = 0;
  for (int64_t t = 0; t < count; ++t) {
    const DumpRecord& r = d.records[t];
    EXPECT_EQ(r.token_idx, start + t);
    EXPECT_EQ(r.token_id, 100 + t);
    ASSERT_EQ(r.logits.size(), static_cast<size_t>(vocab));
    for (int64_t i = 0; i < vocab; ++i) {
      float want = rows[t][i];
      if (!std::isfinite(want)) {
        EXPECT_TRUE(r.is_null[i]);
        EXPECT_TRUE(std::isnan(r.logits[i]));
        ++nulls;
      } else {
        ASSERT_FALSE(r.is_null[i]);
        ASSERT_EQ(std::bit_cast<uint32_t>(r.logits[i]), std::bit_cast<uint32_t>(want))
            << "token " << t << " logit " << i << " wrote " << want;
      }
    }
  }
  EXPECT_GE(nulls, 3);
  // The text really says null (the contract), not NaN.
  std::string text = testing::read_gz(tmp.sub("d") + "/logits.jsonl.gz");
  EXPECT_NE(text.find("\"logits\":[null,null,null,"), std::string::npos);
}

TEST(DumpRoundTrip, MetadataHasContractKeysTypesAndExtras) {
  TempDir tmp;
  auto rows = testing::make_rows(1, 10);
  testing::write_dump(tmp.sub("d"), rows, 9, 1, "decode", {{"threads", 3}, {"model", "x.gguf"}, {"seed", "ignored"}});
  auto j = nlohmann::json::parse(testing::read_text(tmp.sub("d") + "/metadata.json"));
  EXPECT_TRUE(j["dtype"].is_string());
  EXPECT_TRUE(j["prompt_len"].is_number_integer());
  EXPECT_TRUE(j["gen_len"].is_number_integer());
  EXPECT_TRUE(j["seed"].is_number_unsigned());
  EXPECT_EQ(j["seed"], 42);  // an extra never overrides a required key
  EXPECT_EQ(j["kv_aligned"], 1);
  EXPECT_EQ(j["mode"], "decode");
  EXPECT_EQ(j["token_span"], (nlohmann::json{{"start", 9}, {"count", 1}}));
  std::string ts = j["timestamp"];
  ASSERT_EQ(ts.size(), 20u);
  EXPECT_EQ(ts[10], 'T');
  EXPECT_EQ(ts.back(), 'Z');
  EXPECT_EQ(j["repo_branch"], std::string(build::kGitBranch));
  EXPECT_EQ(j["threads"], 3);
  EXPECT_EQ(j["model"], "x.gguf");
  // The required keys come first, in the contract's order.
  std::string text = testing::read_text(tmp.sub("d") + "/metadata.json");
  EXPECT_LT(text.find("\"dtype\""), text.find("\"prompt_len\""));
  EXPECT_LT(text.find("\"repo_branch\""), text.find("\"threads\""));
}

TEST(DumpRoundTrip, NonUtf8ExtraIsWrittenWithReplacementCharacters) {
  TempDir tmp;
  testing::write_dump(tmp.sub("d"), testing::make_rows(1, 3), 2, 1, "prefill", {{"model", "m\xff.gguf"}});
  Dump d = read_dump(tmp.sub("d"));
  EXPECT_EQ(d.metadata["model"], "m\xef\xbf\xbd.gguf");
}

TEST(DumpRoundTrip, LargeSeedSurvives) {
  TempDir tmp;
  auto rows = testing::make_rows(1, 3);
  DumpWriter w(tmp.sub("d"));
  w.add(5, 1, rows[0].data(), 3);
  DumpMetadata m = testing::make_meta(5, 1);
  m.seed = 18446744073709551615ull;
  w.finish(m);
  EXPECT_EQ(read_dump(tmp.sub("d")).meta.seed, 18446744073709551615ull);
}

}  // namespace
}  // namespace greta::dump
