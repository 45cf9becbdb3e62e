// Highway implementations of the ops-layer vector primitives (simd.h), compiled once per target;
// the best target for the CPU is chosen at the first call.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "greta/ops/simd.cpp"
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"

#include "greta/quant/quant.h"

HWY_BEFORE_NAMESPACE();
namespace greta::ops::simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Two accumulators over full vectors, a fixed lane reduction, then a scalar tail: the order
// depends only on n (and the target).
float DotImpl(const float* a, const float* b, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  auto acc0 = hn::Zero(d);
  auto acc1 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    acc0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), acc0);
    acc1 = hn::MulAdd(hn::LoadU(d, a + i + N), hn::LoadU(d, b + i + N), acc1);
  }
  for (; i + N <= n; i += N) acc0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), acc0);
  float sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(acc0, acc1)));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

float SumSquaresImpl(const float* x, int64_t n) { return DotImpl(x, x, n); }

void ScaleMulImpl(const float* x, float s, const float* w, float* y, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto vs = hn::Set(d, s);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::Mul(hn::Mul(hn::LoadU(d, x + i), vs), hn::LoadU(d, w + i)), d, y + i);
  }
  for (; i < n; ++i) y[i] = (x[i] * s) * w[i];
}

void SwigluImpl(const float* g, const float* u, float* y, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto one = hn::Set(d, 1.0f);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto vg = hn::LoadU(d, g + i);
    const auto silu = hn::Div(vg, hn::Add(one, hn::Exp(d, hn::Neg(vg))));
    hn::StoreU(hn::Mul(silu, hn::LoadU(d, u + i)), d, y + i);
  }
  if (i < n) {
    // The tail goes through the same vector code on a padded copy, so every element of a row
    // sees the same arithmetic whatever its index.
    HWY_ALIGN float tg[hn::MaxLanes(d)] = {};
    HWY_ALIGN float tu[hn::MaxLanes(d)] = {};
    const int64_t r = n - i;
    for (int64_t j = 0; j < r; ++j) { tg[j] = g[i + j]; tu[j] = u[i + j]; }
    const auto vg = hn::Load(d, tg);
    const auto silu = hn::Div(vg, hn::Add(one, hn::Exp(d, hn::Neg(vg))));
    hn::Store(hn::Mul(silu, hn::Load(d, tu)), d, tg);
    for (int64_t j = 0; j < r; ++j) y[i + j] = tg[j];
  }
}

void SoftmaxImpl(float* x, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  const auto vmax = hn::Set(d, mx);
  auto vsum = hn::Zero(d);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vmax));
    hn::StoreU(e, d, x + i);
    vsum = hn::Add(vsum, e);
  }
  float sum = hn::GetLane(hn::SumOfLanes(d, vsum));
  if (i < n) {
    HWY_ALIGN float t[hn::MaxLanes(d)];
    const int64_t r = n - i;
    for (int64_t j = 0; j < static_cast<int64_t>(hn::MaxLanes(d)); ++j) t[j] = j < r ? x[i + j] : mx;
    hn::Store(hn::Exp(d, hn::Sub(hn::Load(d, t), vmax)), d, t);
    for (int64_t j = 0; j < r; ++j) { x[i + j] = t[j]; sum += t[j]; }
  }
  const auto vinv = hn::Set(d, 1.0f / sum);
  i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, x + i), vinv), d, x + i);
  const float inv = 1.0f / sum;
  for (; i < n; ++i) x[i] *= inv;
}

template <class D>
void AttnAccumulateWidth(D d, float* acc, float alpha, const float* p, const float* v, int64_t ld, int nt,
                         int64_t n) {
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto va = hn::Set(d, alpha);
  for (int64_t i = 0; i < n; i += N) {
    auto a = hn::Mul(hn::LoadU(d, acc + i), va);
    for (int j = 0; j < nt; ++j) a = hn::MulAdd(hn::Set(d, p[j]), hn::LoadU(d, v + j * ld + i), a);
    hn::StoreU(a, d, acc + i);
  }
}

