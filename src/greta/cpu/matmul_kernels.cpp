// The SIMD kernels behind matmul(), compiled once per Highway target and dispatched at run time.
//
// Every output y[m, n] is produced by one fixed sequence of operations over K that depends only
// on W row n and x row m: the tile templates below differ only in how many (n, m) pairs they
// carry at once (NR weight rows x MR activation rows), never in what each pair computes. The
// one-row decode path is simply the MR = 1 instance. docs/ARCHITECTURE.md, "CPU kernels".

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "greta/cpu/matmul_kernels.cpp"
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL  // AVX-512 VNNI (Ice Lake, Zen 4/5): the int8 dot-product kernels
#endif
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SSSE3 | HWY_SSE4)  // fewer copies to compile; AVX2 or scalar
#endif
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/cache_control.h"
#include "hwy/highway.h"

#include <algorithm>
#include <cstring>

#include "greta/core/error.h"
#include "greta/cpu/matmul_kernels.h"
#include "greta/quant/blocks.h"
#include "greta/quant/quant.h"

#if HWY_TARGET == HWY_AVX3_DL
#include <immintrin.h>
#endif

HWY_BEFORE_NAMESPACE();
namespace greta::cpu {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

constexpr int kMaxLanes = 64;  // upper bound on f32 lanes of any target (for padded tails)

// Software prefetch distance for one-row (decode) tiles: at least this, and at least one tile
// (NR rows) ahead. Measured on Zen 5 (1 thread, Q8_0 2048x2048, weights streamed from memory):
// no prefetch 42% of the read bandwidth, 0.25-4 KiB ahead no better, 8-24 KiB ahead 63-71%.
constexpr int64_t kPrefetchBytes = 8192;

// ---------------------------------------------------------------------------------------------
// f32 activations: W rows converted (F16, BF16) or dequantized block by block (other types) to
// f32 and multiplied with one vector accumulator per (n, m) pair: acc = MulAdd(w, x, acc) over
// K in ascending vector steps, then one SumOfLanes. A K tail (F32/F16/BF16 only) is one more
// step on zero-padded vectors.

template <int NR, int MR>
HWY_INLINE void AccumulateStep(const VF (&w)[NR], const float* const (&x)[MR], int64_t k,
                               VF (&acc)[NR][MR]) {
  const DF df;
#pragma GCC unroll 8
  for (int mm = 0; mm < MR; ++mm) {
    const VF xv = hn::LoadU(df, x[mm] + k);
#pragma GCC unroll 8
    for (int r = 0; r < NR; ++r) acc[r][mm] = hn::MulAdd(w[r], xv, acc[r][mm]);
  }
}

// Weight storage as the f32 tiles see it; a compile-time parameter so the inner loops carry
// no type branches.
enum class WKind { kF32, kF16, kBF16, kDequant };

template <WKind W>
HWY_INLINE VF LoadW(const uint8_t* row, int64_t k) {
  const DF df;
  if constexpr (W == WKind::kF32) {
    return hn::LoadU(df, reinterpret_cast<const float*>(row) + k);
  } else if constexpr (W == WKind::kF16) {
    const hn::Rebind<hwy::float16_t, DF> dh;
    return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(row) + k));
  } else {
    const hn::Rebind<hwy::bfloat16_t, DF> db;
    return hn::PromoteTo(df, hn::LoadU(db, reinterpret_cast<const hwy::bfloat16_t*>(row) + k));
  }
}

