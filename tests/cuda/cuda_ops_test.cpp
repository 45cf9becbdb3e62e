// Every op of the backend interface (greta/backend/backend.h) on the CUDA backend against the CPU
// backend, in the spirit of llama.cpp's test-backend-ops: the same random inputs of awkward
// shapes (1, 3, 17, 64 rows; widths that are not multiples of 32; every weight type; every KV
// dtype; several sequences with non-contiguous block tables; positions across tile and chunk
// boundaries), then
//   - bit equality where the op is exact: embed, get_rows, add, add_bias, kv_store (the pool
//     read back against the documented layout), kv_copy_block, attention over one position;
//   - a bound where the backends round differently (reduction orders, exp), stated at each check
//     in units of u = 2^-24 (f32 unit roundoff);
//   - on the GPU, batch invariance: a row's output computed alone equals, bit for bit, the same
//     row in a batch of 64 rows in shuffled order;
//   - a recorded step (CUDA graph) replays bit-identical to direct launches.
// The CPU backend runs with f32 activations (no 8-bit activation path); the GPU's tensor-core
// matmul rounds them (f16/bf16, or 8-bit blocks), a term its bound states.
// This file: the weight and row-wise ops; cuda_kv_ops_test.cpp: the KV cache, attention and
// recorded steps.

#include "cuda_ops_util.h"
#include "greta/cuda/kernels.h"