void AttnAccumulateImpl(float* acc, float alpha, const float* p, const float* v, int64_t ld, int nt,
                        int64_t n) {
  // The widest vector that divides n; each lane runs the same fused chain, so the choice of
  // width never changes a bit.
  const hn::ScalableTag<float> d;
  const hn::CappedTag<float, 8> d8;
  const hn::CappedTag<float, 4> d4;
  if (n % static_cast<int64_t>(hn::Lanes(d)) == 0) return AttnAccumulateWidth(d, acc, alpha, p, v, ld, nt, n);
  if (n % static_cast<int64_t>(hn::Lanes(d8)) == 0) return AttnAccumulateWidth(d8, acc, alpha, p, v, ld, nt, n);
  if (n % static_cast<int64_t>(hn::Lanes(d4)) == 0) return AttnAccumulateWidth(d4, acc, alpha, p, v, ld, nt, n);
  for (int64_t i = 0; i < n; ++i) {
    float a = acc[i] * alpha;
    for (int j = 0; j < nt; ++j) a = std::fma(p[j], v[j * ld + i], a);
    acc[i] = a;
  }
}

template <class D>
void TileScoresWidth(D d, const float* q, const float* kt, int64_t hd, int tile, float scale, float* s) {
  const int N = static_cast<int>(hn::Lanes(d));
  const auto vs = hn::Set(d, scale);
  for (int j = 0; j < tile; j += N) {
    auto a = hn::Zero(d);
    for (int64_t k = 0; k < hd; ++k) a = hn::MulAdd(hn::Set(d, q[k]), hn::LoadU(d, kt + k * tile + j), a);
    hn::StoreU(hn::Mul(a, vs), d, s + j);
  }
}

void AttnTileScoresImpl(const float* q, const float* kt, int64_t hd, int tile, float scale, float* s) {
  const hn::ScalableTag<float> d;
  const hn::CappedTag<float, 4> d4;
  if (tile % static_cast<int>(hn::Lanes(d)) == 0) return TileScoresWidth(d, q, kt, hd, tile, scale, s);
  return TileScoresWidth(d4, q, kt, hd, tile, scale, s);
}

void ExpShiftedImpl(float* s, float m, int n) {
  const hn::ScalableTag<float> d;
  const int N = static_cast<int>(hn::Lanes(d));
  const auto vm = hn::Set(d, m);
  for (int i = 0; i < n; i += N) hn::StoreU(hn::Exp(d, hn::Sub(hn::LoadU(d, s + i), vm)), d, s + i);
}

// Several heads are processed together so that 8 independent multiply-add chains are in flight;
// the trip counts are compile-time constants so that the accumulators stay in registers. Each
// lane still runs exactly the chain of the one-head kernels above.
template <class D, int VPH, int HB>
HWY_INLINE void GroupScoresBlock(D d, const float* q, int64_t hd, const float* kt, int tile, float scale, float* s) {
  const int N = static_cast<int>(hn::Lanes(d));
  using V = decltype(hn::Zero(d));
  V acc[HB * VPH];
  #pragma GCC unroll 16
  for (int c = 0; c < HB * VPH; ++c) acc[c] = hn::Zero(d);
  for (int64_t k = 0; k < hd; ++k) {
    const float* krow = kt + k * tile;
    #pragma GCC unroll 16
    for (int b = 0; b < HB; ++b) {
      const auto qk = hn::Set(d, q[b * hd + k]);
      #pragma GCC unroll 16
      for (int c = 0; c < VPH; ++c) acc[b * VPH + c] = hn::MulAdd(qk, hn::LoadU(d, krow + c * N), acc[b * VPH + c]);
    }
  }
  const auto vs = hn::Set(d, scale);
  #pragma GCC unroll 16
  for (int b = 0; b < HB; ++b) {
    #pragma GCC unroll 16
    for (int c = 0; c < VPH; ++c) hn::StoreU(hn::Mul(acc[b * VPH + c], vs), d, s + b * tile + c * N);
  }
}

template <class D, int VPH>
HWY_INLINE void GroupScores(D d, const float* q, int n_group, const float* kt, int64_t hd, int tile, float scale,
                            float* s) {
  constexpr int HB = VPH >= 8 ? 1 : 8 / VPH;
  int g = 0;
  for (; g + HB <= n_group; g += HB) GroupScoresBlock<D, VPH, HB>(d, q + g * hd, hd, kt, tile, scale, s + g * tile);
  for (; g < n_group; ++g) GroupScoresBlock<D, VPH, 1>(d, q + g * hd, hd, kt, tile, scale, s + g * tile);
}

