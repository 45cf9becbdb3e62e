#pragma once
// The fixture of the op-level tests (cuda_ops_test.cpp, cuda_kv_ops_test.cpp): a CPU backend
// (f32 activations) and a CudaBackend side by side, tensors holding the same rows in both,
// weights quantized from random rows, batch metadata.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "greta/quant/quant.h"
#include "greta/runtime/backend_registry.h"

namespace greta::cuda_ops_test {

using backend::Tensor;
using backend::Weight;
using cuda::CudaBackend;

inline constexpr double kU = 1.0 / 16777216.0;  // 2^-24
inline const int32_t kRowCounts[] = {1, 3, 17, 64};
inline const KvType kKvTypes[] = {KvType::F32, KvType::F16, KvType::BF16};

inline std::vector<float> random_vec(size_t n, uint32_t seed, float amp = 1.0f) {
  std::mt19937 rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = amp * (2.0f * static_cast<float>(rng() >> 8) / 16777216.0f - 1.0f);
  return v;
}

inline std::vector<int32_t> shuffled(int32_t n, uint32_t seed) {
  std::vector<int32_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  std::shuffle(p.begin(), p.end(), std::mt19937(seed));
  return p;
}

// A weight in host memory (quantized from random rows), and its exact f32 values.
struct HostWeight {
  std::vector<uint8_t> bytes;
  std::vector<float> values;  // [rows, cols] dequantize_row of the bytes
  Weight cpu, gpu;            // uploaded to each backend
};

// Host batch metadata, in the layout of backend::BatchRows.
struct Rows {
  std::vector<int32_t> tokens, pos, seq, tables, fresh_row0, out_rows;
  int32_t n_tables = 1, stride = 1;

  int32_t n() const { return static_cast<int32_t>(pos.size()); }
  void add(int32_t s, int32_t p, int32_t tok = 0) {
    seq.push_back(s);
    pos.push_back(p);
    tokens.push_back(tok);
  }
  backend::BatchRows get() const {
    backend::BatchRows b;
    b.n_rows = n();
    b.tokens = tokens.data();
    b.pos = pos.data();
    b.seq = seq.data();
    b.block_tables = tables.data();
    b.n_tables = n_tables;
    b.table_stride = stride;
    b.fresh_row0 = fresh_row0.empty() ? nullptr : fresh_row0.data();
    b.out_rows = out_rows.data();
    b.n_out = static_cast<int32_t>(out_rows.size());
    return b;
  }
};

// n plain rows (sequence 0, positions 0..n-1, tokens `tokens` or 0); the ops that need no KV.
inline Rows plain_rows(int32_t n, std::vector<int32_t> tokens = {}) {
  Rows r;
  r.tables.assign(static_cast<size_t>((n + 31) / 32 + 1), 0);
  r.stride = static_cast<int32_t>(r.tables.size());
  for (int32_t i = 0; i < n; ++i) r.add(0, i, tokens.empty() ? 0 : tokens[static_cast<size_t>(i)]);
  r.out_rows.resize(static_cast<size_t>(n));
  std::iota(r.out_rows.begin(), r.out_rows.end(), 0);
  return r;
}

class CudaOps : public testing::Test {
 protected:
  void SetUp() override {
    GRETA_REQUIRE_GPU();
    cpu_ = create_backend("cpu", backend::BackendOptions{.n_threads = 2, .f32_activations = true});
    gpu_ = std::make_unique<CudaBackend>(backend::BackendOptions{});
  }

  void set_batch(const Rows& r) {
    cpu_->set_batch(r.get());
    gpu_->set_batch(r.get());
  }

  // A CPU and a GPU tensor holding the same rows.
  struct Twin {
    Tensor c, g;
  };
  Twin twin(int64_t rows, int64_t cols, const std::vector<float>& init) {
    Twin t{cpu_->alloc(rows, cols), gpu_->alloc(rows, cols)};
    for (int64_t r = 0; r < rows; ++r) std::memcpy(t.c.data + r * t.c.ld, &init[r * cols], cols * sizeof(float));
    gpu_->write(t.g, init.data());
    return t;
  }
  Twin twin_zero(int64_t rows, int64_t cols) {
    return twin(rows, cols, std::vector<float>(static_cast<size_t>(rows * cols), 0.0f));
  }
  std::vector<float> read(backend::Backend& be, const Tensor& t) {
    std::vector<float> h(static_cast<size_t>(t.rows * t.cols));
    be.read(t, h.data());
    return h;
  }
  std::vector<float> read_cpu(const Tensor& t) { return read(*cpu_, t); }
  std::vector<float> read_gpu(const Tensor& t) { return read(*gpu_, t); }

  // The weight lives as long as the fixture: a weight's bytes never reuse an address that the
  // backends uploaded before (the CUDA backend keys uploads by host view).
  const HostWeight& make_weight(TensorType type, int64_t rows, int64_t cols, uint32_t seed, float amp = 1.0f) {
    HostWeight& w = weights_.emplace_back();
    const std::vector<float> src = random_vec(static_cast<size_t>(rows * cols), seed, amp);
    const int64_t rb = tensor_row_bytes(type, cols);
    w.bytes.assign(static_cast<size_t>(rows * rb), 0);
    w.values.resize(src.size());
    for (int64_t r = 0; r < rows; ++r) {
      quantize_row(type, &src[r * cols], &w.bytes[r * rb], cols);
      dequantize_row(type, &w.bytes[r * rb], &w.values[r * cols], cols);
    }
    const WeightView v{type, rows, cols, rb, w.bytes.data()};
    w.cpu.host = v;
    w.gpu.host = v;
    const std::string name = std::string("test.") + tensor_type_name(type);
    cpu_->upload(w.cpu, name);
    gpu_->upload(w.gpu, name);
    return w;
  }

  std::unique_ptr<backend::Backend> cpu_;
  std::unique_ptr<CudaBackend> gpu_;
  std::deque<HostWeight> weights_;
};

inline bool bits_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Row r of an [n, cols] host matrix.
inline std::vector<float> row_of(const std::vector<float>& m, int64_t cols, int64_t r) {
  return std::vector<float>(m.begin() + r * cols, m.begin() + (r + 1) * cols);
}

}  // namespace greta::cuda_ops_test