template <WKind W, int NR, int MR>
HWY_NOINLINE void TileF32(const MatmulArgs& a, int64_t n, int64_t m) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  const int64_t K = a.k;
  VF acc[NR][MR];
  const uint8_t* wrow[NR];
  const float* xrow[MR];
  for (int r = 0; r < NR; ++r) {
    wrow[r] = a.w + (n + r) * a.row_bytes;
    for (int mm = 0; mm < MR; ++mm) acc[r][mm] = hn::Zero(df);
  }
  for (int mm = 0; mm < MR; ++mm) xrow[mm] = a.x + (m + mm) * a.ldx;

  if constexpr (W != WKind::kDequant) {
    int64_t k = 0;
    constexpr int64_t esize = W == WKind::kF32 ? 4 : 2;
    const int64_t pf_dist = std::max<int64_t>(kPrefetchBytes, NR * a.row_bytes);
    for (; k + L <= K; k += L) {
      VF w[NR];
      if constexpr (MR == 1) {
#pragma GCC unroll 8
        for (int r = 0; r < NR; ++r) hwy::Prefetch(wrow[r] + k * esize + pf_dist);
      }
#pragma GCC unroll 8
      for (int r = 0; r < NR; ++r) w[r] = LoadW<W>(wrow[r], k);
      AccumulateStep<NR, MR>(w, xrow, k, acc);
    }
    if (k < K) {
      // Tail: the remaining elements, zero-padded to one vector (identical for every tile shape).
      const int64_t rem = K - k;
      HWY_ALIGN float xpad[MR][kMaxLanes];
      const float* xp[MR];
      VF w[NR];
      for (int r = 0; r < NR; ++r) {
        HWY_ALIGN uint8_t raw[kMaxLanes * 4] = {};
        std::memcpy(raw, wrow[r] + k * esize, static_cast<size_t>(rem * esize));
        w[r] = LoadW<W>(raw, 0);
      }
      for (int mm = 0; mm < MR; ++mm) {
        std::memset(xpad[mm], 0, sizeof(xpad[mm]));
        std::memcpy(xpad[mm], xrow[mm] + k, static_cast<size_t>(rem) * sizeof(float));
        xp[mm] = xpad[mm];
      }
      AccumulateStep<NR, MR>(w, xp, 0, acc);
    }
  } else {
    // Any other storage type: dequantize one block per weight row (the reference dequantizer)
    // and accumulate it like f32 weights. Used where no integer kernel exists.
    const auto& info = tensor_type_info(a.type);
    const int64_t bs = info.block_size;
    GRETA_ASSERT(bs <= 256 && bs % L == 0);
    HWY_ALIGN float buf[NR][256];
    for (int64_t b = 0; b < K / bs; ++b) {
      for (int r = 0; r < NR; ++r) dequantize_row(a.type, wrow[r] + b * info.type_size, buf[r], bs);
      const float* xb[MR];
      for (int mm = 0; mm < MR; ++mm) xb[mm] = xrow[mm] + b * bs;
      for (int64_t i = 0; i < bs; i += L) {
        VF w[NR];
#pragma GCC unroll 8
        for (int r = 0; r < NR; ++r) w[r] = hn::Load(df, buf[r] + i);
        AccumulateStep<NR, MR>(w, xb, i, acc);
      }
    }
  }
  for (int r = 0; r < NR; ++r)
    for (int mm = 0; mm < MR; ++mm)
      a.y[(m + mm) * a.ldy + n + r] = hn::GetLane(hn::SumOfLanes(df, acc[r][mm]));
}

template <WKind W, int NR, int MR>
HWY_INLINE void SweepF32(const MatmulArgs& a, int64_t n0, int64_t n1, int64_t m) {
  int64_t n = n0;
  for (; n + NR <= n1; n += NR) TileF32<W, NR, MR>(a, n, m);
  for (; n < n1; ++n) TileF32<W, 1, MR>(a, n, m);
}

template <WKind W>
void MatmulRowsF32T(const MatmulArgs& a, int64_t n0, int64_t n1) {
  // Register budget (AVX-512: 32 vectors): NR*MR accumulators + NR weights + 1 activation.
  constexpr int kNR = 4, kMR = W == WKind::kDequant ? 4 : 6;
  int64_t m = 0;
  for (; m + kMR <= a.m; m += kMR) SweepF32<W, kNR, kMR>(a, n0, n1, m);
  // One-row (decode) tiles: 2 rows at a time streamed slightly better than 4 or 8 for F16
  // (71% vs 63% / 67% of the read bandwidth, 1 thread, 2048x2048).
  constexpr int kNR1 = W == WKind::kDequant ? 4 : 2;
  for (; m < a.m; ++m) SweepF32<W, kNR1, 1>(a, n0, n1, m);
}

void MatmulRowsF32(const MatmulArgs& a, int64_t n0, int64_t n1) {
  switch (a.type) {
    case TensorType::F32: return MatmulRowsF32T<WKind::kF32>(a, n0, n1);
    case TensorType::F16: return MatmulRowsF32T<WKind::kF16>(a, n0, n1);
    case TensorType::BF16: return MatmulRowsF32T<WKind::kBF16>(a, n0, n1);
    default: return MatmulRowsF32T<WKind::kDequant>(a, n0, n1);
  }
}

// ---------------------------------------------------------------------------------------------
// Q8A32 activations x integer weights (AVX-512 VNNI). Weights are decoded to unsigned bytes
// u = w + c (c = 128 for Q8_0, 8 for Q4_0, 16 for Q5_0, 32 for Q6_K, 4 for Q3_K, 0 for the types
// with minimums: Q4_1, Q5_1, Q2_K, Q4_K, Q5_K), so per 64-element step of K and per (n, m) pair:
//   isum  = vpdpbusd(c * nsum4(x), u, q)       exact int32: lane i = sum of the 4 products
//                                              w*q of elements 4i..4i+3 (the c*q terms are
//                                              cancelled by the initial value)
//   acc   = MulAdd(f32(isum), wscale * dx, acc) wscale, dx: per-lane weight and activation scale
// for Q2_K (a minimum per 16 elements) right after it, in the same step,
//   acc   = MulAdd(dmin * min_j (per lane), f32(nsum4) * dx, acc)
// and, for types with a minimum per 32-element block, once per decoder block (after its steps)
//   acc   = MulAdd(coef_j (lanes 0..J-1), s_j (lanes 0..J-1), acc)   J = 8 (Q4_K, Q5_K: -dmin *
//           min_j of the 8 sub-blocks of the super-block), J = 2 (Q4_1, Q5_1: m of the 2 blocks
//           of the 64-element step); the other lanes add fma(0, 0, acc)
// then y = SumOfLanes(acc). Weight decoding depends only on W row n, the activation terms only
// on x row m, so any tile shape NR x MR gives the same bits for a pair. Every weight scale and
// minimum here is exact in f32 (an fp16 value times an integer of at most 6 bits).
// tests/cpu/matmul_kernels_test.cpp models this sequence in scalar code, bit for bit.

