// Attention: the optimised prefill/decode kernels against the f64 reference, and the equivalence
// properties: decode of a position == its prefill row bit for bit, any thread count, across
// tile and chunk boundaries, for every cache type.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "greta/core/thread_pool.h"
#include "greta/ops/attention.h"
#include "greta/ops/simd.h"

namespace greta::ops {
namespace {

std::vector<float> random_vec(size_t n, uint32_t seed, float amp) {
  std::mt19937 rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = amp * (2.0f * static_cast<float>(rng() >> 8) / 16777216.0f - 1.0f);
  return v;
}

// A paged cache for one sequence of up to n_ctx positions whose block table is a permutation
// (blocks scattered in the pool, as after other sequences came and went).
struct Fixture {
  AttentionShape shape;
  int32_t n_ctx;
  std::vector<uint8_t> k_store, v_store;
  std::vector<int32_t> table;
  KvLayer kv;
  std::vector<float> q, k, v;  // [n_pos, ...]

  Fixture(int32_t n_head, int32_t n_kv_head, int32_t hd, int32_t n_ctx_, KvType type, int32_t n_pos) : n_ctx(n_ctx_) {
    shape = {n_head, n_kv_head, hd, 1.0f / std::sqrt(static_cast<float>(hd))};
    const int32_t n_blocks = (n_ctx + kKvBlock - 1) / kKvBlock + 3;
    const size_t bytes = static_cast<size_t>(n_blocks) * n_kv_head * hd * kKvBlock * kv_type_size(type);
    k_store.assign(bytes, 0);
    v_store.assign(bytes, 0);
    for (int32_t b = 0; b < n_blocks; ++b) table.push_back(n_blocks - 1 - b);  // scattered: reverse order
    kv = {type, n_blocks, n_kv_head, hd, k_store.data(), v_store.data()};
    q = random_vec(static_cast<size_t>(n_pos) * n_head * hd, 1, 2.0f);
    k = random_vec(static_cast<size_t>(n_pos) * n_kv_head * hd, 2, 2.0f);
    v = random_vec(static_cast<size_t>(n_pos) * n_kv_head * hd, 3, 1.0f);
  }
  int64_t ldq() const { return int64_t{shape.n_head} * shape.head_dim; }
  int64_t ldk() const { return int64_t{shape.n_kv_head} * shape.head_dim; }
  // Rows for positions [p0, p0 + n).
  std::vector<AttnRow> rows(int32_t p0, int32_t n) const {
    std::vector<AttnRow> r(static_cast<size_t>(n));
    for (int32_t i = 0; i < n; ++i) r[i].kv = KvRow{table.data(), p0 + i};
    return r;
  }
  std::vector<KvRow> kv_rows(int32_t p0, int32_t n) const {
    std::vector<KvRow> r;
    for (const AttnRow& a : rows(p0, n)) r.push_back(a.kv);
    return r;
  }
};

// All positions in one batch vs one row at a time (the two schedules) vs the reference.
void check(int32_t n_head, int32_t n_kv_head, int32_t hd, KvType type, int32_t n_pos) {
  Fixture f(n_head, n_kv_head, hd, n_pos + 7, type, n_pos);
  ThreadPool p1(1), p3(3);
  AttentionScratch s1, s3;
  s1.reserve(f.shape, 1);
  s3.reserve(f.shape, 3);
  kv_store(f.kv, f.k.data(), f.v.data(), f.ldk(), f.kv_rows(0, n_pos), p1);
  const int64_t ld = f.ldq();
  std::vector<float> pre1(n_pos * ld), pre3(n_pos * ld), dec(ld), ref(ld);
  attention(f.shape, f.kv, f.rows(0, n_pos), f.q.data(), ld, pre1.data(), ld, p1, s1);
  attention(f.shape, f.kv, f.rows(0, n_pos), f.q.data(), ld, pre3.data(), ld, p3, s3);
  EXPECT_EQ(std::memcmp(pre1.data(), pre3.data(), pre1.size() * sizeof(float)), 0);
  // A second batch of the tail rows only (another batch shape) gives the same rows.
  const int32_t split = n_pos / 3;
  std::vector<float> tail((n_pos - split) * ld);
  attention(f.shape, f.kv, f.rows(split, n_pos - split), f.q.data() + split * ld, ld, tail.data(), ld, p3, s3);
  EXPECT_EQ(std::memcmp(tail.data(), pre1.data() + split * ld, tail.size() * sizeof(float)), 0);
  float max_err = 0.0f;
  for (int32_t pos = 0; pos < n_pos; ++pos) {
    for (ThreadPool* p : {&p1, &p3}) {
      if (p == &p3 && pos % 13 != 0 && pos != n_pos - 1) continue;  // 3 threads: a sample, to stay fast
      attention(f.shape, f.kv, f.rows(pos, 1), f.q.data() + pos * ld, ld, dec.data(), ld, *p, p == &p1 ? s1 : s3);
      ASSERT_EQ(std::memcmp(dec.data(), pre1.data() + pos * ld, ld * sizeof(float)), 0)
          << "one row != batch at pos " << pos << " (" << kv_type_name(type) << ", hd " << hd << ")";
    }
    if (pos % 17 == 0 || pos == n_pos - 1) {
      attention_reference(f.shape, f.kv, f.table.data(), f.q.data() + pos * ld, pos, ref.data());
      for (int64_t i = 0; i < ld; ++i) max_err = std::max(max_err, std::fabs(ref[i] - pre1[pos * ld + i]));
    }
  }
  // Outputs are convex combinations of V (|v| <= 1): f32 online softmax vs f64, <= 2e-6.
  EXPECT_LE(max_err, 2e-6f) << kv_type_name(type) << " hd " << hd;
}

TEST(Attention, DecodeEqualsPrefillAndReferenceF32) { check(8, 2, 16, KvType::F32, 600); }
TEST(Attention, DecodeEqualsPrefillAndReferenceF16) { check(4, 4, 64, KvType::F16, 300); }
TEST(Attention, DecodeEqualsPrefillAndReferenceBf16) { check(6, 2, 8, KvType::BF16, 270); }
TEST(Attention, OddHeadDim) { check(2, 1, 12, KvType::F32, 70); }

// kv_aligned = 0 reads the batch's fresh f32 K/V: with an f32 cache that is the same data, so
// the same bits; with bf16 it is close to the cache path.
TEST(Attention, FreshKvPath) {
  for (KvType type : {KvType::F32, KvType::BF16}) {
    const int32_t n_pos = 100;
    Fixture f(4, 2, 16, 128, type, n_pos);
    ThreadPool pool(2);
    AttentionScratch s;
    s.reserve(f.shape, 2);
    kv_store(f.kv, f.k.data(), f.v.data(), f.ldk(), f.kv_rows(0, n_pos), pool);
    const int64_t ld = f.ldq();
    std::vector<float> a(60 * ld), b(60 * ld);
    // Positions [40, 100) are "this batch": row i's run starts at position 40.
    std::vector<AttnRow> fresh_rows = f.rows(40, 60);
    for (int32_t i = 0; i < 60; ++i) {
      fresh_rows[i].fresh = KvFresh{f.k.data() + 40 * f.ldk(), f.v.data() + 40 * f.ldk(), f.ldk(), 40, i + 1};
    }
    attention(f.shape, f.kv, f.rows(40, 60), f.q.data() + 40 * ld, ld, a.data(), ld, pool, s);
    attention(f.shape, f.kv, fresh_rows, f.q.data() + 40 * ld, ld, b.data(), ld, pool, s);
    float diff = 0.0f;
    for (size_t i = 0; i < a.size(); ++i) diff = std::max(diff, std::fabs(a[i] - b[i]));
    if (type == KvType::F32) {
      EXPECT_EQ(diff, 0.0f);
    } else {
      EXPECT_GT(diff, 0.0f);
      EXPECT_LT(diff, 2e-2f);
    }
  }
}

// The head-interleaved kernels give each head exactly the bits of the one-head kernels, for any
// group size (blocks and remainders) and head size (vector and fallback paths).
TEST(Attention, GroupKernelsEqualPerHeadKernels) {
  for (int64_t hd : {4, 8, 12, 16, 64, 128}) {
    for (int n_group : {1, 2, 3, 4, 5, 8, 9}) {
      const auto q = random_vec(n_group * hd, 7, 1.0f);
      const auto kt = random_vec(hd * kAttnTile, 8, 1.0f);
      const auto v = random_vec(kAttnTile * hd, 9, 1.0f);
      std::vector<float> s_group(n_group * kAttnTile), s_one(kAttnTile);
      simd::attn_group_scores(q.data(), n_group, kt.data(), hd, kAttnTile, 0.3f, s_group.data());
      const auto p = random_vec(n_group * kAttnTile, 10, 1.0f);
      const auto acc0 = random_vec(n_group * (hd + 2), 11, 1.0f);
      std::vector<float> alpha(n_group);
      for (int g = 0; g < n_group; ++g) alpha[g] = 0.5f + 0.1f * g;
      std::vector<float> acc_group = acc0, acc_one = acc0;
      simd::attn_group_accumulate(acc_group.data(), hd + 2, alpha.data(), p.data(), kAttnTile, v.data(), hd, 29, hd,
                                  n_group);
      for (int g = 0; g < n_group; ++g) {
        simd::attn_tile_scores(q.data() + g * hd, kt.data(), hd, kAttnTile, 0.3f, s_one.data());
        EXPECT_EQ(std::memcmp(s_one.data(), s_group.data() + g * kAttnTile, kAttnTile * sizeof(float)), 0)
            << "scores hd " << hd << " group " << n_group << " head " << g;
        simd::attn_accumulate(acc_one.data() + g * (hd + 2), alpha[g], p.data() + g * kAttnTile, v.data(), hd, 29, hd);
      }
      EXPECT_EQ(std::memcmp(acc_one.data(), acc_group.data(), acc_one.size() * sizeof(float)), 0)
          << "accumulate hd " << hd << " group " << n_group;
    }
  }
}

}  // namespace
}  // namespace greta::ops
