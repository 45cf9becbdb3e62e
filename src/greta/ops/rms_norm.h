#pragma once
// RMSNorm: y = x / sqrt(mean(x^2) + eps) * w, row by row.

#include <cstdint>

namespace greta { class ThreadPool; }

namespace greta::ops {

// Optimised: one SIMD code path per row (the same for a batch of 1 or 512), rows threaded.
// x, y: [n_rows, n] f32 with row strides ldx, ldy; w: [n] f32. y may alias x.
void rms_norm(const float* x, int64_t ldx, const float* w, float* y, int64_t ldy, int64_t n_rows, int64_t n,
              float eps, ThreadPool& pool);
void rms_norm_row(const float* x, const float* w, float* y, int64_t n, float eps);

// Scalar reference: sum of squares in f64.
void rms_norm_reference(const float* x, const float* w, float* y, int64_t n, float eps);

}  // namespace greta::ops
