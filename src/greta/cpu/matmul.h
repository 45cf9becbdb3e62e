#pragma once
// Matrix products with weights in any storage type: the CPU backend's hottest kernel.
//
//   y[m, n] = sum_k W[n, k] * x[m, k]      W: [N, K] in w.type, x: [M, K] f32, y: [M, N] f32
//
// Equivalence contract (docs/ARCHITECTURE.md, "kv-aligned"): the operations that produce
// y[m, n] depend only on W's row n and x's row m -- never on M, on which other rows are in the
// batch, on the thread count or on the task partition. So a batched prefill (M = 512) and a
// one-token decode (M = 1) give bit-identical rows. Tests check matmul(X)[m] == matmul(X[m]).
//
// Quantized weight types may quantize each activation row to 8 bits first (as ggml does, for
// integer dot products); that is a per-row, deterministic step and keeps the contract.

#include <cstdint>
#include <span>
#include <vector>

#include "greta/core/thread_pool.h"
#include "greta/backend/tensor.h"
#include "greta/quant/types.h"

namespace greta::cpu {

// A weight matrix in place in the mapped file (no copy).
using WeightMatrix = WeightView;

// Scratch memory reused across calls (activation quantization buffers). Allocated once per
// session and grown on demand; never shrinks.
struct MatmulScratch {
  std::vector<uint8_t> buffer;
  // Keep activations in f32 for every weight type (no 8-bit activation quantization): exact f32
  // math, slower for Q8_0/Q4_0/Q4_K/Q6_K. A per-session choice (SessionOptions::f32_activations);
  // either way the result of a row never depends on M or the thread count.
  bool f32_activations = false;
};

// y: [m, w.rows] f32, row stride ldy (>= w.rows) elements. x: [m, w.cols] f32, row stride ldx.
void matmul(const WeightMatrix& w, const float* x, int64_t ldx, int64_t m, float* y, int64_t ldy,
            ThreadPool& pool, MatmulScratch& scratch);

// Several products with the same input x (e.g. Q, K and V; gate and up), run as one pool job:
// the activation rows are quantized once and the tasks of all outputs share one barrier. Each
// output is bit-identical to matmul(*out.w, x, ...) alone (same row tasks, same kernels).
// PRECONDITIONS: 1 <= outs.size() <= 4; every out.w has the same cols.
struct MatmulOut {
  const WeightMatrix* w = nullptr;
  float* y = nullptr;
  int64_t ldy = 0;
};
void matmul_multi(std::span<const MatmulOut> outs, const float* x, int64_t ldx, int64_t m, ThreadPool& pool,
                  MatmulScratch& scratch);

// Scalar reference: dequantizes each weight row (greta/quant/quant.h) and accumulates in f64,
// then rounds to f32. Slow; used by tests as the ground truth for error bounds.
void matmul_reference(const WeightMatrix& w, const float* x, int64_t ldx, int64_t m, float* y, int64_t ldy);

// Weight bytes read by one full pass over w (for bandwidth accounting).
inline int64_t matmul_weight_bytes(const WeightMatrix& w) { return w.rows * w.row_bytes; }

}  // namespace greta::cpu
