// matmul: the equivalence contract (batched rows == single rows, bit for bit; any thread count)
// and per-type error bounds against the f64 reference. Bounds: docs/ARCHITECTURE.md, "CPU kernels".

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "greta/core/error.h"
#include "greta/cpu/matmul.h"
#include "greta/cpu/matmul_kernels.h"
#include "greta/quant/quant.h"

namespace greta::cpu {
namespace {

struct Problem {
  TensorType type;
  int64_t n, k;
  std::vector<uint8_t> w;  // [n, row_bytes]
  WeightMatrix wm() const {
    return WeightMatrix{type, n, k, tensor_row_bytes(type, k), w.data()};
  }
};

Problem make_weights(TensorType type, int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  Problem p{type, n, k, {}};
  const int64_t rb = tensor_row_bytes(type, k);
  p.w.resize(static_cast<size_t>(n * rb));
  std::vector<float> row(static_cast<size_t>(k));
  for (int64_t r = 0; r < n; ++r) {
    const float scale = 0.02f * (1.0f + static_cast<float>(r % 5));
    for (auto& v : row) v = nd(rng) * scale;
    quantize_row(type, row.data(), p.w.data() + r * rb, k);
  }
  return p;
}

std::vector<float> make_x(int64_t m, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(m * k));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < k; ++j) {
      // Some rows and columns much larger than others, like real activations (outlier features).
      const float s = (j % 97 == 3 ? 8.0f : 1.0f) * (1.0f + static_cast<float>(i % 3));
      x[i * k + j] = nd(rng) * s;
    }
  return x;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

const TensorType kAllTypes[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q8_0,
                                TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1,
                                TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K, TensorType::Q5_K,
                                TensorType::Q6_K};

// K for a type: a multiple of its block size; float types get a K that leaves a SIMD tail.
int64_t k_for(TensorType t) {
  const auto bs = tensor_type_info(t).block_size;
  if (bs == 1) return 264;
  if (bs == 256) return 512;
  return 320;
}

class MatmulTypes : public ::testing::TestWithParam<TensorType> {};

std::string type_param_name(const ::testing::TestParamInfo<TensorType>& info) {
  return tensor_type_name(info.param);
}

// (a) matmul(X)[m] == matmul(X[m]) bit for bit, M in 1..17, 64, 512.
TEST_P(MatmulTypes, BatchedRowsEqualSingleRows) {
  const TensorType type = GetParam();
  const int64_t n = 70, k = k_for(type);  // 70 rows: full tasks, partial task, tail tiles
  const Problem p = make_weights(type, n, k, 11);
  const WeightMatrix wm = p.wm();
  ThreadPool pool(1);  // thread counts: ThreadCountInvariant
  MatmulScratch scratch;
  std::vector<int64_t> ms;
  for (int64_t m = 1; m <= 17; ++m) ms.push_back(m);
  ms.push_back(64);
  ms.push_back(512);
  const std::vector<float> x = make_x(512, k, 5);
  std::vector<float> y_one(static_cast<size_t>(n));
  std::vector<std::vector<float>> singles(512);
  for (int64_t i = 0; i < 512; ++i) {
    singles[i].resize(static_cast<size_t>(n));
    matmul(wm, x.data() + i * k, k, 1, singles[i].data(), n, pool, scratch);
  }
  for (int64_t m : ms) {
    // Batch starting at row off, so row m of the batch is not always row m of x.
    const int64_t off = m < 512 ? (m * 7) % (512 - m) : 0;
    const int64_t ldy = n + 3;
    std::vector<float> y(static_cast<size_t>(m * ldy), -1.0f);
    matmul(wm, x.data() + off * k, k, m, y.data(), ldy, pool, scratch);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        ASSERT_TRUE(same_bits(y[i * ldy + j], singles[off + i][j]))
            << tensor_type_name(type) << " M=" << m << " row " << i << " col " << j << ": "
            << y[i * ldy + j] << " vs " << singles[off + i][j];
  }
}

// (b) identical bits with 1, 2, 3 threads.
TEST_P(MatmulTypes, ThreadCountInvariant) {
  const TensorType type = GetParam();
  const int64_t n = 137, k = k_for(type), m = 9;
  const Problem p = make_weights(type, n, k, 23);
  const std::vector<float> x = make_x(m, k, 29);
  std::vector<float> base;
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    MatmulScratch scratch;
    std::vector<float> y(static_cast<size_t>(m * n));
    matmul(p.wm(), x.data(), k, m, y.data(), n, pool, scratch);
    if (base.empty()) {
      base = y;
      continue;
    }
    for (size_t i = 0; i < y.size(); ++i)
      ASSERT_TRUE(same_bits(y[i], base[i])) << tensor_type_name(type) << " threads " << threads << " i " << i;
  }
}