#if HWY_TARGET == HWY_AVX3_DL
#define GRETA_VNNI_ATTR __attribute__((target(HWY_TARGET_STR ",avx512vnni")))

bool HasVnni() { return __builtin_cpu_supports("avx512vnni"); }

bool HasQ8Kernel(TensorType t) {
  switch (t) {
    case TensorType::Q8_0:
    case TensorType::Q4_0:
    case TensorType::Q4_1:
    case TensorType::Q5_0:
    case TensorType::Q5_1:
    case TensorType::Q2_K:
    case TensorType::Q3_K:
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q6_K: return true;
    default: return false;
  }
}

// Types whose decoder block is two 32-element blocks (one 64-element step).
constexpr bool IsPair32(TensorType t) {
  return t == TensorType::Q8_0 || t == TensorType::Q4_0 || t == TensorType::Q4_1 || t == TensorType::Q5_0 ||
         t == TensorType::Q5_1;
}

// Elements of K per weight "block" the decoder handles at once.
constexpr int64_t Q8BlockElems(TensorType t) { return IsPair32(t) ? 64 : 256; }

// Bytes of one decoder block.
constexpr int64_t Q8BlockBytes(TensorType t) {
  switch (t) {
    case TensorType::Q8_0: return 2 * sizeof(BlockQ8_0);
    case TensorType::Q4_0: return 2 * sizeof(BlockQ4_0);
    case TensorType::Q4_1: return 2 * sizeof(BlockQ4_1);
    case TensorType::Q5_0: return 2 * sizeof(BlockQ5_0);
    case TensorType::Q5_1: return 2 * sizeof(BlockQ5_1);
    case TensorType::Q2_K: return sizeof(BlockQ2_K);
    case TensorType::Q3_K: return sizeof(BlockQ3_K);
    case TensorType::Q4_K: return sizeof(BlockQ4_K);
    case TensorType::Q5_K: return sizeof(BlockQ5_K);
    default: return sizeof(BlockQ6_K);
  }
}

// log2 of the weight offset c (see above); -1: none.
constexpr int Q8OffsetShift(TensorType t) {
  switch (t) {
    case TensorType::Q8_0: return 7;
    case TensorType::Q4_0: return 3;
    case TensorType::Q5_0: return 4;
    case TensorType::Q6_K: return 5;
    case TensorType::Q3_K: return 2;
    default: return -1;
  }
}

// Minimum term per 32-element block (J lanes once per decoder block): Q4_1, Q5_1, Q4_K, Q5_K.
constexpr int BlockMinLanes(TensorType t) {
  return (t == TensorType::Q4_1 || t == TensorType::Q5_1) ? 2 : (t == TensorType::Q4_K || t == TensorType::Q5_K) ? 8 : 0;
}

GRETA_VNNI_ATTR HWY_INLINE float Half(uint16_t h) { return _cvtsh_ss(h); }

// Per-row state of one decoder block, in compact form; the per-step lane vectors are
// permutations of it (StepScale), taken where they are used.
struct Q8WeightBlock {
  __m512 sv;  // pair types: lanes 0..7 = d of block 0, 8..15 = d of block 1 (the step's scales)
              // Q4_K/Q5_K: lanes 0..7 = d * scale_j, lanes 8..15 = -dmin * min_j
              // Q6_K/Q3_K/Q2_K: lane j = d * scale_j of the 16 sub-blocks of 16
  __m512 mv;  // Q4_1/Q5_1: lanes 0, 1 = m of the two blocks, others 0
              // Q2_K: lane j = dmin * min_j of the 16 sub-blocks
};

// The lanes 0..15 of step st for a super-block of 8 (Q4_K, Q5_K) or 16 (the others) sub-blocks.
GRETA_VNNI_ATTR HWY_INLINE __m512i SubBlock32Idx(int st) {
  const int a = 2 * st, b = 2 * st + 1;
  return _mm512_set_epi32(b, b, b, b, b, b, b, b, a, a, a, a, a, a, a, a);
}
GRETA_VNNI_ATTR HWY_INLINE __m512i SubBlock16Idx(int st) {
  const int i = 4 * st;
  return _mm512_set_epi32(i + 3, i + 3, i + 3, i + 3, i + 2, i + 2, i + 2, i + 2, i + 1, i + 1, i + 1, i + 1, i, i, i, i);
}

template <TensorType T>
GRETA_VNNI_ATTR HWY_INLINE __m512 StepScale(const Q8WeightBlock& wb, int st) {
  if constexpr (IsPair32(T)) {
    return wb.sv;
  } else if constexpr (T == TensorType::Q4_K || T == TensorType::Q5_K) {
    return _mm512_permutexvar_ps(SubBlock32Idx(st), wb.sv);
  } else {
    return _mm512_permutexvar_ps(SubBlock16Idx(st), wb.sv);
  }
}

// Q2_K: dmin * min of each lane's sub-block in step st.
GRETA_VNNI_ATTR HWY_INLINE __m512 StepMinQ2K(const Q8WeightBlock& wb, int st) {
  return _mm512_permutexvar_ps(SubBlock16Idx(st), wb.mv);
}

