#pragma once
// Softmax of a row, in place.

#include <cstdint>

namespace greta::ops {

// Optimised (SIMD exp). x: [n] f32, n >= 1.
void softmax(float* x, int64_t n);

// Scalar reference (f64).
void softmax_reference(float* x, int64_t n);

}  // namespace greta::ops
