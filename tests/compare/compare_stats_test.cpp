// compare_dumps() arithmetic on hand-checkable values.

#include <cmath>

#include <gtest/gtest.h>

#include "greta/compare/compare_stats.h"
#include "greta/core/error.h"

namespace greta::compare {
namespace {

dump::Dump make(const std::vector<std::vector<float>>& rows, int kv_aligned) {
  dump::Dump d;
  d.dir = "mem";
  d.meta.kv_aligned = kv_aligned;
  d.meta.span_start = 4;
  d.meta.span_count = static_cast<int64_t>(rows.size());
  d.metadata = {{"kv_aligned", kv_aligned}};
  for (size_t i = 0; i < rows.size(); ++i) {
    dump::DumpRecord r;
    r.token_idx = 4 + static_cast<int64_t>(i);
    r.token_id = 7;
    r.logits = rows[i];
    r.is_null.assign(rows[i].size(), false);
    d.records.push_back(r);
  }
  return d;
}

TEST(CompareStats, HandComputedValues) {
  // A = [0, ln 3, 0, -0, 5, 4, 3], B = [0, 0, 0, +0, 5, 4, 3.5]
  std::vector<float> a = {0.0f, std::log(3.0f), 0.0f, -0.0f, 5.0f, 4.0f, 3.0f};
  std::vector<float> b = {0.0f, 0.0f, 0.0f, 0.0f, 5.0f, 4.0f, 3.5f};
  Report r = compare_dumps(make({a}, 0), make({b}, 0), {});
  const TokenStats& t = r.tokens[0];
  EXPECT_EQ(t.n, 7);
  EXPECT_EQ(t.bit_equal, 4);  // -0 vs +0 is not bit-equal
  EXPECT_EQ(r.hist.zero_not_bit_equal, 1);
  EXPECT_DOUBLE_EQ(t.max_abs, static_cast<double>(std::log(3.0f)));
  EXPECT_EQ(t.max_abs_at, 1);
  EXPECT_DOUBLE_EQ(t.max_rel, 1.0);  // logit 1: |ln3 - 0| / ln3
  double d1 = std::log(3.0f), d6 = 0.5;
  EXPECT_NEAR(t.mean_abs, (d1 + d6) / 7.0, 1e-15);
  EXPECT_NEAR(t.rms, std::sqrt((d1 * d1 + d6 * d6) / 7.0), 1e-15);
  // KL against a direct evaluation.
  auto lsm = [](const std::vector<float>& v) {
    double s = 0;
    for (float x : v) s += std::exp(static_cast<double>(x));
    std::vector<double> o;
    for (float x : v) o.push_back(x - std::log(s));
    return o;
  };
  auto lp = lsm(a), lq = lsm(b);
  double kl_pq = 0, kl_qp = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    kl_pq += std::exp(lp[i]) * (lp[i] - lq[i]);
    kl_qp += std::exp(lq[i]) * (lq[i] - lp[i]);
  }
  EXPECT_NEAR(t.kl_pq, kl_pq, 1e-14);
  EXPECT_NEAR(t.kl_qp, kl_qp, 1e-14);
  EXPECT_GT(t.kl_pq, 0);
  // Top-5 with ties broken by the lower id: A = 4, 5, 6, 1, then 0 (0 == 2 == 3 in value).
  EXPECT_EQ(t.top_a.ids, (std::array<int32_t, 5>{4, 5, 6, 1, 0}));
  EXPECT_EQ(t.top_b.ids, (std::array<int32_t, 5>{4, 5, 6, 0, 1}));
  EXPECT_TRUE(t.top1_agree);
  EXPECT_EQ(t.top5_overlap, 5);
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += double(a[i]) * b[i];
    na += double(a[i]) * a[i];
    nb += double(b[i]) * b[i];
  }
  EXPECT_NEAR(t.cosine, dot / std::sqrt(na * nb), 1e-15);
}

TEST(CompareStats, ExtremeLogitsStayFinite) {
  std::vector<float> a = {3e38f, -3e38f, 0.0f}, b = {-3e38f, 3e38f, 0.0f};
  Report r = compare_dumps(make({a}, 0), make({b}, 0), {});
  EXPECT_TRUE(std::isfinite(r.tokens[0].kl_pq) || std::isinf(r.tokens[0].kl_pq));
  EXPECT_FALSE(std::isnan(r.tokens[0].kl_pq));
  EXPECT_FALSE(std::isnan(r.tokens[0].cosine));
  EXPECT_FALSE(r.verdict.equivalent);
}

TEST(CompareStats, StrictNeedsEveryBit) {
  std::vector<float> a = {1.0f, 2.0f}, b = {1.0f, std::nextafter(2.0f, 3.0f)};
  EXPECT_TRUE(compare_dumps(make({a}, 1), make({a}, 1), {}).verdict.equivalent);
  Report r = compare_dumps(make({a}, 1), make({b}, 1), {});
  EXPECT_FALSE(r.verdict.equivalent);
  EXPECT_TRUE(r.verdict.strict);
  EXPECT_EQ(r.verdict.exit_code(), 1);
  // Mixed kv_aligned: tolerance mode.
  EXPECT_FALSE(compare_dumps(make({a}, 1), make({b}, 0), {}).verdict.strict);
}

}  // namespace
}  // namespace greta::compare