// The block-minimum coefficients (lanes 0..J-1, others 0).
template <TensorType T>
GRETA_VNNI_ATTR HWY_INLINE __m512 BlockMinCoef(const Q8WeightBlock& wb) {
  if constexpr (T == TensorType::Q4_K || T == TensorType::Q5_K) {
    // lanes 0..7 = -dmin * min_j (lanes 8..15 of sv), lanes 8..15 = 0
    return _mm512_maskz_permutexvar_ps(0x00FF, _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 15, 14, 13, 12, 11, 10, 9, 8),
                                       wb.sv);
  } else {
    return wb.mv;
  }
}

// 8 6-bit scales (bytes 0..7) and 8 6-bit mins (bytes 8..15) of Q4_K/Q5_K (ggml's utmp shuffle),
// built in registers (two 8-byte halves): storing them to memory and reloading them as one
// 16-byte vector stalls on store forwarding.
GRETA_VNNI_ATTR HWY_INLINE __m128i UnpackScalesK4(const uint8_t* scales) {
  uint32_t a[3];
  std::memcpy(a, scales, 12);
  constexpr uint32_t kM1 = 0x3f3f3f3f, kM2 = 0x0f0f0f0f, kM3 = 0x03030303;
  const uint32_t sc_lo = a[0] & kM1;
  const uint32_t sc_hi = (a[2] & kM2) | (((a[0] >> 6) & kM3) << 4);
  const uint32_t mn_lo = a[1] & kM1;
  const uint32_t mn_hi = ((a[2] >> 4) & kM2) | (((a[1] >> 6) & kM3) << 4);
  return _mm_set_epi64x(static_cast<int64_t>(mn_lo | (uint64_t{mn_hi} << 32)),
                        static_cast<int64_t>(sc_lo | (uint64_t{sc_hi} << 32)));
}

// 16 6-bit Q3_K scales, still offset by 32, one per byte (ggml's aux shuffle), in registers.
GRETA_VNNI_ATTR HWY_INLINE __m128i UnpackScalesQ3K(const uint8_t* scales) {
  uint64_t lo;
  uint32_t t;
  std::memcpy(&lo, scales, 8);
  std::memcpy(&t, scales + 8, 4);
  constexpr uint64_t kM1 = 0x0303030303030303ull, kM2 = 0x0f0f0f0f0f0f0f0full;
  const uint64_t tt = uint64_t{t} | (uint64_t{t >> 2} << 32);
  const uint64_t u01 = (lo & kM2) | ((tt & kM1) << 4);                // scales 0..7
  const uint64_t u23 = ((lo >> 4) & kM2) | (((tt >> 4) & kM1) << 4);  // scales 8..15
  return _mm_set_epi64x(static_cast<int64_t>(u23), static_cast<int64_t>(u01));
}

template <TensorType T>
GRETA_VNNI_ATTR HWY_INLINE void DecodeScales(const uint8_t* blk, Q8WeightBlock& wb) {
  if constexpr (IsPair32(T)) {
    constexpr int64_t bsz = Q8BlockBytes(T) / 2;
    uint16_t d0, d1;
    std::memcpy(&d0, blk, 2);
    std::memcpy(&d1, blk + bsz, 2);
    const __m256i h = _mm256_set_m128i(_mm_set1_epi16(static_cast<short>(d1)), _mm_set1_epi16(static_cast<short>(d0)));
    wb.sv = _mm512_cvtph_ps(h);
    if constexpr (T == TensorType::Q4_1 || T == TensorType::Q5_1) {
      uint16_t m0, m1;
      std::memcpy(&m0, blk + 2, 2);
      std::memcpy(&m1, blk + bsz + 2, 2);
      const __m128i mm = _mm_cvtsi32_si128(static_cast<int>(static_cast<uint32_t>(m0) | (static_cast<uint32_t>(m1) << 16)));
      wb.mv = _mm512_cvtph_ps(_mm256_zextsi128_si256(mm));  // lanes 2..15: fp16 0 -> 0.0f
    }
  } else if constexpr (T == TensorType::Q4_K || T == TensorType::Q5_K) {
    uint16_t d, dmin;
    std::memcpy(&d, blk, 2);
    std::memcpy(&dmin, blk + 2, 2);
    // bytes 0..7: scales, 8..15: mins
    const __m512 sm = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(UnpackScalesK4(blk + 4)));
    const __m512 dd = _mm512_insertf32x8(_mm512_set1_ps(Half(d)), _mm256_set1_ps(-Half(dmin)), 1);
    wb.sv = _mm512_mul_ps(sm, dd);  // exact: 11-bit mantissa x 6-bit integer
  } else if constexpr (T == TensorType::Q6_K) {
    const auto* b = reinterpret_cast<const BlockQ6_K*>(blk);
    wb.sv = _mm512_mul_ps(_mm512_set1_ps(Half(b->d)), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(
                                                          reinterpret_cast<const __m128i*>(b->scales)))));  // exact
  } else if constexpr (T == TensorType::Q3_K) {
    const auto* b = reinterpret_cast<const BlockQ3_K*>(blk);
    const __m512i sc = _mm512_sub_epi32(_mm512_cvtepu8_epi32(UnpackScalesQ3K(b->scales)), _mm512_set1_epi32(32));
    wb.sv = _mm512_mul_ps(_mm512_set1_ps(Half(b->d)), _mm512_cvtepi32_ps(sc));  // exact
  } else {  // Q2_K
    const auto* b = reinterpret_cast<const BlockQ2_K*>(blk);
    const __m512i sc = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b->scales)));
    wb.sv = _mm512_mul_ps(_mm512_set1_ps(Half(b->d)),
                          _mm512_cvtepi32_ps(_mm512_and_si512(sc, _mm512_set1_epi32(0xF))));  // exact
    wb.mv = _mm512_mul_ps(_mm512_set1_ps(Half(b->dmin)), _mm512_cvtepi32_ps(_mm512_srli_epi32(sc, 4)));
  }
}

