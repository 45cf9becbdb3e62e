// Every optimised op against its scalar reference (error bounds documented per op), and the
// row-invariance / thread-invariance properties the kv_aligned design relies on.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "greta/core/thread_pool.h"
#include "greta/ops/embedding.h"
#include "greta/ops/rms_norm.h"
#include "greta/ops/rope.h"
#include "greta/ops/simd.h"
#include "greta/ops/softmax.h"
#include "greta/ops/swiglu.h"
#include "greta/quant/quant.h"

namespace greta::ops {
namespace {

std::vector<float> random_vec(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::vector<float> v(n);
  // Raw engine output turned into floats by arithmetic (no std distributions: portable values).
  for (auto& x : v) x = lo + (hi - lo) * static_cast<float>(rng() >> 8) / 16777216.0f;
  return v;
}

float max_rel_err(const std::vector<float>& a, const std::vector<float>& ref) {
  float scale = 0.0f, err = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) {
    scale = std::max(scale, std::fabs(ref[i]));
    err = std::max(err, std::fabs(a[i] - ref[i]));
  }
  return scale > 0 ? err / scale : err;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(Ops, SimdTargetIsReported) { EXPECT_STRNE(simd::target_name(), ""); }

// RMSNorm: f32 SIMD sum of squares vs f64: relative error <= 1e-5 of the row's max.
TEST(Ops, RmsNormMatchesReferenceAndIsRowInvariant) {
  for (int64_t n : {1, 7, 16, 64, 100, 288, 2048}) {
    const int64_t rows = 5;
    const auto x = random_vec(rows * n, 1 + n, -3.0f, 3.0f);
    const auto w = random_vec(n, 2 + n, 0.5f, 1.5f);
    std::vector<float> ref(rows * n), y1(rows * n), y3(rows * n), single(n);
    for (int64_t r = 0; r < rows; ++r) rms_norm_reference(x.data() + r * n, w.data(), ref.data() + r * n, n, 1e-5f);
    ThreadPool p1(1), p3(3);
    rms_norm(x.data(), n, w.data(), y1.data(), n, rows, n, 1e-5f, p1);
    rms_norm(x.data(), n, w.data(), y3.data(), n, rows, n, 1e-5f, p3);
    EXPECT_LE(max_rel_err(y1, ref), 1e-5f) << n;
    EXPECT_TRUE(same_bits(y1, y3)) << n;
    rms_norm_row(x.data() + 3 * n, w.data(), single.data(), n, 1e-5f);
    EXPECT_EQ(std::memcmp(single.data(), y1.data() + 3 * n, n * sizeof(float)), 0) << n;
  }
}

// SwiGLU: vector exp vs f64: relative error <= 1e-6 of the row's max.
TEST(Ops, SwigluMatchesReference) {
  for (int64_t n : {1, 5, 16, 33, 172, 384}) {
    const auto g = random_vec(2 * n, 10 + n, -8.0f, 8.0f);
    const auto u = random_vec(2 * n, 20 + n, -2.0f, 2.0f);
    std::vector<float> ref(2 * n), y(2 * n);
    for (int r = 0; r < 2; ++r) swiglu_reference(g.data() + r * n, u.data() + r * n, ref.data() + r * n, n);
    ThreadPool pool(2);
    swiglu(g.data(), u.data(), y.data(), n, 2, n, pool);
    EXPECT_LE(max_rel_err(y, ref), 1e-6f) << n;
    // In place (y aliases gate), as the forward pass uses it.
    std::vector<float> g2 = g;
    swiglu(g2.data(), u.data(), g2.data(), n, 2, n, pool);
    EXPECT_TRUE(same_bits(g2, y)) << n;
  }
}

// Softmax: absolute error <= 1e-6 (probabilities), sum 1 within 1e-5.
TEST(Ops, SoftmaxMatchesReference) {
  for (int64_t n : {1, 3, 16, 31, 512, 2048}) {
    auto x = random_vec(n, 30 + n, -10.0f, 10.0f);
    auto ref = x;
    softmax(x.data(), n);
    softmax_reference(ref.data(), n);
    float err = 0.0f, sum = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
      err = std::max(err, std::fabs(x[i] - ref[i]));
      sum += x[i];
    }
    EXPECT_LE(err, 1e-6f) << n;
    EXPECT_NEAR(sum, 1.0f, 1e-5f) << n;
  }
}

// RoPE: the table path equals the reference (same f64 angles, same rotation code) bit for bit.
TEST(Ops, RopeTableEqualsReference) {
  const float factors[8] = {1.0f, 1.0f, 2.0f, 4.0f, 8.0f, 8.0f, 16.0f, 32.0f};
  struct Case { RopeType type; int32_t head_dim, n_rot; float scale; const float* ff; };
  for (const Case& c : {Case{RopeType::Normal, 16, 16, 1.0f, nullptr}, Case{RopeType::NeoX, 16, 16, 1.0f, nullptr},
                        Case{RopeType::Normal, 24, 16, 0.25f, factors}, Case{RopeType::NeoX, 24, 8, 1.0f, nullptr}}) {
    RopeParams p;
    p.type = c.type;
    p.n_rot = c.n_rot;
    p.freq_base = 10000.0f;
    p.freq_scale = c.scale;
    p.freq_factors = c.ff;
    const RopeTable table(p, 300);
    ThreadPool pool(2);
    const int32_t n_heads = 3;
    const int64_t ld = n_heads * c.head_dim;
    auto x = random_vec(10 * ld, 40);
    auto ref = x;
    std::vector<int32_t> pos(10);
    for (int r = 0; r < 10; ++r) pos[r] = 290 + r;
    rope(table, x.data(), ld, 10, n_heads, c.head_dim, pos.data(), pool);
    for (int r = 0; r < 10; ++r) rope_reference(p, ref.data() + r * ld, n_heads, c.head_dim, 290 + r);
    EXPECT_TRUE(same_bits(x, ref));
    // Dimensions past n_rot are untouched; position 0 is the identity.
    auto y = random_vec(ld, 41);
    auto y0 = y;
    rope_row(table, y.data(), n_heads, c.head_dim, 0);
    EXPECT_TRUE(same_bits(y, y0));
  }
  // Normal mode rotates adjacent pairs: pair 0 of a head at pos 1 turns by exactly 1 radian.
  RopeParams p;
  p.n_rot = 4;
  const RopeTable t(p, 2);
  float v[4] = {1.0f, 0.0f, 0.0f, 0.0f};
  rope_row(t, v, 1, 4, 1);
  EXPECT_FLOAT_EQ(v[0], static_cast<float>(std::cos(1.0)));
  EXPECT_FLOAT_EQ(v[1], static_cast<float>(std::sin(1.0)));
}

TEST(Ops, EmbeddingLookupEqualsReference) {
  const int64_t n_vocab = 10, n_embd = 64;
  const auto table_f32 = random_vec(n_vocab * n_embd, 50);
  for (TensorType t : {TensorType::F32, TensorType::F16, TensorType::Q8_0}) {
    const int64_t rb = tensor_row_bytes(t, n_embd);
    std::vector<uint8_t> data(n_vocab * rb);
    for (int64_t r = 0; r < n_vocab; ++r) quantize_row(t, table_f32.data() + r * n_embd, data.data() + r * rb, n_embd);
    cpu::WeightMatrix w{t, n_vocab, n_embd, rb, data.data()};
    const int32_t ids[4] = {3, 0, 9, 3};
    std::vector<float> out(4 * n_embd), ref(n_embd);
    ThreadPool pool(2);
    embedding_lookup(w, ids, 4, out.data(), n_embd, pool);
    for (int i = 0; i < 4; ++i) {
      embedding_reference(w, ids[i], ref.data());
      EXPECT_EQ(std::memcmp(ref.data(), out.data() + i * n_embd, n_embd * sizeof(float)), 0) << tensor_type_name(t);
    }
  }
}

}  // namespace
}  // namespace greta::ops