void AttnGroupScoresImpl(const float* q, int n_group, const float* kt, int64_t hd, int tile, float scale,
                         float* s) {
  const hn::ScalableTag<float> d;
  const int N = static_cast<int>(hn::Lanes(d));
  if (tile % N == 0) {
    switch (tile / N) {
      case 1: return GroupScores<decltype(d), 1>(d, q, n_group, kt, hd, tile, scale, s);
      case 2: return GroupScores<decltype(d), 2>(d, q, n_group, kt, hd, tile, scale, s);
      case 4: return GroupScores<decltype(d), 4>(d, q, n_group, kt, hd, tile, scale, s);
      case 8: return GroupScores<decltype(d), 8>(d, q, n_group, kt, hd, tile, scale, s);
      default: break;
    }
  }
  for (int g = 0; g < n_group; ++g) AttnTileScoresImpl(q + g * hd, kt, hd, tile, scale, s + g * tile);
}

template <class D, int VPH, int HB>
HWY_INLINE void GroupAccBlock(D d, float* st, int64_t st_stride, const float* alpha, const float* p, int64_t p_stride,
                              const float* v, int64_t ld, int nt) {
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  using V = decltype(hn::Zero(d));
  V acc[HB * VPH];
  #pragma GCC unroll 16
  for (int b = 0; b < HB; ++b) {
    const auto va = hn::Set(d, alpha[b]);
    #pragma GCC unroll 16
    for (int c = 0; c < VPH; ++c) acc[b * VPH + c] = hn::Mul(hn::LoadU(d, st + b * st_stride + c * N), va);
  }
  for (int j = 0; j < nt; ++j) {
    const float* vrow = v + j * ld;
    #pragma GCC unroll 16
    for (int b = 0; b < HB; ++b) {
      const auto pj = hn::Set(d, p[b * p_stride + j]);
      #pragma GCC unroll 16
      for (int c = 0; c < VPH; ++c) acc[b * VPH + c] = hn::MulAdd(pj, hn::LoadU(d, vrow + c * N), acc[b * VPH + c]);
    }
  }
  #pragma GCC unroll 16
  for (int b = 0; b < HB; ++b) {
    #pragma GCC unroll 16
    for (int c = 0; c < VPH; ++c) hn::StoreU(acc[b * VPH + c], d, st + b * st_stride + c * N);
  }
}

template <class D, int VPH>
HWY_INLINE void GroupAcc(D d, float* st, int64_t st_stride, const float* alpha, const float* p, int64_t p_stride,
                         const float* v, int64_t ld, int nt, int n_group) {
  constexpr int HB = VPH >= 8 ? 1 : 8 / VPH;
  int g = 0;
  for (; g + HB <= n_group; g += HB) {
    GroupAccBlock<D, VPH, HB>(d, st + g * st_stride, st_stride, alpha + g, p + g * p_stride, p_stride, v, ld, nt);
  }
  for (; g < n_group; ++g) {
    GroupAccBlock<D, VPH, 1>(d, st + g * st_stride, st_stride, alpha + g, p + g * p_stride, p_stride, v, ld, nt);
  }
}

void AttnGroupAccumulateImpl(float* st, int64_t st_stride, const float* alpha, const float* p, int64_t p_stride,
                             const float* v, int64_t ld, int nt, int64_t n, int n_group) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  if (n % N == 0) {
    switch (n / N) {
      case 1: return GroupAcc<decltype(d), 1>(d, st, st_stride, alpha, p, p_stride, v, ld, nt, n_group);
      case 2: return GroupAcc<decltype(d), 2>(d, st, st_stride, alpha, p, p_stride, v, ld, nt, n_group);
      case 4: return GroupAcc<decltype(d), 4>(d, st, st_stride, alpha, p, p_stride, v, ld, nt, n_group);
      case 8: return GroupAcc<decltype(d), 8>(d, st, st_stride, alpha, p, p_stride, v, ld, nt, n_group);
      default: break;
    }
  }
  for (int g = 0; g < n_group; ++g) AttnAccumulateImpl(st + g * st_stride, alpha[g], p + g * p_stride, v, ld, nt, n);
}

void Lerp2Impl(const float* a, float ea, const float* b, float eb, float* dst, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto va = hn::Set(d, ea);
  const auto vb = hn::Set(d, eb);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::Add(hn::Mul(hn::LoadU(d, a + i), va), hn::Mul(hn::LoadU(d, b + i), vb)), d, dst + i);
  }
  for (; i < n; ++i) dst[i] = a[i] * ea + b[i] * eb;
}

