#pragma once
// Per-type reference conversions behind quant.h's dispatch (private to src/greta/quant).
// Each takes n elements (a multiple of the type's block size) and follows ggml's scalar
// reference for that type operation by operation, in fp32.

#include <cstdint>
#include <cstring>

#include "greta/quant/blocks.h"

namespace greta::quant_detail {

// ggml's nearest_int: adds 1.5 * 2^23 so that the fp32 addition rounds to the nearest integer
// (ties to even) and reads the integer from the mantissa. Exact for |f| <= 2^22 - 1; outside
// that range it returns the same (meaningless) value as ggml, which callers then clamp.
inline int nearest_int(float f) {
  const float v = f + 12582912.0f;
  int32_t i;
  std::memcpy(&i, &v, sizeof i);
  return (i & 0x007FFFFF) - 0x00400000;
}

void dequantize_q4_0(const BlockQ4_0* x, float* y, int64_t n);
void dequantize_q4_1(const BlockQ4_1* x, float* y, int64_t n);
void dequantize_q5_0(const BlockQ5_0* x, float* y, int64_t n);
void dequantize_q5_1(const BlockQ5_1* x, float* y, int64_t n);
void dequantize_q8_0(const BlockQ8_0* x, float* y, int64_t n);
void dequantize_q2_k(const BlockQ2_K* x, float* y, int64_t n);
void dequantize_q3_k(const BlockQ3_K* x, float* y, int64_t n);
void dequantize_q4_k(const BlockQ4_K* x, float* y, int64_t n);
void dequantize_q5_k(const BlockQ5_K* x, float* y, int64_t n);
void dequantize_q6_k(const BlockQ6_K* x, float* y, int64_t n);

void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t n);
void quantize_q4_1(const float* x, BlockQ4_1* y, int64_t n);
void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t n);
void quantize_q5_1(const float* x, BlockQ5_1* y, int64_t n);
void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t n);

// How the K-quant quantizers run ggml's per-sub-block scale search: one sub-block at a time
// (a plain transcription of ggml), or all sub-blocks of a super-block in lockstep (same
// operations per sub-block, several times faster). Both give identical bytes; the tests check.
enum class KQuantSearch { kScalar, kLockstep };

void quantize_q2_k(const float* x, BlockQ2_K* y, int64_t n,
                   KQuantSearch search = KQuantSearch::kLockstep);
void quantize_q3_k(const float* x, BlockQ3_K* y, int64_t n);
void quantize_q4_k(const float* x, BlockQ4_K* y, int64_t n,
                   KQuantSearch search = KQuantSearch::kLockstep);
void quantize_q5_k(const float* x, BlockQ5_K* y, int64_t n,
                   KQuantSearch search = KQuantSearch::kLockstep);
void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t n,
                   KQuantSearch search = KQuantSearch::kLockstep);

// Lockstep searches (kquant_lockstep.cpp). x: one super-block (256 floats); outputs per
// sub-block as ggml's make_qkx2_quants / make_qx_quants would give them, levels L[256].
void q2_k_search_lockstep(const float* x, uint8_t* L, float* scales, float* mins);
void q45_k_search_lockstep(const float* x, const float* weights, int nmax, float rmin,
                           float rdelta, int nstep, uint8_t* L, float* scales, float* mins);
void q6_k_search_lockstep(const float* x, int8_t* L, float* scales);

}  // namespace greta::quant_detail
