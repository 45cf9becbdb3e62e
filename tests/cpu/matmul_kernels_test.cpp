// The Q8A32 integer kernels (matmul_kernels.cpp), bit for bit against a scalar model of the same
// computation: weights decoded to unsigned integers u = w + c with per-lane scales, the exact
// int32 dot of each 4-element lane, one f32 fma per lane and 64-element step, the minimum terms,
// and the final tree sum of the 16 lanes (docs/ARCHITECTURE.md, "CPU kernels"). The model is
// written from the block layouts (greta/quant/blocks.h), not from the SIMD code. Run for every
// type with an integer kernel, on random-bit blocks (every bit pattern of quants, scales, mins
// and high bits) and on quantized normal data, for several M and thread counts: equality with
// the M- and thread-independent model is also the row/thread invariance of each kernel.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "greta/cpu/matmul.h"
#include "greta/cpu/matmul_kernels.h"
#include "greta/quant/blocks.h"
#include "greta/quant/quant.h"

namespace greta::cpu {
namespace {

const TensorType kQ8Types[] = {TensorType::Q8_0, TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0,
                               TensorType::Q5_1, TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K,
                               TensorType::Q5_K, TensorType::Q6_K};

bool is_k_quant(TensorType t) { return tensor_type_info(t).block_size == 256; }

// One decoder block of the kernels (64 elements = two 32-blocks, or one 256-element super-block)
// as the scalar model sees it.
struct ModelBlock {
  int steps = 1;
  int c = 0;                    // weight offset: w = u - c
  int u[4][64] = {};            // unsigned weights per step, element order
  float ws[4][16] = {};         // per-lane weight scale per step
  bool lane_min = false;        // Q2_K: dmin * min per lane and step
  float wm[4][16] = {};
  int min_lanes = 0;            // minimum per 32-block: coefficients for lanes 0..min_lanes-1
  float coef[16] = {};
};

uint16_t rd16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
float h2f(const uint8_t* p) { return fp16_to_fp32(rd16(p)); }

int64_t model_block_bytes(TensorType t) {
  return is_k_quant(t) ? tensor_type_info(t).type_size : 2 * tensor_type_info(t).type_size;
}

// Q3_K sub-block j's 6-bit scale, offset by 32 (the packing of ggml's quantize_row_q3_K).
int q3k_scale(const uint8_t* s, int j) {
  const int low = j < 8 ? (s[j] & 0xF) : (s[j - 8] >> 4);
  const int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
  return (low | (high << 4)) - 32;
}

ModelBlock decode_model(TensorType t, const uint8_t* blk) {
  ModelBlock mb;
  if (!is_k_quant(t)) {
    // Two 32-element blocks: element e of the step is element e % 32 of block e / 32.
    const int64_t bsz = tensor_type_info(t).type_size;
    mb.steps = 1;
    for (int b = 0; b < 2; ++b) {
      const uint8_t* p = blk + b * bsz;
      const float d = h2f(p);
      for (int i = 0; i < 8; ++i) mb.ws[0][8 * b + i] = d;
      for (int l = 0; l < 32; ++l) {
        int u = 0;
        switch (t) {
          case TensorType::Q8_0: u = static_cast<int8_t>(p[2 + l]) + 128; break;
          case TensorType::Q4_0: u = l < 16 ? (p[2 + l] & 0xF) : (p[2 + l - 16] >> 4); break;
          case TensorType::Q4_1: u = l < 16 ? (p[4 + l] & 0xF) : (p[4 + l - 16] >> 4); break;
          case TensorType::Q5_0:
          case TensorType::Q5_1: {
            const int qh_off = t == TensorType::Q5_0 ? 2 : 4;
            uint32_t qh;
            std::memcpy(&qh, p + qh_off, 4);
            const uint8_t* qs = p + qh_off + 4;
            u = (l < 16 ? (qs[l] & 0xF) : (qs[l - 16] >> 4)) | static_cast<int>(((qh >> l) & 1) << 4);
            break;
          }
          default: ADD_FAILURE();
        }
        mb.u[0][32 * b + l] = u;
      }
      if (t == TensorType::Q4_1 || t == TensorType::Q5_1) mb.coef[b] = h2f(p + 2);
    }
    mb.c = t == TensorType::Q8_0 ? 128 : t == TensorType::Q4_0 ? 8 : t == TensorType::Q5_0 ? 16 : 0;
    mb.min_lanes = (t == TensorType::Q4_1 || t == TensorType::Q5_1) ? 2 : 0;
    return mb;
  }
  mb.steps = 4;
  // Element e of the super-block: step e / 64, lane (e % 64) / 4.
  auto set_u = [&](int e, int u) { mb.u[e / 64][e % 64] = u; };
  auto set_sub16 = [&](float (&dst)[4][16], int sub, float v) {  // sub-block of 16 = 4 lanes
    for (int i = 0; i < 4; ++i) dst[sub / 4][4 * (sub % 4) + i] = v;
  };
  auto set_sub32 = [&](int sub, float v) {  // sub-block of 32 = 8 lanes
    for (int i = 0; i < 8; ++i) mb.ws[sub / 2][8 * (sub % 2) + i] = v;
  };
  switch (t) {
    case TensorType::Q2_K: {
      const auto* b = reinterpret_cast<const BlockQ2_K*>(blk);
      const float d = fp16_to_fp32(b->d), dmin = fp16_to_fp32(b->dmin);
      for (int e = 0; e < 256; ++e) {
        const int h = e / 128, j = (e % 128) / 32, l = e % 32;
        set_u(e, (b->qs[32 * h + l] >> (2 * j)) & 3);
      }
      for (int sub = 0; sub < 16; ++sub) {
        set_sub16(mb.ws, sub, d * static_cast<float>(b->scales[sub] & 0xF));
        set_sub16(mb.wm, sub, dmin * static_cast<float>(b->scales[sub] >> 4));
      }
      mb.lane_min = true;
      break;
    }
    case TensorType::Q3_K: {
      const auto* b = reinterpret_cast<const BlockQ3_K*>(blk);
      const float d = fp16_to_fp32(b->d);
      for (int e = 0; e < 256; ++e) {
        const int h = e / 128, j = (e % 128) / 32, l = e % 32;
        const int q = (b->qs[32 * h + l] >> (2 * j)) & 3;
        const int hb = (b->hmask[l] >> (4 * h + j)) & 1;
        set_u(e, q - (hb ? 0 : 4) + 4);
      }
      for (int sub = 0; sub < 16; ++sub) set_sub16(mb.ws, sub, d * static_cast<float>(q3k_scale(b->scales, sub)));
      mb.c = 4;
      break;
    }
    case TensorType::Q4_K:
    case TensorType::Q5_K: {
      const bool five = t == TensorType::Q5_K;
      const uint8_t* qs = five ? reinterpret_cast<const BlockQ5_K*>(blk)->qs : reinterpret_cast<const BlockQ4_K*>(blk)->qs;
      const float d = h2f(blk), dmin = h2f(blk + 2);
      for (int e = 0; e < 256; ++e) {
        const int st = e / 64, l = e % 32, hi = (e % 64) / 32;
        int u = hi ? (qs[32 * st + l] >> 4) : (qs[32 * st + l] & 0xF);
        if (five) u |= ((reinterpret_cast<const BlockQ5_K*>(blk)->qh[l] >> (2 * st + hi)) & 1) << 4;
        set_u(e, u);
      }
      for (int sub = 0; sub < 8; ++sub) {
        uint8_t sc, m;
        get_scale_min_k4(sub, blk + 4, &sc, &m);
        set_sub32(sub, d * static_cast<float>(sc));
        mb.coef[sub] = -dmin * static_cast<float>(m);
      }
      mb.min_lanes = 8;
      break;
    }
    case TensorType::Q6_K: {
      const auto* b = reinterpret_cast<const BlockQ6_K*>(blk);
      const float d = fp16_to_fp32(b->d);
      for (int e = 0; e < 256; ++e) {
        const int half = e / 128, quarter = (e % 128) / 32, l = e % 32;
        const uint8_t ql = b->ql[64 * half + l + 32 * (quarter & 1)];
        const int low = quarter < 2 ? (ql & 0xF) : (ql >> 4);
        const int high = (b->qh[32 * half + l] >> (2 * quarter)) & 3;
        set_u(e, low | (high << 4));
      }
      for (int sub = 0; sub < 16; ++sub) set_sub16(mb.ws, sub, d * static_cast<float>(b->scales[sub]));
      mb.c = 32;
      break;
    }
    default: ADD_FAILURE();
  }
  return mb;
}

// _mm512_reduce_add_ps: halves added pairwise (8, 4, 2, 1).
float tree_sum16(const float (&a)[16]) {
  float t8[8], t4[4], t2[2];
  for (int i = 0; i < 8; ++i) t8[i] = a[i] + a[i + 8];
  for (int i = 0; i < 4; ++i) t4[i] = t8[i] + t8[i + 4];
  for (int i = 0; i < 2; ++i) t2[i] = t4[i] + t4[i + 2];
  return t2[0] + t2[1];
}

// The scalar model of y[m, n] for one weight row and one Q8A32 activation row.
float model_dot(TensorType t, const uint8_t* wrow, int64_t k, const uint8_t* act) {
  const auto* xq = reinterpret_cast<const int8_t*>(act);
  const auto* dv = reinterpret_cast<const float*>(act + k);
  const auto* ns = reinterpret_cast<const int32_t*>(act + 2 * k);
  const auto* sb = reinterpret_cast<const float*>(act + 3 * k);
  const int64_t elems = is_k_quant(t) ? 256 : 64;
  const int64_t bb = model_block_bytes(t);
  float acc[16] = {};
  for (int64_t blk = 0; blk < k / elems; ++blk) {
    const ModelBlock mb = decode_model(t, wrow + blk * bb);
    for (int st = 0; st < mb.steps; ++st) {
      const int64_t step = blk * mb.steps + st;
      for (int i = 0; i < 16; ++i) {
        int32_t isum = mb.c * ns[16 * step + i];
        for (int e = 4 * i; e < 4 * i + 4; ++e) isum += mb.u[st][e] * xq[64 * step + e];
        const float scale = mb.ws[st][i] * dv[16 * step + i];
        acc[i] = std::fma(static_cast<float>(isum), scale, acc[i]);
        if (mb.lane_min) {
          const float xs = static_cast<float>(ns[16 * step + i]) * dv[16 * step + i];
          acc[i] = std::fma(mb.wm[st][i], xs, acc[i]);
        }
      }
    }
    if (mb.min_lanes > 0) {
      for (int i = 0; i < 16; ++i) {
        const float s = i < mb.min_lanes ? sb[mb.min_lanes * blk + i] : 0.0f;
        acc[i] = std::fma(mb.coef[i], s, acc[i]);
      }
    }
  }
  return tree_sum16(acc);
}

// Weights: random bits everywhere (every pattern of quants, scales, mins, high bits), with the
// fp16 scale fields set to finite values of either sign.
std::vector<uint8_t> random_bit_weights(TensorType t, int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t rb = tensor_row_bytes(t, k);
  std::vector<uint8_t> w(static_cast<size_t>(n * rb));
  for (auto& b : w) b = static_cast<uint8_t>(rng());
  std::vector<int> f16_fields;  // offsets of fp16 fields within a storage block
  switch (t) {
    case TensorType::Q8_0: case TensorType::Q4_0: case TensorType::Q5_0: case TensorType::Q3_K:
    case TensorType::Q6_K:
      f16_fields = {t == TensorType::Q3_K ? 108 : t == TensorType::Q6_K ? 208 : 0};
      break;
    case TensorType::Q2_K: f16_fields = {80, 82}; break;
    default: f16_fields = {0, 2}; break;  // Q4_1, Q5_1, Q4_K, Q5_K
  }
  std::uniform_real_distribution<float> mag(0.001f, 0.05f);
  const int64_t ts = tensor_type_info(t).type_size;
  for (int64_t off = 0; off < n * rb; off += ts)
    for (int f : f16_fields) {
      const float v = (rng() & 1 ? -1.0f : 1.0f) * mag(rng);
      const uint16_t h = fp32_to_fp16(v);
      std::memcpy(w.data() + off + f, &h, 2);
    }
  return w;
}

std::vector<uint8_t> quantized_weights(TensorType t, int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t rb = tensor_row_bytes(t, k);
  std::vector<uint8_t> w(static_cast<size_t>(n * rb));
  std::vector<float> row(static_cast<size_t>(k));
  for (int64_t r = 0; r < n; ++r) {
    for (auto& v : row) v = nd(rng) * 0.02f * (1.0f + static_cast<float>(r % 5));
    quantize_row(t, row.data(), w.data() + r * rb, k);
  }
  return w;
}

std::vector<float> make_x(int64_t m, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(m * k));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < k; ++j) x[i * k + j] = nd(rng) * (j % 61 == 7 ? 10.0f : 1.0f) * (1.0f + float(i % 4));
  // One all-zero block (d = 0) in row 0.
  for (int64_t j = 32; j < 64 && j < k; ++j) x[j] = 0.0f;
  return x;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

class Q8Kernels : public ::testing::TestWithParam<TensorType> {};

void check_against_model(TensorType t, const std::vector<uint8_t>& w, int64_t n, int64_t k, const char* what) {
  const int64_t max_m = 9;
  const std::vector<float> x = make_x(max_m, k, 17);
  const int64_t arb = act_row_bytes(k);
  std::vector<uint8_t> act_storage(static_cast<size_t>(arb * max_m + 64));
  uint8_t* act = act_storage.data() + (64 - reinterpret_cast<uintptr_t>(act_storage.data()) % 64) % 64;
  for (int64_t i = 0; i < max_m; ++i) act_quantize_row(x.data() + i * k, k, act + i * arb);
  const int64_t rb = tensor_row_bytes(t, k);
  std::vector<float> model(static_cast<size_t>(max_m * n));
  for (int64_t i = 0; i < max_m; ++i)
    for (int64_t j = 0; j < n; ++j) model[i * n + j] = model_dot(t, w.data() + j * rb, k, act + i * arb);
  const WeightMatrix wm{t, n, k, rb, w.data()};
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    MatmulScratch scratch;
    for (int64_t m : {1, 2, 3, 4, 5, 8, 9}) {
      for (int64_t off : {int64_t{0}, max_m - m}) {
        std::vector<float> y(static_cast<size_t>(m * n), -1.0f);
        matmul(wm, x.data() + off * k, k, m, y.data(), n, pool, scratch);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j)
            ASSERT_TRUE(same_bits(y[i * n + j], model[(off + i) * n + j]))
                << tensor_type_name(t) << " " << what << " k " << k << " threads " << threads << " M " << m
                << " row " << off + i << " col " << j << ": kernel " << y[i * n + j] << " model "
                << model[(off + i) * n + j];
      }
    }
  }
}

TEST_P(Q8Kernels, MatchScalarModelBitForBit) {
  const TensorType t = GetParam();
  const bool kq = is_k_quant(t);
  for (int64_t k : kq ? std::vector<int64_t>{256, 768} : std::vector<int64_t>{64, 320}) {
    if (matmul_act_format(t, k) != ActFormat::Q8A32)
      GTEST_SKIP() << "no Q8A32 kernel for " << tensor_type_name(t) << " on " << matmul_simd_target();
    const int64_t n = 37;  // decode tiles of 8 and 4 rows, tails of 1; prefill tiles of 4
    check_against_model(t, random_bit_weights(t, n, k, 101 + static_cast<uint32_t>(k)), n, k, "random bits");
    check_against_model(t, quantized_weights(t, n, k, 202 + static_cast<uint32_t>(k)), n, k, "quantized");
  }
}

std::string type_param_name(const ::testing::TestParamInfo<TensorType>& info) {
  return tensor_type_name(info.param);
}

INSTANTIATE_TEST_SUITE_P(IntegerTypes, Q8Kernels, ::testing::ValuesIn(kQ8Types), type_param_name);

}  // namespace
}  // namespace greta::cpu
