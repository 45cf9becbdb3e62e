#include "greta/ops/rms_norm.h"

#include <cmath>

#include "greta/core/thread_pool.h"
#include "greta/ops/simd.h"

namespace greta::ops {

void rms_norm_row(const float* x, const float* w, float* y, int64_t n, float eps) {
  const float mean = simd::sum_squares(x, n) / static_cast<float>(n);
  const float scale = 1.0f / std::sqrt(mean + eps);
  simd::scale_mul(x, scale, w, y, n);
}

void rms_norm(const float* x, int64_t ldx, const float* w, float* y, int64_t ldy, int64_t n_rows, int64_t n,
              float eps, ThreadPool& pool) {
  pool.run(n_rows, [&](int64_t r, int) { rms_norm_row(x + r * ldx, w, y + r * ldy, n, eps); });
}

void rms_norm_reference(const float* x, const float* w, float* y, int64_t n, float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * scale) * w[i];
}

}  // namespace greta::ops
