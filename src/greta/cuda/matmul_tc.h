#pragma once
// Internal to the GPU backend: the tensor-core matmul (matmul_tc.cu), called by matmul.cu's
// launchers for the weight types it covers. CUDA only (mma.sync, sm_80+); on HIP tc_covers() is
// false and the FMA kernel of matmul.cu runs every type (the documented fallback).

#include <cstdint>

#include "greta/cuda/kernels.h"

namespace greta::cuda {

// Whether the tensor-core path computes products with W of type t and K columns: F16 and BF16
// with K % 32 == 0 (f16/bf16 MMA, f32 accumulation) and every block type (int8 MMA on 8-bit
// activations). A function of (t, K) alone, so a row's arithmetic never depends on the batch.
bool tc_covers(DevWeightType t, int64_t k);

// Device scratch bytes for the activations of m rows of K columns (8-bit blocks with scales and
// sums, or f16/bf16 rows).
int64_t tc_scratch_bytes(DevWeightType t, int64_t k, int64_t m);

// y_i[m, n] (+)= sum_k W_i[n, k] x[m, k] for 1..kMaxMulti outputs of one type and K, all covered.
// Converts x once into `scratch` (tc_scratch_bytes bytes at least), then one launch.
void tc_matmul(void* stream, const DevMatmulOut* outs, int n_outs, bool accumulate, const float* x, int64_t ldx, int64_t m,
               void* scratch);

}  // namespace greta::cuda
