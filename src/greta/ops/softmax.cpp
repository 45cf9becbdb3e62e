#include "greta/ops/softmax.h"

#include <cmath>

#include "greta/ops/simd.h"

namespace greta::ops {

void softmax(float* x, int64_t n) { simd::softmax(x, n); }

void softmax_reference(float* x, int64_t n) {
  double mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = std::fmax(mx, static_cast<double>(x[i]));
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - mx);
  for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(std::exp(static_cast<double>(x[i]) - mx) / sum);
}

}  // namespace greta::ops
