#pragma once
// SwiGLU of the feed-forward block: y = silu(gate) * up, elementwise.

#include <cstdint>

namespace greta { class ThreadPool; }

namespace greta::ops {

// Optimised (SIMD exp, rows threaded). gate, up, y: [n_rows, n] f32 with row stride ld; y may alias gate.
void swiglu(const float* gate, const float* up, float* y, int64_t ld, int64_t n_rows, int64_t n, ThreadPool& pool);

// Scalar reference (f64 exp).
void swiglu_reference(const float* gate, const float* up, float* y, int64_t n);

}  // namespace greta::ops
