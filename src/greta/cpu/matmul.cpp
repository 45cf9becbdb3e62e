// matmul(): validation, activation quantization, and the fixed task partition over output rows.
// The arithmetic lives in matmul_kernels.cpp; the scalar reference is here.

#include "greta/cpu/matmul.h"

#include <string>
#include <vector>

#include "greta/core/error.h"
#include "greta/cpu/matmul_kernels.h"
#include "greta/quant/quant.h"

namespace greta::cpu {

namespace {

// Output rows per task. Fixed (never derived from the thread count or M), so the partition is
// the same for every run; small enough that two threads stay balanced on a 256-row matrix.
constexpr int64_t kRowsPerTask = 32;

void check_args(const WeightMatrix& w, int64_t ldx, int64_t m, int64_t ldy) {
  const auto& info = tensor_type_info(w.type);
  if (!info.is_storage_type)
    fail(std::string("matmul: weight type ") + info.name + " is not a storage type");
  GRETA_ASSERT(w.rows >= 0 && w.cols >= 0 && m >= 0);
  GRETA_ASSERT(w.cols % info.block_size == 0);
  GRETA_ASSERT(w.row_bytes == tensor_row_bytes(w.type, w.cols));
  GRETA_ASSERT(ldx >= w.cols && ldy >= w.rows);
  GRETA_ASSERT(w.data != nullptr || w.rows == 0);
}

}  // namespace

void matmul(const WeightMatrix& w, const float* x, int64_t ldx, int64_t m, float* y, int64_t ldy,
            ThreadPool& pool, MatmulScratch& scratch) {
  check_args(w, ldx, m, ldy);
  if (m == 0 || w.rows == 0) return;

  MatmulArgs args;
  args.type = w.type;
  args.k = w.cols;
  args.row_bytes = w.row_bytes;
  args.w = w.data;
  args.act = scratch.f32_activations ? ActFormat::F32 : matmul_act_format(w.type, w.cols);
  args.x = x;
  args.ldx = ldx;
  args.m = m;
  args.y = y;
  args.ldy = ldy;

  if (args.act == ActFormat::Q8A32) {
    // Each activation row is quantized once, by one task, with the same code whatever M is.
    const int64_t rb = act_row_bytes(w.cols);
    const size_t need = static_cast<size_t>(rb * m + 64);
    if (scratch.buffer.size() < need) scratch.buffer.resize(need);
    uint8_t* base = scratch.buffer.data();
    base += (64 - reinterpret_cast<uintptr_t>(base) % 64) % 64;
    pool.run(m, [&](int64_t row, int) { act_quantize_row(x + row * ldx, w.cols, base + row * rb); });
    args.xq = base;
  }

  const int64_t n_tasks = (w.rows + kRowsPerTask - 1) / kRowsPerTask;
  pool.run(n_tasks, [&](int64_t task, int) {
    const int64_t n0 = task * kRowsPerTask;
    const int64_t n1 = std::min(w.rows, n0 + kRowsPerTask);
    matmul_rows(args, n0, n1);
  });
}

void matmul_reference(const WeightMatrix& w, const float* x, int64_t ldx, int64_t m, float* y,
                      int64_t ldy) {
  check_args(w, ldx, m, ldy);
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t n = 0; n < w.rows; ++n) {
    dequantize_row(w.type, w.data + n * w.row_bytes, row.data(), w.cols);
    for (int64_t i = 0; i < m; ++i) {
      const float* xi = x + i * ldx;
      double sum = 0.0;
      for (int64_t k = 0; k < w.cols; ++k) sum += static_cast<double>(row[k]) * xi[k];
      y[i * ldy + n] = static_cast<float>(sum);
    }
  }
}

}  // namespace greta::cpu
