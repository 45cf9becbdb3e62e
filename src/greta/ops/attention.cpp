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
  float* s;       // [kAttnTile]
  float* state;   // [n_group, head_dim + 2]
  float* tmp;     // [n_group, head_dim + 2]
};

size_t thread_floats(const AttentionShape& sh) {
  const size_t hd = static_cast<size_t>(sh.head_dim);
  const size_t group = static_cast<size_t>(sh.n_head / sh.n_kv_head);
  return 2 * kAttnTile * hd + kAttnTile + 2 * group * (hd + 2) + 16;
}

ThreadMem thread_mem(const AttentionShape& sh, float* base) {
  const int64_t hd = sh.head_dim;
  const int64_t group = sh.n_head / sh.n_kv_head;
  ThreadMem m;
  m.k_tile = base;
  m.v_tile = m.k_tile + kAttnTile * hd;
  m.s = m.v_tile + kAttnTile * hd;
  m.state = m.s + kAttnTile;
  m.tmp = m.state + group * (hd + 2);
  return m;
}

// Rows [p0, p0 + nt) of KV head kvh from `base` (K or V of the cache), as f32 with stride
// head_dim: a pointer into the cache itself for f32, else converted into buf. Positions covered
// by `fresh` come from its f32 rows instead.
const float* load_rows(const KvLayer& kv, const uint8_t* base, const float* fresh_base, const KvFresh* fresh,
                       int32_t kvh, int32_t p0, int nt, float* buf) {
  const int64_t hd = kv.head_dim;
  const int64_t first = (static_cast<int64_t>(kvh) * kv.n_ctx + p0) * hd;  // element index
  const bool any_fresh = fresh != nullptr && p0 + nt > fresh->pos0;
  if (!any_fresh) {
    switch (kv.type) {
      case KvType::F32:
        return reinterpret_cast<const float*>(base) + first;
      case KvType::F16:
        simd::f16_to_f32(reinterpret_cast<const uint16_t*>(base) + first, buf, nt * hd);
        return buf;
      case KvType::BF16:
        simd::bf16_to_f32(reinterpret_cast<const uint16_t*>(base) + first, buf, nt * hd);
        return buf;
    }
  }
  for (int j = 0; j < nt; ++j) {
    const int32_t p = p0 + j;
    float* dst = buf + j * hd;
    if (p >= fresh->pos0) {
      std::memcpy(dst, fresh_base + (p - fresh->pos0) * fresh->ld + kvh * hd, hd * sizeof(float));
    } else {
      const int64_t e = first + j * hd;
      switch (kv.type) {
        case KvType::F32: std::memcpy(dst, reinterpret_cast<const float*>(base) + e, hd * sizeof(float)); break;
        case KvType::F16: simd::f16_to_f32(reinterpret_cast<const uint16_t*>(base) + e, dst, hd); break;
        case KvType::BF16: simd::bf16_to_f32(reinterpret_cast<const uint16_t*>(base) + e, dst, hd); break;
      }
    }
  }
  return buf;
}

