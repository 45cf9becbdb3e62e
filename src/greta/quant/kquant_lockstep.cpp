// The K-quant sub-block scale searches run for all sub-blocks of a super-block at once.
//
// ggml's searches (make_qkx2_quants, make_qx_quants) are chains of dependent fp32 additions,
// so one sub-block at a time they are latency-bound. Here lane j of every array is sub-block j,
// and each lane performs exactly the operations of the scalar search, in the same order, so
// the results are bit-identical (tests/quant compares them with the scalar transcription); the
// independent lanes give the CPU (and the vectoriser) parallel work.

#include <algorithm>
#include <cmath>
#include <cstring>

#include "greta/quant/quant_internal.h"

namespace greta::quant_detail {
namespace {

constexpr float kGroupMaxEps = 1e-15f;

// std::clamp written with conditional expressions: GCC -O2 if-converts these, so the lane
// loops below vectorise (std::min/std::max on references keep a branch there).
inline int clamp_level(int l, int lo, int hi) {
  l = l < lo ? lo : l;
  return l > hi ? hi : l;
}

// make_qkx2_quants over NB lanes of N elements. xt, wt: [N][NB] (transposed sub-blocks);
// Lt: [N][NB] levels out; scale_out, min_out: [NB] (min_out is ggml's the_min, >= 0).
template <int NB, int N, bool kUseMad>
void qkx2_lanes(int nmax, const float (&xt)[N][NB], const float (&wt)[N][NB], uint8_t (&Lt)[N][NB],
                float (&scale_out)[NB], float (&min_out)[NB], float rmin, float rdelta, int nstep) {
  float min[NB], max[NB], sum_w[NB], sum_x[NB];
  for (int j = 0; j < NB; ++j) {
    min[j] = xt[0][j];
    max[j] = xt[0][j];
    sum_w[j] = wt[0][j];
    sum_x[j] = sum_w[j] * xt[0][j];
  }
  for (int i = 1; i < N; ++i) {
    for (int j = 0; j < NB; ++j) {
      if (xt[i][j] < min[j]) min[j] = xt[i][j];
      if (xt[i][j] > max[j]) max[j] = xt[i][j];
      sum_w[j] += wt[i][j];
      sum_x[j] += wt[i][j] * xt[i][j];
    }
  }
  bool valid[NB];
  float range[NB], iscale[NB], scale[NB], best[NB];
  for (int j = 0; j < NB; ++j) {
    if (min[j] > 0) min[j] = 0;
    valid[j] = max[j] != min[j];
    // Degenerate lanes (all levels 0) compute with a dummy range and are discarded at the end.
    range[j] = valid[j] ? max[j] - min[j] : 1.0f;
    iscale[j] = nmax / range[j];
    scale[j] = 1 / iscale[j];
    best[j] = 0;
  }
  // Levels are kept as floats (exact small integers) so that 8-lane loops vectorise too.
  float Lf[N][NB];
  for (int i = 0; i < N; ++i) {
    for (int j = 0; j < NB; ++j) {
      const int l = nearest_int(iscale[j] * (xt[i][j] - min[j]));
      Lf[i][j] = static_cast<float>(clamp_level(l, 0, nmax));
      float diff = scale[j] * Lf[i][j] + min[j] - xt[i][j];
      diff = kUseMad ? std::fabs(diff) : diff * diff;
      best[j] += wt[i][j] * diff;
    }
  }
  for (int is = 0; is <= nstep; ++is) {
    // ggml divides by (max - min) with the min of the best candidate so far.
    const float num = rmin + rdelta * is + nmax;
    for (int j = 0; j < NB; ++j) iscale[j] = num / (valid[j] ? max[j] - min[j] : 1.0f);
    float Laux[N][NB];
    float sum_l[NB] = {}, sum_l2[NB] = {}, sum_xl[NB] = {};
    for (int i = 0; i < N; ++i) {
      for (int j = 0; j < NB; ++j) {
        int l = nearest_int(iscale[j] * (xt[i][j] - min[j]));
        l = clamp_level(l, 0, nmax);
        const float w = wt[i][j];
        const float fl = static_cast<float>(l);
        Laux[i][j] = fl;
        sum_l[j] += w * fl;
        sum_l2[j] += w * fl * fl;
        sum_xl[j] += w * fl * xt[i][j];
      }
    }
    bool ok[NB];
    float this_scale[NB], this_min[NB];
    for (int j = 0; j < NB; ++j) {
      const float D = sum_w[j] * sum_l2[j] - sum_l[j] * sum_l[j];
      ok[j] = valid[j] && D > 0;
      const float Dd = ok[j] ? D : 1.0f;
      this_scale[j] = (sum_w[j] * sum_xl[j] - sum_x[j] * sum_l[j]) / Dd;
      this_min[j] = (sum_l2[j] * sum_x[j] - sum_l[j] * sum_xl[j]) / Dd;
      if (this_min[j] > 0) {
        this_min[j] = 0;
        this_scale[j] = ok[j] ? sum_xl[j] / sum_l2[j] : 0.0f;
      }
    }
    float cur[NB] = {};
    for (int i = 0; i < N; ++i) {
      for (int j = 0; j < NB; ++j) {
        float diff = this_scale[j] * Laux[i][j] + this_min[j] - xt[i][j];
        diff = kUseMad ? std::fabs(diff) : diff * diff;
        cur[j] += wt[i][j] * diff;
      }
    }
    for (int j = 0; j < NB; ++j) {
      if (ok[j] && cur[j] < best[j]) {
        for (int i = 0; i < N; ++i) Lf[i][j] = Laux[i][j];
        best[j] = cur[j];
        scale[j] = this_scale[j];
        min[j] = this_min[j];
      }
    }
  }
  for (int j = 0; j < NB; ++j) {
    min_out[j] = -min[j];
    scale_out[j] = valid[j] ? scale[j] : 0.0f;
  }
  for (int i = 0; i < N; ++i) {
    for (int j = 0; j < NB; ++j) Lt[i][j] = valid[j] ? static_cast<uint8_t>(Lf[i][j]) : 0;
  }
}

template <int NB, int N, typename T>
void transpose_in(const T* x, T (&xt)[N][NB]) {
  for (int j = 0; j < NB; ++j) {
    for (int i = 0; i < N; ++i) xt[i][j] = x[N * j + i];
  }
}

template <int NB, int N, typename T>
void transpose_out(const T (&xt)[N][NB], T* x) {
  for (int j = 0; j < NB; ++j) {
    for (int i = 0; i < N; ++i) x[N * j + i] = xt[i][j];
  }
}

}  // namespace

void q2_k_search_lockstep(const float* x, uint8_t* L, float* scales, float* mins) {
  float xt[16][16], wt[16][16];
  uint8_t Lt[16][16];
  float sc[16], mn[16];
  transpose_in<16, 16>(x, xt);
  for (int i = 0; i < 16; ++i) {
    for (int j = 0; j < 16; ++j) wt[i][j] = std::fabs(xt[i][j]);
  }
  qkx2_lanes<16, 16, true>(3, xt, wt, Lt, sc, mn, -0.5f, 0.1f, 15);
  transpose_out<16, 16>(Lt, L);
  std::memcpy(scales, sc, sizeof sc);
  std::memcpy(mins, mn, sizeof mn);
}

void q45_k_search_lockstep(const float* x, const float* weights, int nmax, float rmin,
                           float rdelta, int nstep, uint8_t* L, float* scales, float* mins) {
  float xt[32][8], wt[32][8];
  uint8_t Lt[32][8];
  float sc[8], mn[8];
  transpose_in<8, 32>(x, xt);
  transpose_in<8, 32>(weights, wt);
  qkx2_lanes<8, 32, false>(nmax, xt, wt, Lt, sc, mn, rmin, rdelta, nstep);
  transpose_out<8, 32>(Lt, L);
  std::memcpy(scales, sc, sizeof sc);
  std::memcpy(mins, mn, sizeof mn);
}

// make_qx_quants(16, 32, ..., rmse_type 1, no importance weights) for the 16 sub-blocks of Q6_K.
void q6_k_search_lockstep(const float* x, int8_t* L, float* scales) {
  constexpr int NB = 16, N = 16, nmax = 32;
  float xt[N][NB];
  int8_t Lt[N][NB];
  transpose_in<NB, N>(x, xt);
  float max[NB] = {}, amax[NB] = {};
  for (int i = 0; i < N; ++i) {
    for (int j = 0; j < NB; ++j) {
      const float ax = std::fabs(xt[i][j]);
      if (ax > amax[j]) {
        amax[j] = ax;
        max[j] = xt[i][j];
      }
    }
  }
  bool valid[NB];
  float div[NB], iscale[NB], sumlx[NB] = {}, suml2[NB] = {}, scale[NB], best[NB];
  for (int j = 0; j < NB; ++j) {
    valid[j] = !(amax[j] < kGroupMaxEps);
    div[j] = valid[j] ? max[j] : 1.0f;
    iscale[j] = -nmax / div[j];
  }
  for (int i = 0; i < N; ++i) {
    for (int j = 0; j < NB; ++j) {
      int l = nearest_int(iscale[j] * xt[i][j]);
      l = clamp_level(l, -nmax, nmax - 1);
      Lt[i][j] = static_cast<int8_t>(l + nmax);
      const float w = xt[i][j] * xt[i][j];
      const float fl = static_cast<float>(l);
      sumlx[j] += w * xt[i][j] * fl;
      suml2[j] += w * fl * fl;
    }
  }
  for (int j = 0; j < NB; ++j) {
    scale[j] = suml2[j] != 0.0f ? sumlx[j] / suml2[j] : 0.0f;
    best[j] = scale[j] * sumlx[j];
  }
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    const float num = -(nmax + 0.1f * is);
    float slx[NB] = {}, sl2[NB] = {};
    for (int j = 0; j < NB; ++j) iscale[j] = num / div[j];
    for (int i = 0; i < N; ++i) {
      for (int j = 0; j < NB; ++j) {
        int l = nearest_int(iscale[j] * xt[i][j]);
        l = clamp_level(l, -nmax, nmax - 1);
        const float w = xt[i][j] * xt[i][j];
        const float fl = static_cast<float>(l);
        slx[j] += w * xt[i][j] * fl;
        sl2[j] += w * fl * fl;
      }
    }
    for (int j = 0; j < NB; ++j) {
      if (valid[j] && sl2[j] > 0 && slx[j] * slx[j] > best[j] * sl2[j]) {
        for (int i = 0; i < N; ++i) {
          const int l = nearest_int(iscale[j] * xt[i][j]);
          Lt[i][j] = static_cast<int8_t>(nmax + clamp_level(l, -nmax, nmax - 1));
        }
        scale[j] = slx[j] / sl2[j];
        best[j] = scale[j] * slx[j];
      }
    }
  }
  for (int j = 0; j < NB; ++j) {
    if (!valid[j]) {
      scale[j] = 0.0f;
      for (int i = 0; i < N; ++i) Lt[i][j] = 0;
    }
    scales[j] = scale[j];
  }
  transpose_out<NB, N>(Lt, L);
}

}  // namespace greta::quant_detail
