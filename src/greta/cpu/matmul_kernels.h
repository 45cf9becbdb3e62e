#pragma once
// Internal to greta_cpu: the SIMD kernels behind matmul() (matmul_kernels.cpp, Highway runtime
// dispatch). matmul.cpp owns validation, scratch memory and the task partition; the kernels own
// the arithmetic. See docs/ARCHITECTURE.md, "CPU kernels".

#include <cstdint>

#include "greta/quant/types.h"

namespace greta::cpu {

// How the activations reach the kernel for a given weight matrix.
enum class ActFormat {
  F32,   // x rows used as given (f32)
  Q8A32  // each x row quantized once per matmul to 8-bit blocks of 32 (act_quantize_row)
};

// Layout of one Q8A32 activation row of k elements (k % 64 == 0), act_row_bytes(k) bytes:
//   int8_t  q[k]        q = round_to_nearest_even(x / d) in [-127, 127]
//   float   dv[k / 4]   per-lane scales: 16 floats per 64 elements, lanes 0..7 = d of the
//                       first block of 32, lanes 8..15 = d of the second
//   int32_t nsum4[k / 4] per lane: -(sum of the 4 q's the lane covers), 16 per 64 elements
//   float   s[k / 32]   d * sum(q) of each block (for the minimum terms of K-quants)
// d = fp16_round(amax / 127) of the block, as ggml's Q8_0 activations. Rows are 64-byte aligned.
inline int64_t act_row_bytes(int64_t k) { return (3 * k + k / 32 * 4 + 63) / 64 * 64; }

struct MatmulArgs {
  TensorType type = TensorType::F32;
  int64_t k = 0;          // columns of W
  int64_t row_bytes = 0;  // bytes of one W row
  const uint8_t* w = nullptr;
  ActFormat act = ActFormat::F32;
  const float* x = nullptr;    // [m, k] f32, stride ldx (act == F32)
  int64_t ldx = 0;
  const uint8_t* xq = nullptr;  // [m] Q8A32 rows, stride act_row_bytes(k) (act == Q8A32)
  int64_t m = 0;
  float* y = nullptr;  // [m, ldy] f32
  int64_t ldy = 0;
};

// The activation format the dispatched kernels use for this weight type and row length.
ActFormat matmul_act_format(TensorType type, int64_t k);

// Quantizes one f32 row of k elements to Q8A32 (dst: act_row_bytes(k) bytes).
void act_quantize_row(const float* x, int64_t k, uint8_t* dst);

// Computes y[m, n] for every m in [0, args.m) and n in [n0, n1).
void matmul_rows(const MatmulArgs& args, int64_t n0, int64_t n1);

// Name of the dispatched SIMD target ("AVX3_DL", "AVX2", ...), for reports and dumps.
const char* matmul_simd_target();

}  // namespace greta::cpu