void F16ToF32Impl(const uint16_t* src, float* dst, int64_t n) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<hwy::float16_t, decltype(df)> dh;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(src + i))), df, dst + i);
  }
  for (; i < n; ++i) dst[i] = greta::fp16_to_fp32(src[i]);
}

void Bf16ToF32Impl(const uint16_t* src, float* dst, int64_t n) {
  const hn::ScalableTag<float> df;
  const hn::RebindToUnsigned<decltype(df)> du32;
  const hn::Rebind<uint16_t, decltype(df)> du16;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto w = hn::ShiftLeft<16>(hn::PromoteTo(du32, hn::LoadU(du16, src + i)));
    hn::StoreU(hn::BitCast(df, w), df, dst + i);
  }
  for (; i < n; ++i) {
    const uint32_t bits = static_cast<uint32_t>(src[i]) << 16;
    float f;
    __builtin_memcpy(&f, &bits, sizeof f);
    dst[i] = f;
  }
}

const char* TargetNameImpl() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace greta::ops::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace greta::ops::simd {

HWY_EXPORT(DotImpl);
HWY_EXPORT(SumSquaresImpl);
HWY_EXPORT(ScaleMulImpl);
HWY_EXPORT(SwigluImpl);
HWY_EXPORT(SoftmaxImpl);
HWY_EXPORT(AttnAccumulateImpl);
HWY_EXPORT(AttnTileScoresImpl);
HWY_EXPORT(ExpShiftedImpl);
HWY_EXPORT(AttnGroupScoresImpl);
HWY_EXPORT(AttnGroupAccumulateImpl);
HWY_EXPORT(Lerp2Impl);
HWY_EXPORT(F16ToF32Impl);
HWY_EXPORT(Bf16ToF32Impl);
HWY_EXPORT(TargetNameImpl);

float dot(const float* a, const float* b, int64_t n) { return HWY_DYNAMIC_DISPATCH(DotImpl)(a, b, n); }
float sum_squares(const float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(SumSquaresImpl)(x, n); }
void scale_mul(const float* x, float s, const float* w, float* y, int64_t n) {
  HWY_DYNAMIC_DISPATCH(ScaleMulImpl)(x, s, w, y, n);
}
void swiglu(const float* g, const float* u, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(SwigluImpl)(g, u, y, n); }
void softmax(float* x, int64_t n) { HWY_DYNAMIC_DISPATCH(SoftmaxImpl)(x, n); }
void attn_accumulate(float* acc, float alpha, const float* p, const float* v, int64_t ld, int nt, int64_t n) {
  HWY_DYNAMIC_DISPATCH(AttnAccumulateImpl)(acc, alpha, p, v, ld, nt, n);
}
void attn_tile_scores(const float* q, const float* kt, int64_t head_dim, int tile, float scale, float* s) {
  HWY_DYNAMIC_DISPATCH(AttnTileScoresImpl)(q, kt, head_dim, tile, scale, s);
}
void exp_shifted(float* s, float m, int n) { HWY_DYNAMIC_DISPATCH(ExpShiftedImpl)(s, m, n); }
void attn_group_scores(const float* q, int n_group, const float* kt, int64_t head_dim, int tile, float scale,
                       float* s) {
  HWY_DYNAMIC_DISPATCH(AttnGroupScoresImpl)(q, n_group, kt, head_dim, tile, scale, s);
}
void attn_group_accumulate(float* st, int64_t st_stride, const float* alpha, const float* p, int64_t p_stride,
                           const float* v, int64_t ld, int nt, int64_t n, int n_group) {
  HWY_DYNAMIC_DISPATCH(AttnGroupAccumulateImpl)(st, st_stride, alpha, p, p_stride, v, ld, nt, n, n_group);
}
void lerp2(const float* a, float ea, const float* b, float eb, float* dst, int64_t n) {
  HWY_DYNAMIC_DISPATCH(Lerp2Impl)(a, ea, b, eb, dst, n);
}
void f16_to_f32(const uint16_t* src, float* dst, int64_t n) { HWY_DYNAMIC_DISPATCH(F16ToF32Impl)(src, dst, n); }
void bf16_to_f32(const uint16_t* src, float* dst, int64_t n) { HWY_DYNAMIC_DISPATCH(Bf16ToF32Impl)(src, dst, n); }
const char* target_name() { return HWY_DYNAMIC_DISPATCH(TargetNameImpl)(); }

}  // namespace greta::ops::simd
#endif  // HWY_ONCE
