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
// Decode (M = 1) tasks are larger: each task starts a new weight stream whose first tile the
// kernel's prefetch does not cover (tasks are claimed dynamically, so the next task of a thread
// is not the adjacent rows). Measured end to end (Q8_0 tinyllama, 2 threads, per CPU-second):
// 32 rows 49-51% of the decode limit, 64 rows 69%, 32 rows + task-start prefetch 71%, both 71-72%.
// Rows never interact, so neither the task size nor M changes any output bit.
constexpr int64_t kDecodeRowsPerTask = 64;

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
  const MatmulOut out{&w, y, ldy};
  matmul_multi(std::span<const MatmulOut>(&out, 1), x, ldx, m, pool, scratch);
}

void matmul_multi(std::span<const MatmulOut> outs, const float* x, int64_t ldx, int64_t m, ThreadPool& pool,
                  MatmulScratch& scratch) {
  constexpr size_t kMaxOuts = 4;
  GRETA_ASSERT(!outs.empty() && outs.size() <= kMaxOuts);
  const int64_t k = outs[0].w->cols;
  for (const MatmulOut& o : outs) {
    check_args(*o.w, ldx, m, o.ldy);
    GRETA_ASSERT(o.w->cols == k);
  }
  if (m == 0) return;

  const int64_t rows_per_task = m == 1 ? kDecodeRowsPerTask : kRowsPerTask;
  MatmulArgs args[kMaxOuts];
  int64_t task_end[kMaxOuts];  // exclusive prefix sums of the outputs' task counts
  int64_t n_tasks = 0;
  bool need_q8 = false;
  for (size_t j = 0; j < outs.size(); ++j) {
    const WeightMatrix& w = *outs[j].w;
    MatmulArgs& a = args[j];
    a.type = w.type;
    a.k = w.cols;
    a.row_bytes = w.row_bytes;
    a.w = w.data;
    a.act = scratch.f32_activations ? ActFormat::F32 : matmul_act_format(w.type, w.cols);
    a.x = x;
    a.ldx = ldx;
    a.m = m;
    a.y = outs[j].y;
    a.ldy = outs[j].ldy;
    need_q8 = need_q8 || a.act == ActFormat::Q8A32;
    n_tasks += (w.rows + rows_per_task - 1) / rows_per_task;
    task_end[j] = n_tasks;
  }
  if (n_tasks == 0) return;

  if (need_q8) {
    // Each activation row is quantized once, by one task, with the same code whatever M is (and
    // whichever outputs share it: the row depends only on x and k).
    const int64_t rb = act_row_bytes(k);
    const size_t need = static_cast<size_t>(rb * m + 64);
    if (scratch.buffer.size() < need) scratch.buffer.resize(need);
    uint8_t* base = scratch.buffer.data();
    base += (64 - reinterpret_cast<uintptr_t>(base) % 64) % 64;
    pool.run(m, [&](int64_t row, int) { act_quantize_row(x + row * ldx, k, base + row * rb); });
    for (size_t j = 0; j < outs.size(); ++j) args[j].xq = base;
  }

  pool.run(n_tasks, [&](int64_t task, int) {
    size_t j = 0;
    while (task >= task_end[j]) ++j;
    const int64_t local = task - (j == 0 ? 0 : task_end[j - 1]);
    const int64_t n0 = local * rows_per_task;
    const int64_t n1 = std::min(outs[j].w->rows, n0 + rows_per_task);
    if (m == 1) {
      // Decode streams the task's rows from memory; the kernel prefetches one tile (>= 8 KiB)
      // ahead of the tile it computes, which leaves the first tile of every task to demand
      // misses. Requesting it all at once here overlaps those misses.
      const uint8_t* p = args[j].w + n0 * args[j].row_bytes;
      const int64_t bytes = std::min((n1 - n0) * args[j].row_bytes, std::max<int64_t>(8192, 4 * args[j].row_bytes));
      for (int64_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off, 0, 3);
    }
    matmul_rows(args[j], n0, n1);
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