// The partial state of chunk [c0, c1) for the n_group query heads q [n_group, head_dim] that
// share KV head kvh: an online softmax over the chunk's tiles in ascending order. part:
// [n_group, head_dim + 2].
void attend_chunk(const AttentionShape& sh, const KvLayer& kv, const KvFresh* fresh, int32_t kvh, const float* q,
                  int n_group, int32_t c0, int32_t c1, const ThreadMem& tm, float* part) {
  const int64_t hd = sh.head_dim;
  for (int g = 0; g < n_group; ++g) {
    float* st = part + g * (hd + 2);
    std::fill(st, st + hd, 0.0f);
    st[hd] = -std::numeric_limits<float>::infinity();  // m
    st[hd + 1] = 0.0f;                                  // l
  }
  for (int32_t t0 = c0; t0 < c1; t0 += kAttnTile) {
    const int nt = std::min<int32_t>(kAttnTile, c1 - t0);
    const float* kt = load_rows(kv, kv.k, fresh ? fresh->k : nullptr, fresh, kvh, t0, nt, tm.k_tile);
    const float* vt = load_rows(kv, kv.v, fresh ? fresh->v : nullptr, fresh, kvh, t0, nt, tm.v_tile);
    for (int g = 0; g < n_group; ++g) {
      float* st = part + g * (hd + 2);
      simd::attn_scores(q + g * hd, kt, hd, nt, hd, sh.scale, tm.s);
      float m_tile = tm.s[0];
      for (int j = 1; j < nt; ++j) m_tile = std::max(m_tile, tm.s[j]);
      const float m_old = st[hd];
      const float m_new = std::max(m_old, m_tile);
      const float alpha = std::exp(m_old - m_new);  // 0 for the first tile (m_old = -inf)
      float sum = 0.0f;
      for (int j = 0; j < nt; ++j) {
        tm.s[j] = std::exp(tm.s[j] - m_new);
        sum += tm.s[j];
      }
      st[hd + 1] = st[hd + 1] * alpha + sum;
      st[hd] = m_new;
      simd::attn_accumulate(st, alpha, tm.s, vt, hd, nt, hd);
    }
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

int64_t kv_type_size(KvType t) { return t == KvType::F32 ? 4 : 2; }

const char* kv_type_name(KvType t) {
  switch (t) {
    case KvType::F32: return "f32";
    case KvType::F16: return "f16";
    case KvType::BF16: return "bf16";
  }
  return "?";
}

void kv_store(const KvLayer& kv, const float* k, const float* v, int64_t ld, int32_t pos0, int64_t n_rows,
              ThreadPool& pool) {
  GRETA_ASSERT(pos0 >= 0 && pos0 + n_rows <= kv.n_ctx);
  const int64_t hd = kv.head_dim;
  // Tasks: one per (row, KV head); each writes its own cache rows.
  pool.run(n_rows * kv.n_kv_head, [&](int64_t task, int) {
    const int64_t r = task / kv.n_kv_head;
    const int64_t h = task % kv.n_kv_head;
    const int64_t e = (h * kv.n_ctx + pos0 + r) * hd;
    for (int which = 0; which < 2; ++which) {
      const float* src = (which == 0 ? k : v) + r * ld + h * hd;
      uint8_t* base = which == 0 ? kv.k : kv.v;
      switch (kv.type) {
        case KvType::F32:
          std::memcpy(reinterpret_cast<float*>(base) + e, src, hd * sizeof(float));
          break;
        case KvType::F16: {
          uint16_t* dst = reinterpret_cast<uint16_t*>(base) + e;
          for (int64_t d = 0; d < hd; ++d) dst[d] = fp32_to_fp16(src[d]);
          break;
        }
        case KvType::BF16: {
          uint16_t* dst = reinterpret_cast<uint16_t*>(base) + e;
          for (int64_t d = 0; d < hd; ++d) dst[d] = fp32_to_bf16(src[d]);
          break;
        }
      }
    }
  });
}

void AttentionScratch::reserve(const AttentionShape& shape, int32_t n_ctx, int n_threads) {
  per_thread_floats_ = thread_floats(shape);
  per_thread_.assign(per_thread_floats_ * static_cast<size_t>(n_threads), 0.0f);
  const size_t group = static_cast<size_t>(shape.n_head / shape.n_kv_head);
  partials_.assign(static_cast<size_t>(shape.n_kv_head) * n_chunks_for(n_ctx) * group * (shape.head_dim + 2), 0.0f);
}

void attention_prefill(const AttentionShape& sh, const KvLayer& kv, const KvFresh* fresh, const float* q,
                       int64_t ldq, int32_t pos0, int64_t n, float* out, int64_t ldo, ThreadPool& pool,
                       AttentionScratch& scratch) {
  check_shape(sh, kv);
  const int n_group = sh.n_head / sh.n_kv_head;
  const int64_t hd = sh.head_dim;
  const int64_t n_kvh = sh.n_kv_head;
  pool.run(n * n_kvh, [&](int64_t task, int thread) {
    // Rows are visited from both ends (0, n-1, 1, n-2, ...) so that the static contiguous split
    // of tasks gives every thread a similar share of the causal triangle. The mapping does not
    // affect results: each task owns its outputs.
    const int64_t u = task / n_kvh;
    const int32_t kvh = static_cast<int32_t>(task % n_kvh);
    const int64_t r = (u % 2 == 0) ? u / 2 : n - 1 - u / 2;
    const int32_t pos = pos0 + static_cast<int32_t>(r);
    const int32_t n_kv = pos + 1;
    const ThreadMem tm = thread_mem(sh, scratch.thread_buffer(thread));
    const float* qg = q + r * ldq + static_cast<int64_t>(kvh) * n_group * hd;
    for (int32_t c = 0; c < n_chunks_for(n_kv); ++c) {
      const int32_t c0 = c * kAttnChunk;
      const int32_t c1 = std::min(n_kv, c0 + kAttnChunk);
      attend_chunk(sh, kv, fresh, kvh, qg, n_group, c0, c1, tm, c == 0 ? tm.state : tm.tmp);
      if (c > 0) merge_partials(tm.state, tm.tmp, n_group, hd);
    }
    finalize(tm.state, n_group, hd, out + r * ldo + static_cast<int64_t>(kvh) * n_group * hd);
  });
}

void attention_decode(const AttentionShape& sh, const KvLayer& kv, const float* q, int32_t pos, float* out,
                      ThreadPool& pool, AttentionScratch& scratch) {
  check_shape(sh, kv);
  const int n_group = sh.n_head / sh.n_kv_head;
  const int64_t hd = sh.head_dim;
  const int32_t n_kv = pos + 1;
  const int32_t n_chunks = n_chunks_for(n_kv);
  const int64_t part_floats = n_group * (hd + 2);
  float* partials = scratch.partials();  // [n_kv_head, n_chunks, n_group, head_dim + 2]
  pool.run(static_cast<int64_t>(sh.n_kv_head) * n_chunks, [&](int64_t task, int thread) {
    const int32_t kvh = static_cast<int32_t>(task / n_chunks);
    const int32_t c = static_cast<int32_t>(task % n_chunks);
    const int32_t c0 = c * kAttnChunk;
    const int32_t c1 = std::min(n_kv, c0 + kAttnChunk);
    const ThreadMem tm = thread_mem(sh, scratch.thread_buffer(thread));
    const float* qg = q + static_cast<int64_t>(kvh) * n_group * hd;
    float* part = partials + task * part_floats;
    attend_chunk(sh, kv, nullptr, kvh, qg, n_group, c0, c1, tm, part);
    if (n_chunks == 1) finalize(part, n_group, hd, out + static_cast<int64_t>(kvh) * n_group * hd);
  });
  if (n_chunks == 1) return;
  pool.run(sh.n_kv_head, [&](int64_t kvh, int) {
    float* state = partials + kvh * n_chunks * part_floats;
    for (int32_t c = 1; c < n_chunks; ++c) merge_partials(state, state + c * part_floats, n_group, hd);
    finalize(state, n_group, hd, out + kvh * n_group * hd);
  });
}

void attention_reference(const AttentionShape& sh, const KvLayer& kv, const float* q, int32_t pos, float* out) {
  const int64_t hd = sh.head_dim;
  const int n_group = sh.n_head / sh.n_kv_head;
  std::vector<double> s(pos + 1);
  std::vector<float> krow(hd), vrow(hd);
  auto read = [&](const uint8_t* base, int64_t e, float* dst) {
    for (int64_t d = 0; d < hd; ++d) {
      switch (kv.type) {
        case KvType::F32: dst[d] = reinterpret_cast<const float*>(base)[e + d]; break;
        case KvType::F16: dst[d] = fp16_to_fp32(reinterpret_cast<const uint16_t*>(base)[e + d]); break;
        case KvType::BF16: dst[d] = bf16_to_fp32(reinterpret_cast<const uint16_t*>(base)[e + d]); break;
      }
    }
  };
  for (int32_t h = 0; h < sh.n_head; ++h) {
    const int32_t kvh = h / n_group;
    const float* qh = q + h * hd;
    double mx = -std::numeric_limits<double>::infinity();
    for (int32_t p = 0; p <= pos; ++p) {
      read(kv.k, (static_cast<int64_t>(kvh) * kv.n_ctx + p) * hd, krow.data());
      double dot = 0.0;
      for (int64_t d = 0; d < hd; ++d) dot += static_cast<double>(qh[d]) * krow[d];
      s[p] = dot * sh.scale;
      mx = std::max(mx, s[p]);
    }
    double sum = 0.0;
    for (int32_t p = 0; p <= pos; ++p) sum += (s[p] = std::exp(s[p] - mx));
    std::vector<double> acc(hd, 0.0);
    for (int32_t p = 0; p <= pos; ++p) {
      read(kv.v, (static_cast<int64_t>(kvh) * kv.n_ctx + p) * hd, vrow.data());
      for (int64_t d = 0; d < hd; ++d) acc[d] += s[p] / sum * vrow[d];
    }
    for (int64_t d = 0; d < hd; ++d) out[h * hd + d] = static_cast<float>(acc[d]);
  }
}

}  // namespace greta::ops