// Byte b of the result: lo (bytes 0..31) or hi (bytes 32..63), as a constant vector.
GRETA_VNNI_ATTR HWY_INLINE __m512i SplitBytes(int lo, int hi) {
  return _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(lo)), _mm256_set1_epi8(static_cast<char>(hi)), 1);
}

// The 64 unsigned weights u = w + c of step st (0-based within the block), in element order.
template <TensorType T>
GRETA_VNNI_ATTR HWY_INLINE __m512i DecodeWeights(const uint8_t* blk, int st) {
  const __m512i lo4 = _mm512_set1_epi8(0x0F);
  if constexpr (T == TensorType::Q8_0) {
    const auto* b = reinterpret_cast<const BlockQ8_0*>(blk);
    const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[0].qs));
    const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[1].qs));
    return _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), _mm512_set1_epi8(-128));
  } else if constexpr (IsPair32(T)) {  // Q4_0, Q4_1, Q5_0, Q5_1
    constexpr int64_t bsz = Q8BlockBytes(T) / 2;
    constexpr int64_t qs_off = bsz - 16;  // qs is the last field
    const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + qs_off));
    const __m128i q1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + bsz + qs_off));
    // [q0 | q1 | q0 | q1] -> low nibbles in the lower half, high nibbles in the upper half
    const __m512i q = _mm512_broadcast_i64x4(_mm256_set_m128i(q1, q0));
    const __m512i nib = _mm512_and_si512(_mm512_mask_srli_epi16(q, 0xFFFF0000u, q, 4), lo4);
    // nib = [lo0, lo1, hi0, hi1] -> element order [lo0, hi0, lo1, hi1]
    const __m512i u = _mm512_shuffle_i64x2(nib, nib, _MM_SHUFFLE(3, 1, 2, 0));
    if constexpr (T == TensorType::Q5_0 || T == TensorType::Q5_1) {
      // qh bit j of a block is the 5th bit of its element j: one mask bit per byte of u.
      uint32_t h0, h1;
      std::memcpy(&h0, blk + qs_off - 4, 4);
      std::memcpy(&h1, blk + bsz + qs_off - 4, 4);
      const __mmask64 hb = static_cast<__mmask64>(h0) | (static_cast<__mmask64>(h1) << 32);
      return _mm512_mask_add_epi8(u, hb, u, _mm512_set1_epi8(16));
    } else {
      return u;
    }
  } else if constexpr (T == TensorType::Q4_K || T == TensorType::Q5_K) {
    // Step st: qs[32 st .. 32 st + 31], low nibbles = elements 0..31, high nibbles = 32..63.
    const uint8_t* qs = T == TensorType::Q4_K ? reinterpret_cast<const BlockQ4_K*>(blk)->qs
                                              : reinterpret_cast<const BlockQ5_K*>(blk)->qs;
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * st));
    const __m512i qq = _mm512_inserti64x4(_mm512_castsi256_si512(q), q, 1);
    const __m512i u = _mm512_and_si512(_mm512_mask_srli_epi16(qq, 0xFFFF0000u, qq, 4), lo4);
    if constexpr (T == TensorType::Q5_K) {
      // 5th bit: bit 2 st of qh[l] for element l, bit 2 st + 1 for element 32 + l.
      const auto* b = reinterpret_cast<const BlockQ5_K*>(blk);
      const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->qh)));
      const __mmask64 hb = _mm512_test_epi8_mask(qh, SplitBytes(1 << (2 * st), 1 << (2 * st + 1)));
      return _mm512_mask_add_epi8(u, hb, u, _mm512_set1_epi8(16));
    } else {
      return u;
    }
  } else if constexpr (T == TensorType::Q2_K || T == TensorType::Q3_K) {
    // Step st: elements 128 h + 64 p + l (h = st / 2, p = st % 2, l < 64) are bits 2 j..2 j+1 of
    // qs[32 h + l % 32] with j = 2 p + l / 32 (Q3_K: 3rd bit = bit 4 h + j of hmask[l % 32]).
    const uint8_t* qs = T == TensorType::Q2_K ? reinterpret_cast<const BlockQ2_K*>(blk)->qs
                                              : reinterpret_cast<const BlockQ3_K*>(blk)->qs;
    const int h = st >> 1, j = 2 * (st & 1);
    const __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * h)));
    const __m512i cnt = _mm512_inserti64x4(_mm512_set1_epi16(static_cast<short>(2 * j)),
                                           _mm256_set1_epi16(static_cast<short>(2 * j + 2)), 1);
    const __m512i u = _mm512_and_si512(_mm512_srlv_epi16(q, cnt), _mm512_set1_epi8(3));
    if constexpr (T == TensorType::Q3_K) {
      const auto* b = reinterpret_cast<const BlockQ3_K*>(blk);
      const __m512i hm = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->hmask)));
      const int bit = 4 * h + j;
      const __mmask64 hb = _mm512_test_epi8_mask(hm, SplitBytes(1 << bit, 1 << (bit + 1)));
      return _mm512_mask_add_epi8(u, hb, u, _mm512_set1_epi8(4));  // u = q + 4 h = w + 4
    } else {
      return u;
    }
  } else {  // Q6_K: step st covers elements 64*st .. 64*st+63 of the super-block
    const auto* b = reinterpret_cast<const BlockQ6_K*>(blk);
    const int half = st >> 1, part = st & 1;
    const __m512i ql = _mm512_loadu_si512(b->ql + 64 * half);
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->qh + 32 * half));
    // qh2 = [qh, qh >> 2]: bits (1:0) give elements 0..31 / 32..63, bits (5:4) give 64..95 / 96..127
    const __m512i qh2 = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
    __m512i low, high;
    if (part == 0) {
      low = _mm512_and_si512(ql, lo4);
      high = _mm512_and_si512(qh2, _mm512_set1_epi8(3));
    } else {
      low = _mm512_and_si512(_mm512_srli_epi16(ql, 4), lo4);
      high = _mm512_and_si512(_mm512_srli_epi16(qh2, 4), _mm512_set1_epi8(3));
    }
    return _mm512_or_si512(low, _mm512_slli_epi16(high, 4));  // no carry: high < 4
  }
}

