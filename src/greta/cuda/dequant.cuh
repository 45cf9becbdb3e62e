#pragma once
// Device-side conversions of the weight storage types (included by the .cu files only). Each
// block type decodes a group of 8 consecutive elements of a row from its two planes (kernels.h,
// block_split) into f32 values bit-equal to greta's dequantize_row
// (greta/quant/quant_legacy.cpp, quant_kquants.cpp): every product there (fp16 scale x sub-scale
// x integer level) is exact in f32, so computing it as one fma with the min (d·q - m) or as the
// CPU's multiply and subtract gives the same single rounding. Small integers become floats
// exactly through the exponent trick (2^23 + q) - (2^23 + bias).

#include <stdint.h>

#include "greta/cuda/gpu_compat.h"
#include "greta/cuda/kernels.h"

namespace greta::cuda {

__device__ __forceinline__ float bf16_bits_to_f32(uint16_t b) { return __uint_as_float(uint32_t{b} << 16); }
__device__ __forceinline__ float f16_bits_to_f32(uint16_t b) { return __half2float(__ushort_as_half(b)); }
// The CPU's fp16_to_fp32, NaN payloads included.
__device__ __forceinline__ float f16_bits_to_f32_exact(uint16_t b) {
  if ((b & 0x7c00u) == 0x7c00u) {
    return __uint_as_float((uint32_t{b} & 0x8000u) << 16 | 0x7f800000u | (uint32_t{b} & 0x3ffu) << 13);
  }
  return f16_bits_to_f32(b);
}

// q - bias as f32, exactly, for 0 <= q < 2^23 and a small integer bias.
template <int Bias = 0>
__device__ __forceinline__ float small_int(uint32_t q) {
  return __uint_as_float(0x4B000000u | q) - (8388608.0f + static_cast<float>(Bias));
}
// Byte i (0..3) of word v, minus Bias, as f32 (one byte permute and one add).
template <int Bias = 0>
__device__ __forceinline__ float byte_float(uint32_t v, int i) {
  return __uint_as_float(__byte_perm(v, 0x4B000000u, 0x7540u | static_cast<uint32_t>(i))) -
         (8388608.0f + static_cast<float>(Bias));
}

__device__ __forceinline__ uint16_t load_u16(const uint8_t* p) { return *reinterpret_cast<const uint16_t*>(p); }

// Byte i of the 12 packed scale bytes held as three little-endian words (i may be a runtime
// value: shifts and selects, no local-memory array).
__device__ __forceinline__ uint32_t scale_byte(const uint32_t s[3], int i) {
  const uint32_t word = i < 4 ? s[0] : i < 8 ? s[1] : s[2];
  return (word >> (8 * (i & 3))) & 0xffu;
}
// Sub-block j's 6-bit scale and min of Q4_K/Q5_K (get_scale_min_k4).
__device__ __forceinline__ void scale_min_k4(int j, const uint32_t s[3], uint32_t& sc, uint32_t& m) {
  if (j < 4) {
    sc = scale_byte(s, j) & 63u;
    m = scale_byte(s, j + 4) & 63u;
  } else {
    sc = (scale_byte(s, j + 4) & 0xFu) | ((scale_byte(s, j - 4) >> 6) << 4);
    m = (scale_byte(s, j + 4) >> 4) | ((scale_byte(s, j) >> 6) << 4);
  }
}

// 8 bytes at an 8-byte aligned address as 2 little-endian words.
__device__ __forceinline__ void load8(const uint8_t* p, uint32_t v[2]) {
  const uint2 u = *reinterpret_cast<const uint2*>(p);
  v[0] = u.x;
  v[1] = u.y;
}
__device__ __forceinline__ uint32_t byte8(const uint32_t v[2], int i) { return (v[i >> 2] >> (8 * (i & 3))) & 0xffu; }

// Elements 8j .. 8j + 7 of the block whose plane-A bytes are at `a` (16-byte aligned) and
// plane-B bytes at `b`, into w[0..7]. The quants of a group are 8 consecutive bytes of the
// block (an aligned 8-byte load): Q8_0 the bytes themselves; Q4_x/Q5_x one nibble of qs
// (element e is the low nibble of byte e for e < 16, the high one of byte e - 16 after);
// K-quants 8 consecutive positions l of a 32-element sub-block c = j / 4.
template <DevWeightType T>
__device__ __forceinline__ void decode_group(const uint8_t* a, const uint8_t* b, int j, float w[8]) {
  uint32_t q[2];
  if constexpr (T == DevWeightType::Q8_0) {
    load8(a + 8 * j, q);
    const float d = f16_bits_to_f32_exact(load_u16(b));
#pragma unroll
    for (int i = 0; i < 8; ++i) w[i] = byte_float<128>(q[i >> 2] ^ 0x80808080u, i & 3) * d;  // int8 + 128
  } else if constexpr (T == DevWeightType::Q4_0 || T == DevWeightType::Q4_1 || T == DevWeightType::Q5_0 ||
                       T == DevWeightType::Q5_1) {
    load8(a + 8 * (j & 1), q);
    const int shift = 4 * (j >> 1);
    const float d = f16_bits_to_f32_exact(load_u16(b));
    float m = 0.0f;
    uint32_t qh = 0;
    if constexpr (T == DevWeightType::Q4_1) m = f16_bits_to_f32_exact(load_u16(b + 2));
    if constexpr (T == DevWeightType::Q5_0) qh = uint32_t{load_u16(b + 2)} | uint32_t{load_u16(b + 4)} << 16;
    if constexpr (T == DevWeightType::Q5_1) {
      m = f16_bits_to_f32_exact(load_u16(b + 2));
      qh = *reinterpret_cast<const uint32_t*>(b + 4);
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      uint32_t v = (byte8(q, i) >> shift) & 0xFu;
      if constexpr (T == DevWeightType::Q5_0 || T == DevWeightType::Q5_1) v |= ((qh >> (8 * j + i)) & 1u) << 4;
      if constexpr (T == DevWeightType::Q4_0) w[i] = small_int<8>(v) * d;
      else if constexpr (T == DevWeightType::Q5_0) w[i] = small_int<16>(v) * d;
      else w[i] = __fmaf_rn(small_int(v), d, m);  // q * d + m: the product is exact, one rounding
    }
  } else {
    const int c = j >> 2, l0 = 8 * (j & 3);  // sub-block of 32 and the group's first position in it
    if constexpr (T == DevWeightType::Q2_K) {
      // Bits 2(c % 4) of qs[32(c / 4) + l]; sub-block 2c + l / 16 of 16 for the scale.
      load8(a + 16 + 32 * (c >> 2) + l0, q);
      const uint32_t sc = a[2 * c + (l0 >> 4)];
      const float d = f16_bits_to_f32_exact(load_u16(b)), dmin = f16_bits_to_f32_exact(load_u16(b + 2));
      const float dl = d * small_int(sc & 0xFu), ml = dmin * small_int(sc >> 4);
      const int shift = 2 * (c & 3);
#pragma unroll
      for (int i = 0; i < 8; ++i) w[i] = __fmaf_rn(dl, small_int((byte8(q, i) >> shift) & 3u), -ml);
    } else if constexpr (T == DevWeightType::Q3_K) {
      // Bits 2(c % 4) of qs[32(c / 4) + l], high bit c of hmask[l]; scale 2c + l / 16.
      uint32_t hm[2];
      load8(a + 32 + 32 * (c >> 2) + l0, q);
      load8(a + l0, hm);
      uint32_t s[3];
#pragma unroll
      for (int i = 0; i < 3; ++i) s[i] = uint32_t{load_u16(b + 4 * i)} | uint32_t{load_u16(b + 4 * i + 2)} << 16;
      const float d_all = f16_bits_to_f32_exact(load_u16(b + 12));
      const int js = 2 * c + (l0 >> 4);
      const uint32_t low = js < 8 ? (scale_byte(s, js) & 0xFu) : (scale_byte(s, js - 8) >> 4);
      const uint32_t high = (scale_byte(s, 8 + js % 4) >> (2 * (js / 4))) & 3u;
      const float dl = d_all * small_int<32>(low | high << 4);
      const int shift = 2 * (c & 3);
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const uint32_t v = ((byte8(q, i) >> shift) & 3u) | ((byte8(hm, i) >> c) & 1u) << 2;  // level + 4
        w[i] = dl * small_int<4>(v);
      }
    } else if constexpr (T == DevWeightType::Q4_K || T == DevWeightType::Q5_K) {
      // Nibble c % 2 of qs[32(c / 2) + l] (Q5_K: plus bit c of qh[l] as 16).
      constexpr int kQs = T == DevWeightType::Q4_K ? 16 : 48;
      load8(a + kQs + 32 * (c >> 1) + l0, q);
      uint32_t h[2] = {0, 0};
      if constexpr (T == DevWeightType::Q5_K) load8(a + 16 + l0, h);
      const uint32_t hd = *reinterpret_cast<const uint32_t*>(a);
      const float d = f16_bits_to_f32_exact(static_cast<uint16_t>(hd & 0xffffu));
      const float dmin = f16_bits_to_f32_exact(static_cast<uint16_t>(hd >> 16));
      uint32_t s[3];
#pragma unroll
      for (int i = 0; i < 3; ++i) s[i] = reinterpret_cast<const uint32_t*>(a + 4)[i];
      uint32_t sc, mn;
      scale_min_k4(c, s, sc, mn);
      const float d1 = d * small_int(sc), m1 = dmin * small_int(mn);
      const int nib = 4 * (c & 1);
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        uint32_t v = (byte8(q, i) >> nib) & 0xFu;
        if constexpr (T == DevWeightType::Q5_K) v |= ((byte8(h, i) >> c) & 1u) << 4;
        w[i] = __fmaf_rn(d1, small_int(v), -m1);
      }
    } else if constexpr (T == DevWeightType::Q6_K) {
      // c = 4h + qq: nibble qq / 2 of ql[64h + 32(qq % 2) + l], bits 2qq of qh[32h + l]; scale
      // 8h + 2qq + l / 16.
      const int h = c >> 2, qq = c & 3;
      uint32_t hi[2];
      load8(a + 64 * h + 32 * (qq & 1) + l0, q);
      load8(a + 128 + 32 * h + l0, hi);
      const float d = f16_bits_to_f32_exact(load_u16(b));
      const float ds = d * static_cast<float>(static_cast<int8_t>(a[192 + 8 * h + 2 * qq + (l0 >> 4)]));
      const int nib = 4 * (qq >> 1);
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const uint32_t v = ((byte8(q, i) >> nib) & 0xFu) | ((byte8(hi, i) >> (2 * qq)) & 3u) << 4;
        w[i] = ds * small_int<32>(v);
      }
    }
  }
}

// Plane pointers of row n's blocks.
struct BlockRow {
  const uint8_t* a;
  const uint8_t* b;
};
template <DevWeightType T>
__device__ __forceinline__ BlockRow block_row(const DevMatrix& w, int64_t n) {
  constexpr BlockSplit sp = block_split(T);
  const int64_t nb = w.cols / sp.block_elems;
  return {static_cast<const uint8_t*>(w.data) + n * nb * sp.a_len, w.aux + n * nb * sp.b_len()};
}
// Group g (elements 8g .. 8g + 7) of a row.
template <DevWeightType T>
__device__ __forceinline__ void decode_row_group(const BlockRow& r, int64_t g, float w[8]) {
  constexpr BlockSplit sp = block_split(T);
  constexpr int kGroups = sp.block_elems / 8;
  const int64_t blk = g / kGroups;
  decode_group<T>(r.a + blk * sp.a_len, r.b + blk * sp.b_len(), static_cast<int>(g % kGroups), w);
}

}  // namespace greta::cuda
