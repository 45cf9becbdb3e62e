#pragma once
// Block layouts of the quantized tensor types, byte for byte as ggml stores them in GGUF
// (ggml-common.h, QK_K = 256). Scales are IEEE fp16 bit patterns (little-endian, like every
// GGUF field). SIMD kernels include this header for the layouts; the reference conversions are
// in quant.h.
//
// The structs are packed (alignment 1): a GGUF tensor is only aligned to general.alignment,
// which may legally be 1, so a block may start at any address. Members are read through the
// struct (never through a pointer to a member), which the compiler makes safe at any address.

#include <cstdint>

namespace greta {

inline constexpr int kQK4_0 = 32;
inline constexpr int kQK4_1 = 32;
inline constexpr int kQK5_0 = 32;
inline constexpr int kQK5_1 = 32;
inline constexpr int kQK8_0 = 32;
inline constexpr int kQK8_1 = 32;
inline constexpr int kQK_K = 256;      // elements per K-quant super-block
inline constexpr int kKScaleSize = 12;  // packed 6-bit scales/mins of Q3_K, Q4_K, Q5_K

// x[j] = (nibble - 8) * d; element j in low nibble of qs[j], element j + 16 in the high one.
struct __attribute__((packed)) BlockQ4_0 {
  uint16_t d;            // fp16 scale
  uint8_t qs[kQK4_0 / 2];
};

// x[j] = nibble * d + m.
struct __attribute__((packed)) BlockQ4_1 {
  uint16_t d;  // fp16 scale
  uint16_t m;  // fp16 min
  uint8_t qs[kQK4_1 / 2];
};

// x[j] = (nibble | high_bit << 4) - 16) * d; bit j of qh (little-endian u32) is element j's 5th bit.
struct __attribute__((packed)) BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK5_0 / 2];
};

struct __attribute__((packed)) BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK5_1 / 2];
};

// x[j] = qs[j] * d.
struct __attribute__((packed)) BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK8_0];
};

// Activation format only: s = d * sum(qs).
struct __attribute__((packed)) BlockQ8_1 {
  uint16_t d;
  uint16_t s;
  int8_t qs[kQK8_1];
};

// 16 sub-blocks of 16: x = d * (scales[i] & 0xF) * q - dmin * (scales[i] >> 4), q 2-bit.
struct __attribute__((packed)) BlockQ2_K {
  uint8_t scales[kQK_K / 16];  // 4-bit scale (low) and 4-bit min (high) per sub-block
  uint8_t qs[kQK_K / 4];       // 2-bit quants
  uint16_t d;                  // fp16 super-block scale for the scales
  uint16_t dmin;               // fp16 super-block scale for the mins
};

// 16 sub-blocks of 16: x = d * (scale6 - 32) * (q2 - (hmask bit ? 0 : 4)).
struct __attribute__((packed)) BlockQ3_K {
  uint8_t hmask[kQK_K / 8];      // high bit of the 3-bit quants
  uint8_t qs[kQK_K / 4];         // low 2 bits
  uint8_t scales[kKScaleSize];   // 16 6-bit scales, packed
  uint16_t d;                    // fp16 super-block scale
};

// 8 sub-blocks of 32: x = d * scale6 * q4 - dmin * min6.
struct __attribute__((packed)) BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleSize];  // 8 6-bit scales and 8 6-bit mins, packed (get_scale_min_k4)
  uint8_t qs[kQK_K / 2];
};

// As Q4_K with a 5th bit per element in qh.
struct __attribute__((packed)) BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleSize];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};

// 16 sub-blocks of 16: x = d * scales[i] * (q6 - 32).
struct __attribute__((packed)) BlockQ6_K {
  uint8_t ql[kQK_K / 2];      // low 4 bits
  uint8_t qh[kQK_K / 4];      // high 2 bits
  int8_t scales[kQK_K / 16];  // 8-bit signed scales
  uint16_t d;
};

// Activation format for K-quant dot products (not a storage type).
struct __attribute__((packed)) BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];  // sum of each group of 16 quants
};

static_assert(sizeof(BlockQ4_0) == 18 && alignof(BlockQ4_0) == 1);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

// Unpacks sub-block j's 6-bit scale and min of Q4_K/Q5_K (ggml's get_scale_min_k4).
inline void get_scale_min_k4(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

}  // namespace greta