namespace greta {
namespace {

using namespace cuda_ops_test;
using backend::Tensor;
using backend::Weight;

// ---- exact ops ----

struct TypeShape {
  TensorType type;
  std::vector<int64_t> cols;  // widths: not multiples of 32 where the type allows
};
// All 13 storage types (every one kept in its own bits on the GPU).
const TypeShape kTypes[] = {
    {TensorType::F32, {36, 260}},   {TensorType::F16, {36, 260, 288}}, {TensorType::BF16, {36, 260, 288}},
    {TensorType::Q8_0, {64, 288}},  {TensorType::Q4_0, {64, 288}},  {TensorType::Q4_1, {64, 288}},
    {TensorType::Q5_0, {64, 288}},  {TensorType::Q5_1, {64, 288}},  {TensorType::Q2_K, {256, 512}},
    {TensorType::Q3_K, {256, 512}}, {TensorType::Q4_K, {256, 512}}, {TensorType::Q5_K, {256, 512}},
    {TensorType::Q6_K, {256, 512}},
};

TEST_F(CudaOps, EmbedIsExactForEveryType) {
  int checked = 0;
  for (const TypeShape& ts : kTypes) {
    for (int64_t cols : ts.cols) {
      const int64_t vocab = 97;
      const HostWeight& w = make_weight(ts.type, vocab, cols, 11u + static_cast<uint32_t>(cols), 3.0f);
      for (int32_t n : kRowCounts) {
        SCOPED_TRACE(std::string(tensor_type_name(ts.type)) + " cols " + std::to_string(cols) + " rows " + std::to_string(n));
        std::vector<int32_t> tok(static_cast<size_t>(n));
        std::mt19937 rng(static_cast<uint32_t>(n * 7 + cols));
        for (auto& t : tok) t = static_cast<int32_t>(rng() % vocab);
        tok[0] = static_cast<int32_t>(vocab - 1);  // the last row of the table
        set_batch(plain_rows(n, tok));
        Twin out = twin_zero(n, cols);
        cpu_->embed(w.cpu, out.c);
        gpu_->embed(w.gpu, out.g);
        const std::vector<float> g = read_gpu(out.g);
        EXPECT_TRUE(bits_equal(g, read_cpu(out.c)));
        std::vector<float> ref;
        for (int32_t t : tok) {
          const auto r = row_of(w.values, cols, t);
          ref.insert(ref.end(), r.begin(), r.end());
        }
        EXPECT_TRUE(bits_equal(g, ref)) << "GPU embed differs from dequantize_row";
        ++checked;
      }
    }
  }
  std::printf("[ops] embed: %d type/width/rows cases bit-exact (CPU, GPU, dequantize_row)\n", checked);
}

TEST_F(CudaOps, GetRowsAddAddBiasAreExact) {
  for (int32_t n : kRowCounts) {
    for (int64_t cols : {36, 260}) {
      SCOPED_TRACE("rows " + std::to_string(n) + " cols " + std::to_string(cols));
      Rows r = plain_rows(n);
      // Wanted rows: a shuffled subset.
      std::vector<int32_t> perm = shuffled(n, 5u + static_cast<uint32_t>(n));
      r.out_rows.assign(perm.begin(), perm.begin() + (n + 1) / 2);
      set_batch(r);
      const auto xs = random_vec(static_cast<size_t>(n * cols), 21u, 4.0f);
      const auto ys = random_vec(static_cast<size_t>(n * cols), 22u, 4.0f);
      Twin x = twin(n, cols, xs), y = twin(n, cols, ys);
      const int64_t n_out = static_cast<int64_t>(r.out_rows.size());
      Twin d = twin_zero(n_out, cols);
      cpu_->get_rows(x.c, d.c);
      gpu_->get_rows(x.g, d.g);
      std::vector<float> ref;
      for (int32_t o : r.out_rows) {
        const auto row = row_of(xs, cols, o);
        ref.insert(ref.end(), row.begin(), row.end());
      }
      EXPECT_TRUE(bits_equal(read_gpu(d.g), ref));
      EXPECT_TRUE(bits_equal(read_cpu(d.c), ref));

      cpu_->add(x.c, y.c);
      gpu_->add(x.g, y.g);
      EXPECT_TRUE(bits_equal(read_gpu(x.g), read_cpu(x.c)));

      const HostWeight& b = make_weight(TensorType::F32, 1, cols, 23u);
      cpu_->add_bias(y.c, b.cpu);
      gpu_->add_bias(y.g, b.gpu);
      EXPECT_TRUE(bits_equal(read_gpu(y.g), read_cpu(y.c)));
    }
  }
}

// ---- matmul ----

// Each backend's dot product of K terms, summed in its own order, is within γ(K+8)·Σ|w·x| of
// the exact value (γ(n) = n·u; the +8 covers the per-group partials and the block scale
// products of the quantized types): the two differ by at most 2·γ(K+8)·Σ|w·x|, plus one
// rounding of the result on each side (2u·|y|, 2.5u allowed) for the accumulating form's addition.
// On the tensor-core path (cuda::matmul_scratch_bytes > 0) the GPU first rounds the activations:
// to f16 / bf16 (|Δx| <= 2^-11 / 2^-8 |x|), or per 32-element block to q·fp16(d) with
// d = amax/127 (|Δx| <= d/2 + 127·d·2^-11, fp16(d) being within 2^-11 of d): Σ|w|·|Δx| more.
double activation_error(TensorType t, const float* w, const float* x, int64_t k) {
  cuda::DevMatrix m;
  m.type = t == TensorType::F16    ? cuda::DevWeightType::F16
           : t == TensorType::BF16 ? cuda::DevWeightType::BF16
           : t == TensorType::F32  ? cuda::DevWeightType::F32
                                   : cuda::DevWeightType::Q8_0;  // every block type takes the 8-bit path
  m.rows = 1;
  m.cols = k;
  if (cuda::matmul_scratch_bytes(m, 1) == 0) return 0.0;
  double e = 0;
  if (t == TensorType::F16 || t == TensorType::BF16) {
    const double rel = t == TensorType::F16 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8);
    for (int64_t i = 0; i < k; ++i) e += std::fabs(double{w[i]} * x[i]) * rel;
    return e;
  }
  for (int64_t b = 0; b < k; b += 32) {
    double amax = 0;
    for (int64_t i = b; i < b + 32; ++i) amax = std::max(amax, std::fabs(double{x[i]}));
    const double d = amax / 127.0, dx = d / 2 + 127.0 * d * std::ldexp(1.0, -11);
    for (int64_t i = b; i < b + 32; ++i) e += std::fabs(double{w[i]}) * dx;
  }
  return e;
}

TEST_F(CudaOps, MatmulMatchesCpuForEveryType) {
  double worst = 0;  // max |Δ| / Σ|w·x|
  for (const TypeShape& ts : kTypes) {
    for (int64_t k : ts.cols) {
      for (int64_t n_out : {1, 5, 67}) {
        const HostWeight& w = make_weight(ts.type, n_out, k, 31u + static_cast<uint32_t>(k + n_out));
        for (int32_t m : kRowCounts) {
          SCOPED_TRACE(std::string(tensor_type_name(ts.type)) + " K " + std::to_string(k) + " N " +
                       std::to_string(n_out) + " M " + std::to_string(m));
          const auto xs = random_vec(static_cast<size_t>(m * k), 41u + static_cast<uint32_t>(m), 2.0f);
          const auto y0 = random_vec(static_cast<size_t>(m * n_out), 42u, 8.0f);
          Twin x = twin(m, k, xs);
          for (bool acc : {false, true}) {
            Twin y = twin(m, n_out, y0);
            cpu_->matmul(w.cpu, x.c, y.c, acc);
            gpu_->matmul(w.gpu, x.g, y.g, acc);
            const auto c = read_cpu(y.c), g = read_gpu(y.g);
            int bad = 0;
            for (int64_t i = 0; i < m; ++i) {
              for (int64_t j = 0; j < n_out; ++j) {
                double s = 0;
                for (int64_t kk = 0; kk < k; ++kk) s += std::fabs(double{w.values[j * k + kk]} * xs[i * k + kk]);
                const double d = std::fabs(double{c[i * n_out + j]} - g[i * n_out + j]);
                const double tol = 2.0 * (k + 8) * kU * s + (acc ? 2.5 * kU * std::fabs(double{c[i * n_out + j]}) : 0.0) +
                                   activation_error(ts.type, &w.values[j * k], &xs[i * k], k);
                if (s > 0) worst = std::max(worst, d / s);
                if (d > tol) ++bad;
              }
            }
            EXPECT_EQ(bad, 0) << (acc ? "accumulate" : "");
          }
        }
      }
    }
  }
  std::printf("[ops] matmul: max |gpu - cpu| / sum|w x| = %.3g (bound 2*(K+8)*u = %.3g at K = 512, plus the "
              "tensor-core path's activation rounding)\n",
              worst, 2.0 * 520 * kU);
}

// Batch invariance of the matmul, for every type: for 1, 3, 17, 64 and 100 rows (every tile
// shape of both kernels, full and partial tiles), each row's product computed alone equals, bit for bit, the same row
// in the batch in order and in a shuffled batch. matmul_multi (one fused launch for outputs of
// one type; one launch per output for mixed types) equals matmul alone, output by output.
TEST_F(CudaOps, MatmulRowInvarianceAndMultiOnGpu) {
  int rows_checked = 0;
  for (const TypeShape& ts : kTypes) {
    const int64_t k = ts.cols.back(), n_out = 67;
    const HostWeight& w1 = make_weight(ts.type, n_out, k, 51u);
    const HostWeight& w2 = make_weight(ts.type, 9, k, 52u);
    // A third output of another type, for the mixed-type path (K must suit both types).
    const HostWeight* w3 =
        k % 32 == 0 ? &make_weight(ts.type == TensorType::Q8_0 ? TensorType::F16 : TensorType::Q8_0, 5, k, 55u) : nullptr;
    for (int32_t m : {1, 3, 17, 64, 100}) {
      SCOPED_TRACE(std::string(tensor_type_name(ts.type)) + " rows " + std::to_string(m));
      const auto xs = random_vec(static_cast<size_t>(m * k), 53u + static_cast<uint32_t>(m), 2.0f);
      Twin x = twin(m, k, xs);
      Twin y1 = twin_zero(m, n_out), y2 = twin_zero(m, 9), z1 = twin_zero(m, n_out), z2 = twin_zero(m, 9);
      gpu_->matmul(w1.gpu, x.g, y1.g);
      gpu_->matmul(w2.gpu, x.g, y2.g);
      const backend::MatmulOut outs[2] = {{&w1.gpu, z1.g}, {&w2.gpu, z2.g}};
      gpu_->matmul_multi(outs, x.g);
      const auto all = read_gpu(y1.g);
      EXPECT_TRUE(bits_equal(read_gpu(z1.g), all)) << "matmul_multi (one launch) output 0";
      EXPECT_TRUE(bits_equal(read_gpu(z2.g), read_gpu(y2.g))) << "matmul_multi (one launch) output 1";
      if (w3 != nullptr) {  // mixed types: one launch per output
        Twin y3 = twin_zero(m, 5), z3 = twin_zero(m, 5), z1b = twin_zero(m, n_out);
        gpu_->matmul(w3->gpu, x.g, y3.g);
        const backend::MatmulOut mixed[2] = {{&w1.gpu, z1b.g}, {&w3->gpu, z3.g}};
        gpu_->matmul_multi(mixed, x.g);
        EXPECT_TRUE(bits_equal(read_gpu(z1b.g), all)) << "matmul_multi (mixed types)";
        EXPECT_TRUE(bits_equal(read_gpu(z3.g), read_gpu(y3.g))) << "matmul_multi (mixed types)";
      }
      // Rows in shuffled order, then each row alone.
      const std::vector<int32_t> perm = shuffled(m, 54u + static_cast<uint32_t>(m));
      std::vector<float> xp;
      for (int32_t p : perm) {
        const auto r = row_of(xs, k, p);
        xp.insert(xp.end(), r.begin(), r.end());
      }
      Twin xs_t = twin(m, k, xp), ys_t = twin_zero(m, n_out);
      gpu_->matmul(w1.gpu, xs_t.g, ys_t.g);
      const auto shuf = read_gpu(ys_t.g);
      int bad = 0;
      Twin x1 = twin_zero(1, k), y1r = twin_zero(1, n_out);
      for (int32_t i = 0; i < m; ++i) {
        gpu_->write(x1.g, &xs[static_cast<size_t>(i) * k]);
        gpu_->matmul(w1.gpu, x1.g, y1r.g);
        const auto alone = read_gpu(y1r.g);
        const auto pos = std::find(perm.begin(), perm.end(), i) - perm.begin();
        bad += !bits_equal(alone, row_of(all, n_out, i)) || !bits_equal(alone, row_of(shuf, n_out, pos));
        ++rows_checked;
      }
      EXPECT_EQ(bad, 0) << "rows whose product depends on the batch";
    }
  }
  std::printf("[ops] matmul: %d rows x 67 outputs bit-identical alone, in order and shuffled (13 types, M 1/3/17/64/100)\n",
              rows_checked);
}

// Weights stay in their storage type: a block type takes exactly its GGUF bytes on the device, a
// float type at most its rows padded to 8 elements (none when cols % 8 == 0).
TEST_F(CudaOps, WeightsTakeTheirFileBytes) {
  for (const TypeShape& ts : kTypes) {
    const int64_t rows = 67, cols = 512;
    const int64_t before = gpu_->memory_use().weights;
    make_weight(ts.type, rows, cols, 91u);
    const int64_t used = gpu_->memory_use().weights - before;
    const int64_t file = rows * tensor_row_bytes(ts.type, cols);
    std::printf("[ops] %-5s %lld x %lld: %lld bytes on the GPU, %lld in the file (%.3fx)\n", tensor_type_name(ts.type),
                static_cast<long long>(rows), static_cast<long long>(cols), static_cast<long long>(used),
                static_cast<long long>(file), static_cast<double>(used) / static_cast<double>(file));
    EXPECT_EQ(used, file) << tensor_type_name(ts.type);
  }
}

// ---- row-wise ops ----

// rms_norm: each backend's sum of n squares is within γ(n)·Σx² of the exact value, which moves
// the scale by at most ~γ(n)/2 relative; with the final products, |Δy| <= (n + 8)·u·|y|.
// swiglu: the CPU's SIMD exp against the device expf: |Δ| <= 32 u·|y| (both within a few ulp).
// rope: the same f32 table on both; x0·c - x1·s rounded three times on each side:
// |Δ| <= 4u·(|x0·c| + |x1·s|) <= 16u for the test's |x| <= 2.
TEST_F(CudaOps, RmsNormSwigluRopeMatchCpuAndAreRowInvariant) {
  for (int32_t n : kRowCounts) {
    for (int64_t cols : {36, 260, 2048}) {
      SCOPED_TRACE("rows " + std::to_string(n) + " cols " + std::to_string(cols));
      set_batch(plain_rows(n));
      const auto xs = random_vec(static_cast<size_t>(n * cols), 61u + static_cast<uint32_t>(cols), 3.0f);
      const HostWeight& w = make_weight(TensorType::F32, 1, cols, 62u, 2.0f);
      Twin x = twin(n, cols, xs), y = twin_zero(n, cols);
      cpu_->rms_norm(x.c, w.cpu, y.c, 1e-5f);
      gpu_->rms_norm(x.g, w.gpu, y.g, 1e-5f);
      const auto c = read_cpu(y.c), g = read_gpu(y.g);
      int bad = 0;
      for (size_t i = 0; i < c.size(); ++i) bad += std::fabs(double{c[i]} - g[i]) > (cols + 8) * kU * std::fabs(double{c[i]}) + 1e-30;
      EXPECT_EQ(bad, 0) << "rms_norm";

      const auto us = random_vec(static_cast<size_t>(n * cols), 63u, 3.0f);
      Twin gate = twin(n, cols, xs), up = twin(n, cols, us);
      cpu_->swiglu(gate.c, up.c, gate.c);
      gpu_->swiglu(gate.g, up.g, gate.g);
      const auto sc = read_cpu(gate.c), sg = read_gpu(gate.g);
      bad = 0;
      for (size_t i = 0; i < sc.size(); ++i) bad += std::fabs(double{sc[i]} - sg[i]) > 32 * kU * std::fabs(double{sc[i]}) + 1e-30;
      EXPECT_EQ(bad, 0) << "swiglu";
      // In place (out aliases gate) == into another tensor, on the GPU.
      Twin gate2 = twin(n, cols, xs), out2 = twin_zero(n, cols);
      gpu_->swiglu(gate2.g, up.g, out2.g);
      EXPECT_TRUE(bits_equal(read_gpu(out2.g), sg));
    }
  }
  // Row invariance of rms_norm and swiglu: row i alone == row i in a 64-row batch.
  const int64_t cols = 260;
  const auto xs = random_vec(64 * cols, 64u, 3.0f), us = random_vec(64 * cols, 65u, 3.0f);
  const HostWeight& w = make_weight(TensorType::F32, 1, cols, 66u);
  set_batch(plain_rows(64));
  Twin x = twin(64, cols, xs), u = twin(64, cols, us), y = twin_zero(64, cols), s = twin_zero(64, cols);
  gpu_->rms_norm(x.g, w.gpu, y.g, 1e-6f);
  gpu_->swiglu(x.g, u.g, s.g);
  const auto ya = read_gpu(y.g), sa = read_gpu(s.g);
  int bad = 0;
  for (int64_t i = 0; i < 64; ++i) {
    Twin x1 = twin(1, cols, row_of(xs, cols, i)), u1 = twin(1, cols, row_of(us, cols, i));
    Twin y1 = twin_zero(1, cols), s1 = twin_zero(1, cols);
    gpu_->rms_norm(x1.g, w.gpu, y1.g, 1e-6f);
    gpu_->swiglu(x1.g, u1.g, s1.g);
    bad += !bits_equal(read_gpu(y1.g), row_of(ya, cols, i)) || !bits_equal(read_gpu(s1.g), row_of(sa, cols, i));
  }
  EXPECT_EQ(bad, 0);
}

TEST_F(CudaOps, RopeMatchesCpuAtEveryPositionAndLayout) {
  const int32_t n_pos = 600;
  const std::vector<float> factors = random_vec(32, 71u, 0.5f);
  std::vector<float> ff(factors.size());
  for (size_t i = 0; i < ff.size(); ++i) ff[i] = 1.5f + factors[i];  // in [1, 2]
  struct Case {
    backend::RopeType type;
    int32_t head_dim, n_rot;
    float scale;
    bool factors;
  };
  const Case cases[] = {{backend::RopeType::Normal, 36, 36, 1.0f, false},
                        {backend::RopeType::NeoX, 36, 36, 1.0f, false},
                        {backend::RopeType::Normal, 64, 20, 0.5f, true},
                        {backend::RopeType::NeoX, 64, 48, 1.0f, true}};
  for (const Case& cs : cases) {
    backend::RopeParams rp;
    rp.type = cs.type;
    rp.n_rot = cs.n_rot;
    rp.freq_base = 10000.0f;
    rp.freq_scale = cs.scale;
    rp.freq_factors = cs.factors ? ff.data() : nullptr;
    cpu_->rope_init(rp, n_pos);
    gpu_->rope_init(rp, n_pos);
    const int32_t n_heads = 3;
    const int64_t cols = int64_t{n_heads} * cs.head_dim;
    for (int32_t n : kRowCounts) {
      SCOPED_TRACE("head_dim " + std::to_string(cs.head_dim) + " n_rot " + std::to_string(cs.n_rot) + " rows " +
                   std::to_string(n));
      Rows r = plain_rows(n);
      const int32_t special[] = {0, 31, 32, 255, 256, 599};
      std::mt19937 rng(static_cast<uint32_t>(n));
      for (int32_t i = 0; i < n; ++i) r.pos[i] = i < 6 ? special[i] : static_cast<int32_t>(rng() % n_pos);
      set_batch(r);
      const auto xs = random_vec(static_cast<size_t>(n * cols), 72u + static_cast<uint32_t>(n), 2.0f);
      Twin x = twin(n, cols, xs);
      cpu_->rope(x.c, n_heads, cs.head_dim);
      gpu_->rope(x.g, n_heads, cs.head_dim);
      const auto c = read_cpu(x.c), g = read_gpu(x.g);
      int bad = 0;
      for (size_t i = 0; i < c.size(); ++i) bad += std::fabs(double{c[i]} - g[i]) > 16 * kU;
      EXPECT_EQ(bad, 0);
      // Dimensions past n_rot pass through untouched.
      for (int32_t i = 0; i < n; ++i) {
        for (int32_t h = 0; h < n_heads; ++h) {
          for (int32_t d = cs.n_rot; d < cs.head_dim; ++d) {
            const size_t at = static_cast<size_t>(i * cols + h * cs.head_dim + d);
            EXPECT_EQ(g[at], xs[at]);
          }
        }
      }
      // Row invariance: the first row alone.
      if (n > 1) {
        Rows one = plain_rows(1);
        one.pos[0] = r.pos[0];
        set_batch(one);
        Twin x1 = twin(1, cols, row_of(xs, cols, 0));
        gpu_->rope(x1.g, n_heads, cs.head_dim);
        EXPECT_TRUE(bits_equal(read_gpu(x1.g), row_of(g, cols, 0)));
      }
    }
  }
}

TEST_F(CudaOps, UploadSharesTiedWeightsAndRejectsUnknownTypes) {
  const HostWeight& w = make_weight(TensorType::Q8_0, 10, 64, 141u);
  Weight tied;
  tied.host = w.gpu.host;
  const int64_t before = gpu_->memory_bytes();
  gpu_->upload(tied, "output.weight");
  EXPECT_EQ(tied.dev, w.gpu.dev);
  EXPECT_EQ(gpu_->memory_bytes(), before);
  std::vector<uint8_t> bytes(64, 0);
  Weight bad;
  bad.host = WeightView{TensorType::IQ2_XXS, 1, 256, 66, bytes.data()};
  try {
    gpu_->upload(bad, "blk.0.attn_q.weight");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("blk.0.attn_q.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not supported by the CUDA backend"), std::string::npos) << e.what();
  }
  backend::KvSpec huge{64, 1 << 20, 64, 256, KvType::F32};
  EXPECT_THROW(gpu_->kv_init(huge), Error);
  // The failed allocation leaves the backend usable.
  set_batch(plain_rows(3));
  Twin x = twin(3, 64, random_vec(192, 142u)), y = twin_zero(3, 10);
  gpu_->matmul(w.gpu, x.g, y.g);
  EXPECT_EQ(read_gpu(y.g).size(), 30u);
}

}  // namespace
}  // namespace greta