template <TensorType T, int NR, int MR>
GRETA_VNNI_ATTR HWY_NOINLINE void TileQ8(const MatmulArgs& a, int64_t n, int64_t m) {
  constexpr int64_t kBlock = Q8BlockElems(T);
  constexpr int kSteps = static_cast<int>(kBlock / 64);
  constexpr int kShift = Q8OffsetShift(T);
  constexpr int64_t kBlockBytes = Q8BlockBytes(T);
  constexpr int kMinLanes = BlockMinLanes(T);
  constexpr bool kLaneMin = T == TensorType::Q2_K;
  const int64_t K = a.k;
  const int64_t arb = act_row_bytes(K);
  __m512 acc[NR][MR];
  const uint8_t* wrow[NR];
  const int8_t* xq[MR];
  const float* dv[MR];
  const int32_t* ns[MR];
  const float* sb[MR];
  for (int r = 0; r < NR; ++r) {
    wrow[r] = a.w + (n + r) * a.row_bytes;
    for (int mm = 0; mm < MR; ++mm) acc[r][mm] = _mm512_setzero_ps();
  }
  for (int mm = 0; mm < MR; ++mm) {
    const uint8_t* row = a.xq + (m + mm) * arb;
    xq[mm] = reinterpret_cast<const int8_t*>(row);
    dv[mm] = reinterpret_cast<const float*>(row + K);
    ns[mm] = reinterpret_cast<const int32_t*>(row + 2 * K);
    sb[mm] = reinterpret_cast<const float*>(row + 3 * K);
  }
  const int64_t n_blocks = K / kBlock;
  const int64_t pf_dist = std::max<int64_t>(kPrefetchBytes, NR * a.row_bytes);
  // Blocks of at most 64 bytes: one prefetch per block reaches every cache line of the row.
  constexpr int64_t kPrefetchSpan = kBlockBytes <= 64 ? 1 : kBlockBytes + 64;
  for (int64_t blk = 0; blk < n_blocks; ++blk) {
    if constexpr (MR == 1) {
      // Decode streams weights from memory: prefetch the block kPrefetchBytes ahead in each row
      // (in the next tile's rows, as the rows of a task are contiguous).
#pragma GCC unroll 8
      for (int r = 0; r < NR; ++r)
        for (int64_t off = 0; off < kPrefetchSpan; off += 64)
          _mm_prefetch(reinterpret_cast<const char*>(wrow[r] + blk * kBlockBytes + pf_dist + off), _MM_HINT_T0);
    }
    if constexpr (MR == 1) {
      // Decode: one weight row at a time through the whole block (its scales, steps and minimum
      // term), so only the 8 accumulators stay live across rows; the activation vectors are
      // reloaded from L1 per row. Same operations per pair as the tiles below, in the same order.
#pragma GCC unroll 8
      for (int r = 0; r < NR; ++r) {
        const uint8_t* wb_ptr = wrow[r] + blk * kBlockBytes;
        Q8WeightBlock wb;
        DecodeScales<T>(wb_ptr, wb);
#pragma GCC unroll 4
        for (int st = 0; st < kSteps; ++st) {
          const int64_t step = blk * kSteps + st;
          const __m512i w = DecodeWeights<T>(wb_ptr, st);
          const __m512i xv = _mm512_load_si512(xq[0] + 64 * step);
          const __m512 dx = _mm512_load_ps(dv[0] + 16 * step);
          __m512i init = _mm512_setzero_si512();
          if constexpr (kShift >= 0) init = _mm512_slli_epi32(_mm512_load_si512(ns[0] + 16 * step), kShift);
          const __m512i isum = _mm512_dpbusd_epi32(init, w, xv);
          acc[r][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(StepScale<T>(wb, st), dx), acc[r][0]);
          if constexpr (kLaneMin) {
            const __m512 xs = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_load_si512(ns[0] + 16 * step)), dx);
            acc[r][0] = _mm512_fmadd_ps(StepMinQ2K(wb, st), xs, acc[r][0]);
          }
        }
        if constexpr (kMinLanes > 0) {
          constexpr __mmask16 kMask = static_cast<__mmask16>((1u << kMinLanes) - 1);
          const __m512 s = _mm512_maskz_loadu_ps(kMask, sb[0] + kMinLanes * blk);
          acc[r][0] = _mm512_fmadd_ps(BlockMinCoef<T>(wb), s, acc[r][0]);
        }
      }
      continue;
    }
    Q8WeightBlock wb[NR];
