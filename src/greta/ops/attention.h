#pragma once
// Causal grouped-query attention over the KV cache.
//
// Equivalence design (docs/ARCHITECTURE.md): the output of one (query row, head) is defined by
// one procedure, whichever path runs it. The KV range [0, pos] is cut into chunks of kAttnChunk
// positions at absolute boundaries; each chunk is an online softmax over tiles of kAttnTile
// positions (absolute boundaries too; the last tile simply stops at pos), and the chunk partials
// (max, sum, accumulator) are merged in ascending order. Prefill runs the chunks of a row one
// after another in one task; decode runs them as parallel tasks and merges afterwards: the same
// floating-point operations in the same order.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "greta/backend/backend.h"

namespace greta { class ThreadPool; }

namespace greta::ops {

using greta::KvType;
using greta::kv_type_name;
using greta::kv_type_size;
using backend::kAttnChunk;
using backend::kAttnTile;
using backend::kKvBlock;

// One layer of the paged KV pool (storage owned by the backend; layout in backend::KvSpec):
// block b holds K [n_kv_head, head_dim, kKvBlock] (tile-transposed, so that the scores of a tile
// are kAttnTile independent lanes: one fused multiply-add chain over head_dim each, the same for
// any SIMD width) and V [n_kv_head, kKvBlock, head_dim].
struct KvLayer {
  KvType type = KvType::F32;
  int32_t n_blocks = 0;
  int32_t n_kv_head = 0;
  int32_t head_dim = 0;
  uint8_t* k = nullptr;  // [n_blocks, n_kv_head, head_dim, kKvBlock] in type
  uint8_t* v = nullptr;  // [n_blocks, n_kv_head, kKvBlock, head_dim] in type

  // Element index of K[h, pos, d] and V[h, pos, d] for a sequence whose block table is `table`.
  int64_t k_index(const int32_t* table, int64_t h, int64_t pos, int64_t d) const {
    return ((int64_t{table[pos / kKvBlock]} * n_kv_head + h) * head_dim + d) * kKvBlock + pos % kKvBlock;
  }
  int64_t v_index(const int32_t* table, int64_t h, int64_t pos, int64_t d) const {
    return ((int64_t{table[pos / kKvBlock]} * n_kv_head + h) * kKvBlock + pos % kKvBlock) * head_dim + d;
  }
};

// Where one row's K/V live and what it attends to: its sequence's block table and its position.
struct KvRow {
  const int32_t* table = nullptr;
  int32_t pos = 0;
};

// Rounds K/V rows to the cache type and stores row r at (rows[r].table, rows[r].pos).
// k, v: [n_rows, n_kv_head * head_dim] f32, row stride ld.
void kv_store(const KvLayer& kv, const float* k, const float* v, int64_t ld, std::span<const KvRow> rows,
              ThreadPool& pool);

using AttentionShape = backend::AttnParams;

// Fresh f32 K/V of the batch being prefilled, read instead of the cache for positions
// [pos0, pos0 + n) of the row's sequence (only with kv_aligned = 0). k, v: [n, n_kv_head *
// head_dim], row stride ld: the row for position pos0 first.
struct KvFresh {
  const float* k = nullptr;
  const float* v = nullptr;
  int64_t ld = 0;
  int32_t pos0 = 0;
  int32_t n = 0;
};

// Working memory, allocated once per context; the chunk partials grow on demand.
class AttentionScratch {
 public:
  void reserve(const AttentionShape& shape, int n_threads);
  float* thread_buffer(int thread) { return per_thread_.data() + static_cast<size_t>(thread) * per_thread_floats_; }
  float* partials(size_t floats) {
    if (partials_.size() < floats) partials_.resize(floats);
    return partials_.data();
  }

 private:
  size_t per_thread_floats_ = 0;
  std::vector<float> per_thread_;  // [n_threads, per_thread_floats_]
  std::vector<float> partials_;    // chunk-parallel schedule: [tasks, n_group, head_dim + 2]
};

// One query row of a batch: its KV (table, pos: attends to [0, pos]) and, with kv_aligned = 0,
// the fresh rows of its run (fresh.n == 0: none).
struct AttnRow {
  KvRow kv;
  KvFresh fresh;
};

// Attention of every row of a batch. q: [n_rows, n_head * head_dim] stride ldq; out: same
// shape, stride ldo. The output of one (row, head) is one procedure whichever schedule runs it:
// chunks of kAttnChunk positions at absolute boundaries, each an online softmax over tiles of
// kAttnTile, merged in ascending chunk order. Schedules (chosen by the amount of work, never
// changing a bit): many rows -> one task per (row, KV head) running its chunks in order; few rows
// -> one task per (row, KV head, chunk), merged afterwards in ascending order.
// PRECONDITIONS: K/V of every row's positions [0, pos] are in the cache (or in its fresh rows).
void attention(const AttentionShape& shape, const KvLayer& kv, std::span<const AttnRow> rows, const float* q,
               int64_t ldq, float* out, int64_t ldo, ThreadPool& pool, AttentionScratch& scratch);

// Scalar reference for one query row: exact softmax in f64 over the cache.
void attention_reference(const AttentionShape& shape, const KvLayer& kv, const int32_t* table, const float* q,
                         int32_t pos, float* out);

}  // namespace greta::ops
