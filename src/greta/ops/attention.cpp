#include "greta/ops/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "greta/core/error.h"
#include "greta/core/thread_pool.h"
#include "greta/ops/simd.h"
#include "greta/quant/quant.h"

namespace greta::ops {
namespace {

static_assert(kAttnChunk % kAttnTile == 0, "chunks are made of whole tiles");

// Layout of a partial state: [acc (head_dim), m, l].
struct ThreadMem {
  float* k_tile;  // [kAttnTile, head_dim]
  float* v_tile;  // [kAttnTile, head_dim]
  float* s;       // [n_group, kAttnTile] scores, then probabilities
  float* alpha;   // [n_group] rescale factors of the running state
  float* state;   // [n_group, head_dim + 2]
  float* tmp;     // [n_group, head_dim + 2]
};

size_t thread_floats(const AttentionShape& sh) {
  const size_t hd = static_cast<size_t>(sh.head_dim);
  const size_t group = static_cast<size_t>(sh.n_head / sh.n_kv_head);
  return 2 * kAttnTile * hd + group * (kAttnTile + 1) + 2 * group * (hd + 2) + 16;
}

ThreadMem thread_mem(const AttentionShape& sh, float* base) {
  const int64_t hd = sh.head_dim;
  const int64_t group = sh.n_head / sh.n_kv_head;
  ThreadMem m;
  m.k_tile = base;
  m.v_tile = m.k_tile + kAttnTile * hd;
  m.s = m.v_tile + kAttnTile * hd;
  m.alpha = m.s + group * kAttnTile;
  m.state = m.alpha + group;
  m.tmp = m.state + group * (hd + 2);
  return m;
}

// Converts n cache elements at element index e of `base` to f32.
void to_f32(KvType type, const uint8_t* base, int64_t e, float* dst, int64_t n) {
  switch (type) {
    case KvType::F32: std::memcpy(dst, reinterpret_cast<const float*>(base) + e, n * sizeof(float)); break;
    case KvType::F16: simd::f16_to_f32(reinterpret_cast<const uint16_t*>(base) + e, dst, n); break;
    case KvType::BF16: simd::bf16_to_f32(reinterpret_cast<const uint16_t*>(base) + e, dst, n); break;
  }
}

bool covers_fresh(const KvFresh* fresh, int32_t p0, int nt) {
  return fresh != nullptr && fresh->n > 0 && p0 + nt > fresh->pos0;
}

// The K tile starting at position p0 (a multiple of the tile), [head_dim, kAttnTile] f32: a
// pointer into the cache itself for f32, else converted into buf. Positions covered by `fresh`
// come from its f32 rows instead.
const float* load_k_tile(const KvLayer& kv, const int32_t* table, const KvFresh* fresh, int32_t kvh, int32_t p0,
                        int nt, float* buf) {
  const int64_t hd = kv.head_dim;
  const int64_t first = kv.k_index(table, kvh, p0, 0);
  if (kv.type == KvType::F32 && !covers_fresh(fresh, p0, nt)) return reinterpret_cast<const float*>(kv.k) + first;
  to_f32(kv.type, kv.k, first, buf, hd * kAttnTile);
  if (covers_fresh(fresh, p0, nt)) {
    for (int j = std::max(0, fresh->pos0 - p0); j < nt; ++j) {
      const float* src = fresh->k + (p0 + j - fresh->pos0) * fresh->ld + kvh * hd;
      for (int64_t d = 0; d < hd; ++d) buf[d * kAttnTile + j] = src[d];
    }
  }
  return buf;
}

// V rows [p0, p0 + nt), [nt, head_dim] f32, the same way.
const float* load_v_rows(const KvLayer& kv, const int32_t* table, const KvFresh* fresh, int32_t kvh, int32_t p0,
                        int nt, float* buf) {
  const int64_t hd = kv.head_dim;
  const int64_t first = kv.v_index(table, kvh, p0, 0);
  if (kv.type == KvType::F32 && !covers_fresh(fresh, p0, nt)) return reinterpret_cast<const float*>(kv.v) + first;
  to_f32(kv.type, kv.v, first, buf, hd * nt);
  if (covers_fresh(fresh, p0, nt)) {
    for (int j = std::max(0, fresh->pos0 - p0); j < nt; ++j) {
      std::memcpy(buf + j * hd, fresh->v + (p0 + j - fresh->pos0) * fresh->ld + kvh * hd, hd * sizeof(float));
    }
  }
  return buf;
}

// The partial state of chunk [c0, c1) for the n_group query heads q [n_group, head_dim] that
// share KV head kvh: an online softmax over the chunk's tiles in ascending order. Every tile is
// scored over all kAttnTile lanes; lanes at or beyond c1 (the causal edge) are ignored.
// part: [n_group, head_dim + 2].
void attend_chunk(const AttentionShape& sh, const KvLayer& kv, const int32_t* table, const KvFresh* fresh, int32_t kvh,
                  const float* q, int n_group, int32_t c0, int32_t c1, const ThreadMem& tm, float* part) {
  const int64_t hd = sh.head_dim;
  for (int g = 0; g < n_group; ++g) {
    float* st = part + g * (hd + 2);
    std::fill(st, st + hd, 0.0f);
    st[hd] = -std::numeric_limits<float>::infinity();  // m
    st[hd + 1] = 0.0f;                                  // l
  }
  for (int32_t t0 = c0; t0 < c1; t0 += kAttnTile) {
    const int nt = std::min<int32_t>(kAttnTile, c1 - t0);
    const float* kt = load_k_tile(kv, table, fresh, kvh, t0, nt, tm.k_tile);
    const float* vt = load_v_rows(kv, table, fresh, kvh, t0, nt, tm.v_tile);
    simd::attn_group_scores(q, n_group, kt, hd, kAttnTile, sh.scale, tm.s);
    for (int g = 0; g < n_group; ++g) {
      float* st = part + g * (hd + 2);
      float* sg = tm.s + g * kAttnTile;
      float m_tile = sg[0];
      for (int j = 1; j < nt; ++j) m_tile = std::max(m_tile, sg[j]);
      const float m_old = st[hd];
      const float m_new = std::max(m_old, m_tile);
      tm.alpha[g] = std::exp(m_old - m_new);  // 0 for the first tile (m_old = -inf)
      simd::exp_shifted(sg, m_new, nt);
      float sum = 0.0f;
      for (int j = 0; j < nt; ++j) sum += sg[j];
      st[hd + 1] = st[hd + 1] * tm.alpha[g] + sum;
      st[hd] = m_new;
    }
    simd::attn_group_accumulate(part, hd + 2, tm.alpha, tm.s, kAttnTile, vt, hd, nt, hd, n_group);
  }
}

// state = merge(state, part), both [n_group, head_dim + 2].
void merge_partials(float* state, const float* part, int n_group, int64_t hd) {
  for (int g = 0; g < n_group; ++g) {
    float* a = state + g * (hd + 2);
    const float* b = part + g * (hd + 2);
    const float m = std::max(a[hd], b[hd]);
    const float ea = std::exp(a[hd] - m);
    const float eb = std::exp(b[hd] - m);
    simd::lerp2(a, ea, b, eb, a, hd);
    a[hd + 1] = a[hd + 1] * ea + b[hd + 1] * eb;
    a[hd] = m;
  }
}

// out [n_group, head_dim] = acc / l.
void finalize(const float* state, int n_group, int64_t hd, float* out) {
  for (int g = 0; g < n_group; ++g) {
    const float* st = state + g * (hd + 2);
    const float inv = 1.0f / st[hd + 1];
    for (int64_t d = 0; d < hd; ++d) out[g * hd + d] = st[d] * inv;
  }
}

int32_t n_chunks_for(int32_t n_kv) { return (n_kv + kAttnChunk - 1) / kAttnChunk; }

void check_shape(const AttentionShape& sh, const KvLayer& kv) {
  GRETA_ASSERT(sh.n_kv_head > 0 && sh.n_head % sh.n_kv_head == 0);
  GRETA_ASSERT(kv.n_kv_head == sh.n_kv_head && kv.head_dim == sh.head_dim);
}

}  // namespace

void kv_store(const KvLayer& kv, const float* k, const float* v, int64_t ld, std::span<const KvRow> rows,
              ThreadPool& pool) {
  const int64_t hd = kv.head_dim;
  auto put = [&](uint8_t* base, int64_t e, float x) {
    switch (kv.type) {
      case KvType::F32: reinterpret_cast<float*>(base)[e] = x; break;
      case KvType::F16: reinterpret_cast<uint16_t*>(base)[e] = fp32_to_fp16(x); break;
      case KvType::BF16: reinterpret_cast<uint16_t*>(base)[e] = fp32_to_bf16(x); break;
    }
  };
  // Tasks: one per row (a decode step runs inline, without a pool round trip); each writes its
  // own cache elements.
  pool.run(static_cast<int64_t>(rows.size()), [&](int64_t r, int) {
    const KvRow& row = rows[static_cast<size_t>(r)];
    for (int64_t h = 0; h < kv.n_kv_head; ++h) {
      const float* ks = k + r * ld + h * hd;
      const float* vs = v + r * ld + h * hd;
      for (int64_t d = 0; d < hd; ++d) put(kv.k, kv.k_index(row.table, h, row.pos, d), ks[d]);
      const int64_t ve = kv.v_index(row.table, h, row.pos, 0);
      for (int64_t d = 0; d < hd; ++d) put(kv.v, ve + d, vs[d]);
    }
  });
}

void AttentionScratch::reserve(const AttentionShape& shape, int n_threads) {
  per_thread_floats_ = thread_floats(shape);
  per_thread_.assign(per_thread_floats_ * static_cast<size_t>(n_threads), 0.0f);
}

void attention(const AttentionShape& sh, const KvLayer& kv, std::span<const AttnRow> rows, const float* q,
               int64_t ldq, float* out, int64_t ldo, ThreadPool& pool, AttentionScratch& scratch) {
  check_shape(sh, kv);
  const int n_group = sh.n_head / sh.n_kv_head;
  const int64_t hd = sh.head_dim;
  const int64_t n_kvh = sh.n_kv_head;
  const int64_t n = static_cast<int64_t>(rows.size());
  auto fresh_of = [](const AttnRow& row) { return row.fresh.n > 0 ? &row.fresh : nullptr; };
  auto q_of = [&](int64_t r, int32_t kvh) { return q + r * ldq + static_cast<int64_t>(kvh) * n_group * hd; };
  auto out_of = [&](int64_t r, int32_t kvh) { return out + r * ldo + static_cast<int64_t>(kvh) * n_group * hd; };

  // Few (row, head) pairs for the threads (decode steps): split the long rows into chunk tasks.
  int64_t n_chunk_tasks = 0;
  for (const AttnRow& row : rows) n_chunk_tasks += n_chunks_for(row.kv.pos + 1) * n_kvh;
  const bool split = n * n_kvh < 2 * static_cast<int64_t>(pool.n_threads()) && n_chunk_tasks > n * n_kvh;
  if (!split) {
    pool.run(n * n_kvh, [&](int64_t task, int thread) {
      // Rows are visited from both ends (0, n-1, 1, n-2, ...) so that the static contiguous
      // split of tasks gives every thread a similar share of a causal triangle. The mapping does
      // not affect results: each task owns its outputs.
      const int64_t u = task / n_kvh;
      const int32_t kvh = static_cast<int32_t>(task % n_kvh);
      const int64_t r = (u % 2 == 0) ? u / 2 : n - 1 - u / 2;
      const AttnRow& row = rows[static_cast<size_t>(r)];
      const int32_t n_kv = row.kv.pos + 1;
      const ThreadMem tm = thread_mem(sh, scratch.thread_buffer(thread));
      for (int32_t c = 0; c < n_chunks_for(n_kv); ++c) {
        const int32_t c0 = c * kAttnChunk;
        const int32_t c1 = std::min(n_kv, c0 + kAttnChunk);
        attend_chunk(sh, kv, row.kv.table, fresh_of(row), kvh, q_of(r, kvh), n_group, c0, c1, tm,
                     c == 0 ? tm.state : tm.tmp);
        if (c > 0) merge_partials(tm.state, tm.tmp, n_group, hd);
      }
      finalize(tm.state, n_group, hd, out_of(r, kvh));
    });
    return;
  }

  // Chunk tasks: task t covers (row, KV head, chunk) in that nesting; partials merged by the
  // caller in ascending chunk order (a few microseconds: no second pool round trip).
  const int64_t part_floats = n_group * (hd + 2);
  std::vector<int64_t> first_task(static_cast<size_t>(n) + 1, 0);  // per row
  for (int64_t r = 0; r < n; ++r) {
    first_task[r + 1] = first_task[r] + n_chunks_for(rows[static_cast<size_t>(r)].kv.pos + 1) * n_kvh;
  }
  float* partials = scratch.partials(static_cast<size_t>(n_chunk_tasks * part_floats));
  pool.run(n_chunk_tasks, [&](int64_t task, int thread) {
    const int64_t r = std::upper_bound(first_task.begin(), first_task.end(), task) - first_task.begin() - 1;
    const AttnRow& row = rows[static_cast<size_t>(r)];
    const int32_t n_kv = row.kv.pos + 1;
    const int32_t n_chunks = n_chunks_for(n_kv);
    const int64_t local = task - first_task[r];
    const int32_t kvh = static_cast<int32_t>(local / n_chunks);
    const int32_t c = static_cast<int32_t>(local % n_chunks);
    const int32_t c0 = c * kAttnChunk;
    const int32_t c1 = std::min(n_kv, c0 + kAttnChunk);
    const ThreadMem tm = thread_mem(sh, scratch.thread_buffer(thread));
    attend_chunk(sh, kv, row.kv.table, fresh_of(row), kvh, q_of(r, kvh), n_group, c0, c1, tm,
                 partials + task * part_floats);
  });
  for (int64_t r = 0; r < n; ++r) {
    const int32_t n_chunks = n_chunks_for(rows[static_cast<size_t>(r)].kv.pos + 1);
    for (int32_t kvh = 0; kvh < sh.n_kv_head; ++kvh) {
      float* state = partials + (first_task[r] + int64_t{kvh} * n_chunks) * part_floats;
      for (int32_t c = 1; c < n_chunks; ++c) merge_partials(state, state + c * part_floats, n_group, hd);
      finalize(state, n_group, hd, out_of(r, kvh));
    }
  }
}

void attention_reference(const AttentionShape& sh, const KvLayer& kv, const int32_t* table, const float* q,
                         int32_t pos, float* out) {
  const int64_t hd = sh.head_dim;
  const int n_group = sh.n_head / sh.n_kv_head;
  std::vector<double> s(pos + 1);
  std::vector<float> krow(hd), vrow(hd);
  auto get = [&](const uint8_t* base, int64_t e) {
    switch (kv.type) {
      case KvType::F32: return reinterpret_cast<const float*>(base)[e];
      case KvType::F16: return fp16_to_fp32(reinterpret_cast<const uint16_t*>(base)[e]);
      case KvType::BF16: return bf16_to_fp32(reinterpret_cast<const uint16_t*>(base)[e]);
    }
    return 0.0f;
  };
  for (int32_t h = 0; h < sh.n_head; ++h) {
    const int32_t kvh = h / n_group;
    const float* qh = q + h * hd;
    double mx = -std::numeric_limits<double>::infinity();
    for (int32_t p = 0; p <= pos; ++p) {
      for (int64_t d = 0; d < hd; ++d) krow[d] = get(kv.k, kv.k_index(table, kvh, p, d));
      double dot = 0.0;
      for (int64_t d = 0; d < hd; ++d) dot += static_cast<double>(qh[d]) * krow[d];
      s[p] = dot * sh.scale;
      mx = std::max(mx, s[p]);
    }
    double sum = 0.0;
    for (int32_t p = 0; p <= pos; ++p) sum += (s[p] = std::exp(s[p] - mx));
    std::vector<double> acc(hd, 0.0);
    for (int32_t p = 0; p <= pos; ++p) {
      for (int64_t d = 0; d < hd; ++d) vrow[d] = get(kv.v, kv.v_index(table, kvh, p, d));
      for (int64_t d = 0; d < hd; ++d) acc[d] += s[p] / sum * vrow[d];
    }
    for (int64_t d = 0; d < hd; ++d) out[h * hd + d] = static_cast<float>(acc[d]);
  }
}

}  // namespace greta::ops
