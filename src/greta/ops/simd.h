#pragma once
// Vector primitives of the ops layer (Highway, one instruction set chosen per process at first
// use). Each function performs a fixed sequence of operations for a given n, whoever calls it,
// so two callers that pass the same inputs get the same bits (docs/ARCHITECTURE.md,
// "Equivalence design"). Scalar references live beside each op (rms_norm.h, swiglu.h, ...).

#include <cstdint>

namespace greta::ops::simd {

// sum_i a[i] * b[i], f32 lanes with fused multiply-adds, then a fixed horizontal reduction.
float dot(const float* a, const float* b, int64_t n);

// sum_i x[i]^2 (same scheme as dot).
float sum_squares(const float* x, int64_t n);

// y[i] = (x[i] * s) * w[i].
void scale_mul(const float* x, float s, const float* w, float* y, int64_t n);

// y[i] = silu(g[i]) * u[i] = g / (1 + exp(-g)) * u. y may alias g.
void swiglu(const float* g, const float* u, float* y, int64_t n);

// In place: x[i] = exp(x[i] - max) / sum. Returns nothing; n >= 1.
void softmax(float* x, int64_t n);

// acc[d] = acc[d] * alpha, then for j = 0..nt-1 in order: acc[d] = fma(p[j], v[j * ld + d], acc[d]).
// Every element sees exactly this sequence whatever the vector width (lanes are independent).
void attn_accumulate(float* acc, float alpha, const float* p, const float* v, int64_t ld, int nt, int64_t n);

// Scores of one tile from tile-transposed K: s[j] = (sum over d ascending, fused:
// q[d] * kt[d * tile + j]) * scale, for j in [0, tile). tile is a multiple of 4.
void attn_tile_scores(const float* q, const float* kt, int64_t head_dim, int tile, float scale, float* s);

// Scores of one tile for n_group query heads q [n_group, head_dim]:
// s[g * tile + j] = attn_tile_scores(q + g * head_dim, ...)[j], bit for bit (several heads are
// only interleaved to keep more independent multiply-add chains in flight).
void attn_group_scores(const float* q, int n_group, const float* kt, int64_t head_dim, int tile, float scale,
                       float* s);

// For each head g: acc_g = st + g * st_stride, attn_accumulate(acc_g, alpha[g], p + g * p_stride,
// v, ld, nt, n), bit for bit (heads interleaved as above).
void attn_group_accumulate(float* st, int64_t st_stride, const float* alpha, const float* p, int64_t p_stride,
                           const float* v, int64_t ld, int nt, int64_t n, int n_group);

// s[j] = exp(s[j] - m) for j in [0, n) (vector exp; lanes independent, so the result of a lane
// does not depend on the width). Lanes up to n rounded up to the vector length are computed
// too: s must have room for them (the tile buffer does), their values are meaningless.
void exp_shifted(float* s, float m, int n);

// dst[i] = a[i] * ea + b[i] * eb (attention chunk merge; dst may alias a).
void lerp2(const float* a, float ea, const float* b, float eb, float* dst, int64_t n);

// Widening conversions of n halves / bfloats to f32 (exact).
void f16_to_f32(const uint16_t* src, float* dst, int64_t n);
void bf16_to_f32(const uint16_t* src, float* dst, int64_t n);

// Name of the instruction set the dispatcher chose ("AVX3", "AVX2", ...).
const char* target_name();

}  // namespace greta::ops::simd
