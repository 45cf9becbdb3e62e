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
#include "hwy/highway.h"

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

template <int NR, int MR>
HWY_INLINE VF LoadWeightF(TensorType type, const uint8_t* row, int64_t k) {
  const DF df;
  if (type == TensorType::F32) return hn::LoadU(df, reinterpret_cast<const float*>(row) + k);
  if (type == TensorType::F16) {
    const hn::Rebind<hwy::float16_t, DF> dh;
    return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(row) + k));
  }
  const hn::Rebind<hwy::bfloat16_t, DF> db;
  return hn::PromoteTo(df, hn::LoadU(db, reinterpret_cast<const hwy::bfloat16_t*>(row) + k));
}

template <int NR, int MR>
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

  const TensorType type = a.type;
  if (type == TensorType::F32 || type == TensorType::F16 || type == TensorType::BF16) {
    int64_t k = 0;
    for (; k + L <= K; k += L) {
      VF w[NR];
#pragma GCC unroll 8
      for (int r = 0; r < NR; ++r) w[r] = LoadWeightF<NR, MR>(type, wrow[r], k);
      AccumulateStep<NR, MR>(w, xrow, k, acc);
    }
    if (k < K) {
      // Tail: the remaining elements, zero-padded to one vector (identical for every tile shape).
      const int64_t rem = K - k;
      HWY_ALIGN float wpad[NR][kMaxLanes];
      HWY_ALIGN float xpad[MR][kMaxLanes];
      const float* xp[MR];
      VF w[NR];
      for (int r = 0; r < NR; ++r) {
        std::memset(wpad[r], 0, sizeof(wpad[r]));
        const int64_t esize = type == TensorType::F32 ? 4 : 2;
        HWY_ALIGN uint8_t raw[kMaxLanes * 4] = {};
        std::memcpy(raw, wrow[r] + k * esize, static_cast<size_t>(rem * esize));
        w[r] = LoadWeightF<NR, MR>(type, raw, 0);
      }
      for (int mm = 0; mm < MR; ++mm) {
        std::memset(xpad[mm], 0, sizeof(xpad[mm]));
        std::memcpy(xpad[mm], xrow[mm] + k, static_cast<size_t>(rem) * sizeof(float));
        xp[mm] = xpad[mm];
      }
      (void)wpad;
      AccumulateStep<NR, MR>(w, xp, 0, acc);
    }
  } else {
    // Any other storage type: dequantize one block per weight row (the reference dequantizer)
    // and accumulate it like f32 weights. Used where no integer kernel exists.
    const auto& info = tensor_type_info(type);
    const int64_t bs = info.block_size;
    GRETA_ASSERT(bs <= 256 && bs % L == 0);
    HWY_ALIGN float buf[NR][256];
    for (int64_t b = 0; b < K / bs; ++b) {
      for (int r = 0; r < NR; ++r) dequantize_row(type, wrow[r] + b * info.type_size, buf[r], bs);
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

template <int NR, int MR>
HWY_INLINE void SweepF32(const MatmulArgs& a, int64_t n0, int64_t n1, int64_t m) {
  int64_t n = n0;
  for (; n + NR <= n1; n += NR) TileF32<NR, MR>(a, n, m);
  for (; n < n1; ++n) TileF32<1, MR>(a, n, m);
}

void MatmulRowsF32(const MatmulArgs& a, int64_t n0, int64_t n1) {
  constexpr int kMR = 4;
  int64_t m = 0;
  for (; m + kMR <= a.m; m += kMR) SweepF32<4, kMR>(a, n0, n1, m);
  for (; m < a.m; ++m) SweepF32<4, 1>(a, n0, n1, m);
}

// ---------------------------------------------------------------------------------------------
// Entry points.

ActFormat ActFormatFor(TensorType type, int64_t k) { return ActFormat::F32; }

void ActQuantizeRow(const float* x, int64_t k, uint8_t* dst) {
  GRETA_ASSERT_MSG(false, "act_quantize_row: no Q8A32 kernels for this target");
}

void MatmulRows(const MatmulArgs& a, int64_t n0, int64_t n1) {
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
