#include "greta/ops/rope.h"

#include <cmath>

#include "greta/core/error.h"
#include "greta/core/thread_pool.h"

namespace greta::ops {
namespace {

double rope_theta(const RopeParams& p, int32_t pos, int32_t i) {
  const double inv_freq = std::pow(static_cast<double>(p.freq_base), -2.0 * i / static_cast<double>(p.n_rot));
  double theta = static_cast<double>(pos) * static_cast<double>(p.freq_scale) * inv_freq;
  if (p.freq_factors != nullptr) theta /= static_cast<double>(p.freq_factors[i]);
  return theta;
}

// The one rotation routine shared by the table path and the reference.
inline void rotate(float* x, int32_t n_heads, int32_t head_dim, RopeType type, int32_t n_rot, const float* c,
                   const float* s) {
  const int32_t half = n_rot / 2;
  for (int32_t h = 0; h < n_heads; ++h) {
    float* xh = x + static_cast<int64_t>(h) * head_dim;
    for (int32_t i = 0; i < half; ++i) {
      const int32_t i0 = type == RopeType::Normal ? 2 * i : i;
      const int32_t i1 = type == RopeType::Normal ? 2 * i + 1 : i + half;
      const float x0 = xh[i0];
      const float x1 = xh[i1];
      xh[i0] = x0 * c[i] - x1 * s[i];
      xh[i1] = x0 * s[i] + x1 * c[i];
    }
  }
}

}  // namespace

RopeTable::RopeTable(const RopeParams& params, int32_t n_pos) : params_(params), n_pos_(n_pos) {
  GRETA_ASSERT(params.n_rot > 0 && params.n_rot % 2 == 0);
  const int32_t half = params.n_rot / 2;
  cos_.resize(static_cast<size_t>(n_pos) * half);
  sin_.resize(static_cast<size_t>(n_pos) * half);
  for (int32_t pos = 0; pos < n_pos; ++pos) {
    for (int32_t i = 0; i < half; ++i) {
      const double theta = rope_theta(params, pos, i);
      cos_[static_cast<size_t>(pos) * half + i] = static_cast<float>(std::cos(theta));
      sin_[static_cast<size_t>(pos) * half + i] = static_cast<float>(std::sin(theta));
    }
  }
  // The table keeps no pointer to the caller's factors.
  params_.freq_factors = nullptr;
}

void rope_row(const RopeTable& table, float* x, int32_t n_heads, int32_t head_dim, int32_t pos) {
  GRETA_ASSERT(pos >= 0 && pos < table.n_pos());
  const RopeParams& p = table.params();
  rotate(x, n_heads, head_dim, p.type, p.n_rot, table.cos_row(pos), table.sin_row(pos));
}

void rope(const RopeTable& table, float* x, int64_t ld, int64_t n_rows, int32_t n_heads, int32_t head_dim,
          const int32_t* pos, ThreadPool& pool) {
  pool.run(n_rows, [&](int64_t r, int) { rope_row(table, x + r * ld, n_heads, head_dim, pos[r]); });
}

void rope_reference(const RopeParams& params, float* x, int32_t n_heads, int32_t head_dim, int32_t pos) {
  const int32_t half = params.n_rot / 2;
  std::vector<float> c(half), s(half);
  for (int32_t i = 0; i < half; ++i) {
    const double theta = rope_theta(params, pos, i);
    c[i] = static_cast<float>(std::cos(theta));
    s[i] = static_cast<float>(std::sin(theta));
  }
  rotate(x, n_heads, head_dim, params.type, params.n_rot, c.data(), s.data());
}

}  // namespace greta::ops
