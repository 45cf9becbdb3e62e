#pragma once
// Scalar reference conversions between f32 and every storage type.
//
// dequantize_row reproduces ggml's to_float bit-exactly (fp32 arithmetic, sign of zero kept).
// quantize_row follows ggml's reference quantizers (quantize_row_<type>_ref, no imatrix).
// These are the references that the SIMD kernels in src/greta/cpu are tested against.

#include <cstdint>

#include "greta/quant/types.h"

namespace greta {

// src: n elements of `type` (n / block_size blocks); dst: n floats.
// PRECONDITIONS: n % block_size(type) == 0; type is a storage type.
void dequantize_row(TensorType type, const void* src, float* dst, int64_t n);

// src: n floats; dst: tensor_row_bytes(type, n) bytes. Bytes equal ggml's reference quantizer
// (tests/data/quants); any row split gives the same bytes, since blocks are independent.
// PRECONDITIONS: n % block_size(type) == 0; type is a storage type; for the block types the
// input is finite (as in ggml, NaN/Inf give unspecified levels).
// The quantized buffer may have any alignment (GGUF data can be 1-byte aligned).
void quantize_row(TensorType type, const float* src, void* dst, int64_t n);

// IEEE half and bfloat16 conversions (round to nearest even; NaN preserved).
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);

}  // namespace greta