#pragma GCC unroll 8
    for (int r = 0; r < NR; ++r) DecodeScales<T>(wrow[r] + blk * kBlockBytes, wb[r]);
#pragma GCC unroll 4
    for (int st = 0; st < kSteps; ++st) {
      const int64_t step = blk * kSteps + st;  // global 64-element step
      __m512i w[NR];
      __m512 ws[NR];
      __m512 wm[NR];
#pragma GCC unroll 8
      for (int r = 0; r < NR; ++r) {
        w[r] = DecodeWeights<T>(wrow[r] + blk * kBlockBytes, st);
        ws[r] = StepScale<T>(wb[r], st);
        if constexpr (kLaneMin) wm[r] = StepMinQ2K(wb[r], st);
      }
#pragma GCC unroll 8
      for (int mm = 0; mm < MR; ++mm) {
        const __m512i xv = _mm512_load_si512(xq[mm] + 64 * step);
        const __m512 dx = _mm512_load_ps(dv[mm] + 16 * step);
        __m512i init;
        if constexpr (kShift >= 0) {
          init = _mm512_slli_epi32(_mm512_load_si512(ns[mm] + 16 * step), kShift);
        } else {
          init = _mm512_setzero_si512();
        }
        __m512 xs;  // Q2_K: -(sum of the lane's 4 quants) * dx
        if constexpr (kLaneMin) xs = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_load_si512(ns[mm] + 16 * step)), dx);
#pragma GCC unroll 8
        for (int r = 0; r < NR; ++r) {
          const __m512i isum = _mm512_dpbusd_epi32(init, w[r], xv);
          acc[r][mm] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(ws[r], dx), acc[r][mm]);
          if constexpr (kLaneMin) acc[r][mm] = _mm512_fmadd_ps(wm[r], xs, acc[r][mm]);
        }
      }
    }
    if constexpr (kMinLanes > 0) {
      constexpr __mmask16 kMask = static_cast<__mmask16>((1u << kMinLanes) - 1);
      __m512 coef[NR];
#pragma GCC unroll 8
      for (int r = 0; r < NR; ++r) coef[r] = BlockMinCoef<T>(wb[r]);
#pragma GCC unroll 8
      for (int mm = 0; mm < MR; ++mm) {
        const __m512 s = _mm512_maskz_loadu_ps(kMask, sb[mm] + kMinLanes * blk);
#pragma GCC unroll 8
        for (int r = 0; r < NR; ++r) acc[r][mm] = _mm512_fmadd_ps(coef[r], s, acc[r][mm]);
      }
    }
  }
  for (int r = 0; r < NR; ++r)
    for (int mm = 0; mm < MR; ++mm) a.y[(m + mm) * a.ldy + n + r] = _mm512_reduce_add_ps(acc[r][mm]);
}

template <TensorType T, int NR, int MR>
HWY_INLINE void SweepQ8(const MatmulArgs& a, int64_t n0, int64_t n1, int64_t m) {
  int64_t n = n0;
  for (; n + NR <= n1; n += NR) TileQ8<T, NR, MR>(a, n, m);
  for (; n < n1; ++n) TileQ8<T, 1, MR>(a, n, m);
}

template <TensorType T>
void MatmulRowsQ8(const MatmulArgs& a, int64_t n0, int64_t n1) {
  constexpr int kMR = 4;
  int64_t m = 0;
  for (; m + kMR <= a.m; m += kMR) SweepQ8<T, 4, kMR>(a, n0, n1, m);
  // One-row (decode) tiles: rows streamed at once, measured (1 thread, 2048x2048, fraction of
  // the read bandwidth): Q4_0 4 rows 54% / 8 rows 69-77%, Q4_K 52-56% / 62-63%, Q8_0 71-76% /
  // 69-70%, Q6_K equal.
  constexpr int kNR1 = (T == TensorType::Q4_0 || T == TensorType::Q4_K) ? 8 : 4;
  for (; m < a.m; ++m) SweepQ8<T, kNR1, 1>(a, n0, n1, m);
}

