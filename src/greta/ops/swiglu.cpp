#include "greta/ops/swiglu.h"

#include <cmath>

#include "greta/core/thread_pool.h"
#include "greta/ops/simd.h"

namespace greta::ops {

void swiglu(const float* gate, const float* up, float* y, int64_t ld, int64_t n_rows, int64_t n, ThreadPool& pool) {
  pool.run(n_rows, [&](int64_t r, int) { simd::swiglu(gate + r * ld, up + r * ld, y + r * ld, n); });
}

void swiglu_reference(const float* gate, const float* up, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    y[i] = static_cast<float>(g / (1.0 + std::exp(-g)) * static_cast<double>(up[i]));
  }
}

}  // namespace greta::ops
