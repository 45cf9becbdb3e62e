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
#include <vector>

namespace greta { class ThreadPool; }

namespace greta::ops {

enum class KvType { F32, F16, BF16 };
int64_t kv_type_size(KvType t);
const char* kv_type_name(KvType t);

inline constexpr int32_t kAttnTile = 32;    // KV positions per online-softmax tile
inline constexpr int32_t kAttnChunk = 256;  // KV positions per chunk (a multiple of the tile)

// One layer of the KV cache (storage owned by runtime/kv_cache). K is stored tile-transposed so
// that the scores of a tile are kAttnTile independent lanes (one fused multiply-add chain over
// head_dim each, the same for any SIMD width); V is stored by position. Both are padded to whole
// tiles.
struct KvLayer {
  KvType type = KvType::F32;
  int32_t n_ctx = 0;
  int32_t n_kv_head = 0;
  int32_t head_dim = 0;
  uint8_t* k = nullptr;  // [n_kv_head, n_tiles, head_dim, kAttnTile] in type
  uint8_t* v = nullptr;  // [n_kv_head, n_tiles * kAttnTile, head_dim] in type

  int32_t n_tiles() const { return (n_ctx + kAttnTile - 1) / kAttnTile; }
  // Element index of K[h, pos, d] and V[h, pos, d].
  int64_t k_index(int64_t h, int64_t pos, int64_t d) const {
    return ((h * n_tiles() + pos / kAttnTile) * head_dim + d) * kAttnTile + pos % kAttnTile;
  }
  int64_t v_index(int64_t h, int64_t pos, int64_t d) const {
    return (h * n_tiles() * int64_t{kAttnTile} + pos) * head_dim + d;
  }
  // Bytes of K (or V) storage for the given sizes.
  static int64_t bytes_per_tensor(KvType type, int32_t n_ctx, int32_t n_kv_head, int32_t head_dim);
};

// Rounds K/V rows to the cache type and stores them at positions pos0 .. pos0 + n_rows - 1.
// k, v: [n_rows, n_kv_head * head_dim] f32, row stride ld.
void kv_store(const KvLayer& kv, const float* k, const float* v, int64_t ld, int32_t pos0, int64_t n_rows,
              ThreadPool& pool);

struct AttentionShape {
  int32_t n_head = 0;
  int32_t n_kv_head = 0;  // divides n_head
  int32_t head_dim = 0;
  float scale = 1.0f;     // usually 1 / sqrt(head_dim)
};

// Fresh f32 K/V of the batch being prefilled, read instead of the cache for positions
// [pos0, pos0 + n) (only with kv_aligned = 0). k, v: [n, n_kv_head * head_dim], row stride ld.
struct KvFresh {
  const float* k = nullptr;
  const float* v = nullptr;
  int64_t ld = 0;
  int32_t pos0 = 0;
  int32_t n = 0;
};

// Working memory, allocated once per session.
class AttentionScratch {
 public:
  void reserve(const AttentionShape& shape, int32_t n_ctx, int n_threads);
  float* thread_buffer(int thread) { return per_thread_.data() + static_cast<size_t>(thread) * per_thread_floats_; }
  float* partials() { return partials_.data(); }

 private:
  size_t per_thread_floats_ = 0;
  std::vector<float> per_thread_;  // [n_threads, per_thread_floats_]
  std::vector<float> partials_;    // decode: [n_kv_head, n_chunks, n_group, head_dim + 2]
};

// Prefill: query rows r = 0..n-1 at positions pos0 + r attend to [0, pos0 + r] of the cache
// (or of `fresh` where given). q: [n, n_head * head_dim] stride ldq; out: same shape, stride ldo.
// Tasks: one per (row, KV head), fixed; threads never change a bit.
// PRECONDITIONS: K/V of positions [0, pos0 + n) are in the cache (or in fresh).
void attention_prefill(const AttentionShape& shape, const KvLayer& kv, const KvFresh* fresh, const float* q,
                       int64_t ldq, int32_t pos0, int64_t n, float* out, int64_t ldo, ThreadPool& pool,
                       AttentionScratch& scratch);

// Decode: one query row at position pos over [0, pos]; tasks are (KV head, chunk), merged in
// ascending chunk order. q, out: [n_head * head_dim].
void attention_decode(const AttentionShape& shape, const KvLayer& kv, const float* q, int32_t pos, float* out,
                      ThreadPool& pool, AttentionScratch& scratch);

// Scalar reference for one query row: exact softmax in f64 over the cache.
void attention_reference(const AttentionShape& shape, const KvLayer& kv, const float* q, int32_t pos, float* out);

}  // namespace greta::ops