GRETA_VNNI_ATTR void ActQuantizeRowVnni(const float* x, int64_t k, uint8_t* dst) {
  int8_t* xq = reinterpret_cast<int8_t*>(dst);
  float* dv = reinterpret_cast<float*>(dst + k);
  int32_t* ns = reinterpret_cast<int32_t*>(dst + 2 * k);
  float* s = reinterpret_cast<float*>(dst + 3 * k);
  const __m512 sign = _mm512_set1_ps(-0.0f);
  for (int64_t b = 0; b < k / 32; ++b) {
    const __m512 v0 = _mm512_loadu_ps(x + 32 * b), v1 = _mm512_loadu_ps(x + 32 * b + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, v0), _mm512_andnot_ps(sign, v1)));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    // Round to nearest even (the default MXCSR mode), as ggml's SIMD quantizers.
    const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, _mm512_set1_ps(id)));
    const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, _mm512_set1_ps(id)));
    const __m128i b0 = _mm512_cvtsepi32_epi8(q0), b1 = _mm512_cvtsepi32_epi8(q1);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(xq + 32 * b), b0);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(xq + 32 * b + 16), b1);
    // Per-lane sums of 4 quants, negated: vpdpbusd(0, ones, q) = sum of the 4 signed q's.
    const __m256i both = _mm256_set_m128i(b1, b0);
    const __m256i sum4 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), both);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(ns + 8 * b), _mm256_sub_epi32(_mm256_setzero_si256(), sum4));
    const int32_t sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
    const float dq = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));  // d stored as fp16, as ggml
    _mm256_storeu_ps(dv + 8 * b, _mm256_set1_ps(dq));
    s[b] = dq * static_cast<float>(sum);
  }
}
#endif  // HWY_TARGET == HWY_AVX3_DL

// ---------------------------------------------------------------------------------------------
// Entry points.

ActFormat ActFormatFor(TensorType type, int64_t k) {
#if HWY_TARGET == HWY_AVX3_DL
  if (HasVnni() && HasQ8Kernel(type) && k % Q8BlockElems(type) == 0) return ActFormat::Q8A32;
#endif
  return ActFormat::F32;
}

void ActQuantizeRow(const float* x, int64_t k, uint8_t* dst) {
#if HWY_TARGET == HWY_AVX3_DL
  ActQuantizeRowVnni(x, k, dst);
#else
  GRETA_ASSERT_MSG(false, "act_quantize_row: no Q8A32 kernels for this target");
#endif
}

void MatmulRows(const MatmulArgs& a, int64_t n0, int64_t n1) {
#if HWY_TARGET == HWY_AVX3_DL
  if (a.act == ActFormat::Q8A32) {
    switch (a.type) {
      case TensorType::Q8_0: return MatmulRowsQ8<TensorType::Q8_0>(a, n0, n1);
      case TensorType::Q4_0: return MatmulRowsQ8<TensorType::Q4_0>(a, n0, n1);
      case TensorType::Q4_1: return MatmulRowsQ8<TensorType::Q4_1>(a, n0, n1);
      case TensorType::Q5_0: return MatmulRowsQ8<TensorType::Q5_0>(a, n0, n1);
      case TensorType::Q5_1: return MatmulRowsQ8<TensorType::Q5_1>(a, n0, n1);
      case TensorType::Q2_K: return MatmulRowsQ8<TensorType::Q2_K>(a, n0, n1);
      case TensorType::Q3_K: return MatmulRowsQ8<TensorType::Q3_K>(a, n0, n1);
      case TensorType::Q4_K: return MatmulRowsQ8<TensorType::Q4_K>(a, n0, n1);
      case TensorType::Q5_K: return MatmulRowsQ8<TensorType::Q5_K>(a, n0, n1);
      case TensorType::Q6_K: return MatmulRowsQ8<TensorType::Q6_K>(a, n0, n1);
      default: break;
    }
    GRETA_ASSERT_MSG(false, "matmul: Q8A32 activations for a type without an integer kernel");
  }
#endif
  GRETA_ASSERT(a.act == ActFormat::F32);
  MatmulRowsF32(a, n0, n1);
}

const char* SimdTarget() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace greta::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace greta::cpu {

HWY_EXPORT(ActFormatFor);
HWY_EXPORT(ActQuantizeRow);
HWY_EXPORT(MatmulRows);
HWY_EXPORT(SimdTarget);

ActFormat matmul_act_format(TensorType type, int64_t k) {
  return HWY_DYNAMIC_DISPATCH(ActFormatFor)(type, k);
}
void act_quantize_row(const float* x, int64_t k, uint8_t* dst) {
  HWY_DYNAMIC_DISPATCH(ActQuantizeRow)(x, k, dst);
}
void matmul_rows(const MatmulArgs& args, int64_t n0, int64_t n1) {
  HWY_DYNAMIC_DISPATCH(MatmulRows)(args, n0, n1);
}
const char* matmul_simd_target() { return HWY_DYNAMIC_DISPATCH(SimdTarget)(); }

}  // namespace greta::cpu
#endif  // HWY_ONCE