// (c) error against the f64 reference, per element:
//   |y - ref| <= 1e-5 * sum_k |w_k x_k|                                  (f32 activations)
//             +  0.6/127 * sum_k |w_k| * amax(x block of 32 holding k)   (Q8A32 activations)
// The second term is the activation quantization: |x - d*q| <= d/2 + 127*d*2^-11 with
// d = amax/127 rounded to fp16.
TEST_P(MatmulTypes, ErrorWithinBoundOfReference) {
  const TensorType type = GetParam();
  const int64_t n = 64, k = k_for(type), m = 5;
  const Problem p = make_weights(type, n, k, 31);
  const std::vector<float> x = make_x(m, k, 37);
  ThreadPool pool(2);
  MatmulScratch scratch;
  std::vector<float> y(static_cast<size_t>(m * n)), ref(static_cast<size_t>(m * n));
  matmul(p.wm(), x.data(), k, m, y.data(), n, pool, scratch);
  matmul_reference(p.wm(), x.data(), k, m, ref.data(), n);
  const bool q8 = matmul_act_format(type, k) == ActFormat::Q8A32;
  std::vector<float> wrow(static_cast<size_t>(k));
  double worst = 0.0;
  for (int64_t j = 0; j < n; ++j) {
    dequantize_row(type, p.w.data() + j * p.wm().row_bytes, wrow.data(), k);
    for (int64_t i = 0; i < m; ++i) {
      const float* xi = x.data() + i * k;
      double abs_dot = 0.0, act = 0.0;
      for (int64_t b = 0; b < k; b += 32) {
        double amax = 0.0;
        for (int64_t t = b; t < b + 32 && t < k; ++t) amax = std::max(amax, std::fabs(double(xi[t])));
        for (int64_t t = b; t < b + 32 && t < k; ++t) {
          abs_dot += std::fabs(double(wrow[t]) * xi[t]);
          act += std::fabs(double(wrow[t])) * amax;
        }
      }
      const double bound = 1e-5 * abs_dot + (q8 ? 0.6 / 127.0 * act : 0.0);
      const double err = std::fabs(double(y[i * n + j]) - double(ref[i * n + j]));
      ASSERT_LE(err, bound) << tensor_type_name(type) << " row " << i << " col " << j << " y " << y[i * n + j]
                            << " ref " << ref[i * n + j];
      worst = std::max(worst, err / (abs_dot > 0 ? abs_dot : 1.0));
    }
  }
  RecordProperty("max_err_over_abs_dot", std::to_string(worst));
}

INSTANTIATE_TEST_SUITE_P(AllTypes, MatmulTypes, ::testing::ValuesIn(kAllTypes), type_param_name);

// Q8_0 with K a multiple of 32 but not 64 and a tiny K: still exact equivalence.
TEST(Matmul, OddShapesKeepEquivalence) {
  for (TensorType type : {TensorType::Q8_0, TensorType::Q4_0, TensorType::F16, TensorType::F32}) {
    for (int64_t k : {32, 96, 160}) {
      const int64_t n = 5, m = 6;
      const Problem p = make_weights(type, n, k, 3);
      const std::vector<float> x = make_x(m, k, 4);
      ThreadPool pool(3);
      MatmulScratch scratch;
      std::vector<float> y(static_cast<size_t>(m * n)), y1(static_cast<size_t>(n));
      matmul(p.wm(), x.data(), k, m, y.data(), n, pool, scratch);
      for (int64_t i = 0; i < m; ++i) {
        matmul(p.wm(), x.data() + i * k, k, 1, y1.data(), n, pool, scratch);
        for (int64_t j = 0; j < n; ++j) ASSERT_TRUE(same_bits(y[i * n + j], y1[j])) << tensor_type_name(type) << " k " << k;
      }
    }
  }
}

TEST(Matmul, RejectsNonStorageType) {
  std::vector<uint8_t> w(292);
  ThreadPool pool(1);
  MatmulScratch scratch;
  float x[256] = {}, y[1];
  WeightMatrix wm{TensorType::Q8_K, 1, 256, 292, w.data()};
  EXPECT_THROW(matmul(wm, x, 256, 1, y, 1, pool, scratch), Error);
}

}  // namespace
}  // namespace greta::cpu
