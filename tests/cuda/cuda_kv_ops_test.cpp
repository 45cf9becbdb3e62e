// The KV cache and attention ops of the CUDA backend against the CPU backend (see
// cuda_ops_test.cpp for the method): kv_store and kv_copy_block bit-exact in the paged layout
// of backend.h's KvSpec, attention within a derived bound (and bit-exact over one position),
// attention with fresh rows (kv-aligned 0), row invariance of attention on the GPU, and a
// recorded step (CUDA graph) replaying bit-identical to direct launches.

#include <cstdlib>

#include "cuda_ops_util.h"

namespace greta {
namespace {

using namespace cuda_ops_test;
using backend::Tensor;
using backend::Weight;
using cuda::CudaBackend;

// ---- KV cache and attention ----

// Sequences with non-contiguous, shuffled block tables in one pool; positions cross tile (32)
// and chunk (256) boundaries.
struct KvScene {
  int32_t n_layer = 2, n_head = 8, n_kv_head = 2, head_dim = 0, n_blocks = 40;
  std::vector<int32_t> lens = {300, 45, 1, 257};
  Rows cache;  // one row per cached position of every sequence
  int32_t stride = 0;
  std::vector<int32_t> tables;
  std::vector<std::vector<float>> k, v;  // per layer [cache rows, n_kv_head * head_dim]

  explicit KvScene(int32_t hd) : head_dim(hd) {
    for (int32_t l : lens) stride = std::max(stride, (l + 31) / 32);
    const std::vector<int32_t> ids = shuffled(n_blocks, 81u);
    tables.assign(lens.size() * static_cast<size_t>(stride), -1);
    size_t next = 0;
    for (size_t s = 0; s < lens.size(); ++s) {
      for (int32_t b = 0; b < (lens[s] + 31) / 32; ++b) tables[s * stride + b] = ids[next++];
    }
    cache.tables = tables;
    cache.n_tables = static_cast<int32_t>(lens.size());
    cache.stride = stride;
    for (size_t s = 0; s < lens.size(); ++s) {
      for (int32_t p = 0; p < lens[s]; ++p) cache.add(static_cast<int32_t>(s), p);
    }
    cache.out_rows = {0};
    const size_t n = static_cast<size_t>(cache.n()) * kv_cols();
    for (int32_t l = 0; l < n_layer; ++l) {
      k.push_back(random_vec(n, 90u + l, 2.0f));
      v.push_back(random_vec(n, 95u + l, 1.0f));
    }
  }
  int64_t kv_cols() const { return int64_t{n_kv_head} * head_dim; }
  int64_t q_cols() const { return int64_t{n_head} * head_dim; }
  backend::KvSpec spec(KvType t) const { return {n_layer, n_blocks, n_kv_head, head_dim, t}; }
  backend::AttnParams attn() const { return {n_head, n_kv_head, head_dim, 1.0f / std::sqrt(static_cast<float>(head_dim))}; }
  // Query rows over the cached sequences (sequence, position), in batch order.
  Rows queries(const std::vector<std::pair<int32_t, int32_t>>& sp) const {
    Rows r;
    r.tables = tables;
    r.n_tables = cache.n_tables;
    r.stride = stride;
    for (auto [s, p] : sp) r.add(s, p);
    r.out_rows = {0};
    return r;
  }
};

float kv_round(KvType t, float f) {
  if (t == KvType::F16) return fp16_to_fp32(fp32_to_fp16(f));
  if (t == KvType::BF16) return bf16_to_fp32(fp32_to_bf16(f));
  return f;
}

// The pool element (layer, block, head, position slot, dim) as float, in the documented layout.
float pool_value(const std::vector<uint8_t>& pool, const backend::KvSpec& sp, bool is_k, int32_t l, int32_t b,
                 int32_t h, int32_t slot, int32_t d) {
  const int64_t head = ((int64_t{l} * sp.n_blocks + b) * sp.n_kv_head + h) * sp.head_dim * backend::kKvBlock;
  const int64_t i = head + (is_k ? int64_t{d} * backend::kKvBlock + slot : int64_t{slot} * sp.head_dim + d);
  if (sp.type == KvType::F32) {
    float f;
    std::memcpy(&f, &pool[i * 4], 4);
    return f;
  }
  uint16_t u;
  std::memcpy(&u, &pool[i * 2], 2);
  return sp.type == KvType::F16 ? fp16_to_fp32(u) : bf16_to_fp32(u);
}

TEST_F(CudaOps, KvStoreAndCopyBlockAreExactInThePagedLayout) {
  for (KvType t : kKvTypes) {
    SCOPED_TRACE(kv_type_name(t));
    KvScene sc(36);
    const backend::KvSpec sp = sc.spec(t);
    gpu_->kv_init(sp);
    gpu_->set_batch(sc.cache.get());
    // Layer 1 only: layer 0 must stay zero.
    Twin k = twin(sc.cache.n(), sc.kv_cols(), sc.k[1]), v = twin(sc.cache.n(), sc.kv_cols(), sc.v[1]);
    gpu_->kv_store(1, k.g, v.g);
    std::vector<uint8_t> kp, vp;
    gpu_->read_kv_pool(kp, vp);
    ASSERT_EQ(static_cast<int64_t>(kp.size() + vp.size()), sp.bytes());
    int bad = 0;
    for (int32_t r = 0; r < sc.cache.n(); ++r) {
      const int32_t s = sc.cache.seq[r], p = sc.cache.pos[r];
      const int32_t b = sc.tables[static_cast<size_t>(s) * sc.stride + p / 32];
      for (int32_t h = 0; h < sc.n_kv_head; ++h) {
        for (int32_t d = 0; d < sc.head_dim; ++d) {
          const size_t i = static_cast<size_t>(r) * sc.kv_cols() + h * sc.head_dim + d;
          const float ek = kv_round(t, sc.k[1][i]), ev = kv_round(t, sc.v[1][i]);
          const float gk = pool_value(kp, sp, true, 1, b, h, p % 32, d), gv = pool_value(vp, sp, false, 1, b, h, p % 32, d);
          bad += std::memcmp(&ek, &gk, 4) != 0 || std::memcmp(&ev, &gv, 4) != 0;
          bad += pool_value(kp, sp, true, 0, b, h, p % 32, d) != 0.0f;
        }
      }
    }
    EXPECT_EQ(bad, 0) << "K/V elements not where the KvSpec layout puts them, or not rounded as the CPU";

    // Copy-on-write: block of (seq 0, positions 32..63) to a free block, in every layer.
    const int32_t src = sc.tables[1];
    std::vector<bool> used(sc.n_blocks, false);
    for (int32_t id : sc.tables) {
      if (id >= 0) used[id] = true;
    }
    const int32_t dst = static_cast<int32_t>(std::find(used.begin(), used.end(), false) - used.begin());
    ASSERT_LT(dst, sc.n_blocks);
    gpu_->kv_store(0, k.g, v.g);
    gpu_->kv_copy_block(src, dst);
    std::vector<uint8_t> kq, vq;
    gpu_->read_kv_pool(kq, vq);
    const size_t block = static_cast<size_t>(sp.block_elements() * kv_type_size(t));
    for (int32_t l = 0; l < sc.n_layer; ++l) {
      const size_t at_s = (static_cast<size_t>(l) * sc.n_blocks + src) * block;
      const size_t at_d = (static_cast<size_t>(l) * sc.n_blocks + dst) * block;
      EXPECT_EQ(std::memcmp(&kq[at_s], &kq[at_d], block), 0) << "layer " << l;
      EXPECT_EQ(std::memcmp(&vq[at_s], &vq[at_d], block), 0) << "layer " << l;
    }
  }
}

// Stores the scene's cache in both backends (every layer).
void store_scene(backend::Backend& cpu, CudaBackend& gpu, const KvScene& sc, KvType t,
                 const std::function<Tensor(backend::Backend&, const std::vector<float>&)>& make) {
  cpu.kv_init(sc.spec(t));
  gpu.kv_init(sc.spec(t));
  cpu.set_batch(sc.cache.get());
  gpu.set_batch(sc.cache.get());
  for (int32_t l = 0; l < sc.n_layer; ++l) {
    cpu.kv_store(l, make(cpu, sc.k[l]), make(cpu, sc.v[l]));
    gpu.kv_store(l, make(gpu, sc.k[l]), make(gpu, sc.v[l]));
  }
}

// Attention of one query row: the two backends' scores s_j differ by at most
// 2·(hd + 2)·u·S (S = max_j scale·Σ_d |q_d k_jd|), which moves each softmax weight by a relative
// 2× that; with exp's own error (a few ulp on either side, 64u allowed) the output, a convex
// combination of V rows, differs by at most max|v|·(4·(hd + 2)·u·S + 64u).
double attention_bound(const KvScene& sc, KvType t, const std::vector<float>& q, int32_t s, int32_t p, int32_t h,
                       const std::function<const float*(int32_t, bool)>& kv_row) {
  const int32_t hk = h / (sc.n_head / sc.n_kv_head);
  double smax = 0, vmax = 0;
  for (int32_t j = 0; j <= p; ++j) {
    const float* kr = kv_row(j, true) + hk * sc.head_dim;
    const float* vr = kv_row(j, false) + hk * sc.head_dim;
    double sum = 0;
    for (int32_t d = 0; d < sc.head_dim; ++d) {
      sum += std::fabs(double{q[static_cast<size_t>(h) * sc.head_dim + d]} * kv_round(t, kr[d]));
      vmax = std::max(vmax, std::fabs(double{kv_round(t, vr[d])}));
    }
    smax = std::max(smax, sum * sc.attn().scale);
  }
  return vmax * (4.0 * (sc.head_dim + 2) * kU * smax + 64 * kU);
}

TEST_F(CudaOps, AttentionMatchesCpuAndIsRowInvariant) {
  // Few rows past position 255 take the parallel form (chunk states, then an ordered merge),
  // many rows the sequential one: the invariance check below compares the two.
  setenv("GRETA_CUDA_ATTN_SPLIT_POS", "256", 1);
  double worst = 0;
  for (int32_t hd : {36, 64}) {
    for (KvType t : kKvTypes) {
      SCOPED_TRACE(std::string(kv_type_name(t)) + " head_dim " + std::to_string(hd));
      KvScene sc(hd);
      const int64_t n_cache = sc.cache.n();
      auto maker = [&](backend::Backend& be, const std::vector<float>& host) {
        Tensor x = be.alloc(n_cache, sc.kv_cols());
        if (&be == gpu_.get()) {
          gpu_->write(x, host.data());
        } else {
          for (int64_t r = 0; r < n_cache; ++r) std::memcpy(x.data + r * x.ld, &host[r * sc.kv_cols()], sc.kv_cols() * 4);
        }
        return x;
      };
      store_scene(*cpu_, *gpu_, sc, t, maker);
      // Queries: tile and chunk boundaries of every sequence.
      std::vector<std::pair<int32_t, int32_t>> sp = {{0, 0},  {0, 31},  {0, 32},  {0, 255}, {0, 256}, {0, 257},
                                                     {0, 299}, {1, 0},  {1, 33},  {1, 44},  {2, 0},   {3, 255},
                                                     {3, 256}, {3, 128}, {1, 1},  {0, 100}, {3, 0}};
      for (int32_t n : kRowCounts) {
        std::vector<std::pair<int32_t, int32_t>> pick;
        std::mt19937 rng(static_cast<uint32_t>(n + hd));
        for (int32_t i = 0; i < n; ++i) {
          if (i < static_cast<int32_t>(sp.size())) {
            pick.push_back(sp[i]);
          } else {
            const int32_t s = static_cast<int32_t>(rng() % sc.lens.size());
            pick.emplace_back(s, static_cast<int32_t>(rng() % sc.lens[s]));
          }
        }
        const Rows r = sc.queries(pick);
        set_batch(r);
        const auto qs = random_vec(static_cast<size_t>(n * sc.q_cols()), 101u + static_cast<uint32_t>(n), 2.0f);
        Twin q = twin(n, sc.q_cols(), qs), out = twin_zero(n, sc.q_cols());
        Twin none = twin_zero(1, sc.kv_cols());
        const int32_t layer = 1;
        cpu_->attention(layer, sc.attn(), q.c, none.c, none.c, out.c);
        gpu_->attention(layer, sc.attn(), q.g, none.g, none.g, out.g);
        const auto c = read_cpu(out.c), g = read_gpu(out.g);
        int bad = 0;
        for (int32_t i = 0; i < n; ++i) {
          const auto [s, p] = pick[i];
          // The cache row of (s, j): rows of sequence s start at the sum of the earlier lengths.
          int32_t first = 0;
          for (int32_t e = 0; e < s; ++e) first += sc.lens[e];
          auto kv_row = [&](int32_t j, bool is_k) {
            return (is_k ? sc.k[layer] : sc.v[layer]).data() + static_cast<size_t>(first + j) * sc.kv_cols();
          };
          const std::vector<float> qrow = row_of(qs, sc.q_cols(), i);
          for (int32_t h = 0; h < sc.n_head; ++h) {
            const double tol = attention_bound(sc, t, qrow, s, p, h, kv_row);
            for (int32_t d = 0; d < hd; ++d) {
              const size_t at = static_cast<size_t>(i) * sc.q_cols() + h * hd + d;
              const double diff = std::fabs(double{c[at]} - g[at]);
              worst = std::max(worst, diff);
              bad += diff > tol;
              // One position: the output is the stored V row, exactly, on both backends.
              if (p == 0) {
                const float ev = kv_round(t, kv_row(0, false)[(h / (sc.n_head / sc.n_kv_head)) * hd + d]);
                bad += std::memcmp(&ev, &g[at], 4) != 0 || std::memcmp(&ev, &c[at], 4) != 0;
              }
            }
          }
        }
        EXPECT_EQ(bad, 0) << "rows " << n;
        if (n != 64) continue;
        // Invariance on the GPU: the 64 rows in shuffled order, and each row alone.
        const std::vector<int32_t> perm = shuffled(n, 111u + static_cast<uint32_t>(hd));
        std::vector<std::pair<int32_t, int32_t>> pick_s;
        std::vector<float> q_s;
        for (int32_t pi : perm) {
          pick_s.push_back(pick[pi]);
          const auto row = row_of(qs, sc.q_cols(), pi);
          q_s.insert(q_s.end(), row.begin(), row.end());
        }
        gpu_->set_batch(sc.queries(pick_s).get());
        Twin q2 = twin(n, sc.q_cols(), q_s), o2 = twin_zero(n, sc.q_cols());
        gpu_->attention(layer, sc.attn(), q2.g, none.g, none.g, o2.g);
        const auto gs = read_gpu(o2.g);
        int differ = 0;
        Twin q1 = twin_zero(1, sc.q_cols()), o1 = twin_zero(1, sc.q_cols());
        for (int32_t i = 0; i < n; ++i) {
          gpu_->set_batch(sc.queries({pick[i]}).get());
          gpu_->write(q1.g, &qs[static_cast<size_t>(i) * sc.q_cols()]);
          gpu_->attention(layer, sc.attn(), q1.g, none.g, none.g, o1.g);
          const auto alone = read_gpu(o1.g);
          const auto at = std::find(perm.begin(), perm.end(), i) - perm.begin();
          differ += !bits_equal(alone, row_of(g, sc.q_cols(), i)) || !bits_equal(alone, row_of(gs, sc.q_cols(), at));
        }
        EXPECT_EQ(differ, 0) << "attention rows that depend on the batch";
      }
    }
  }
  unsetenv("GRETA_CUDA_ATTN_SPLIT_POS");
  std::printf("[ops] attention: max |gpu - cpu| = %.3g\n", worst);
}

// kv-aligned 0: a batch of runs (a continued sequence, a new one, a single row) reads its own
// run's K/V from the fresh f32 rows. Compared with the CPU under the attention bound computed
// on the values each position is read from.
TEST_F(CudaOps, AttentionWithFreshRowsMatchesCpu) {
  for (KvType t : kKvTypes) {
    SCOPED_TRACE(kv_type_name(t));
    const int32_t hd = 64;
    KvScene sc(hd);
    const int64_t kc = sc.kv_cols();
    auto maker = [&](backend::Backend& be, const std::vector<float>& host) {
      const int64_t rows = static_cast<int64_t>(host.size()) / kc;
      Tensor x = be.alloc(rows, kc);
      if (&be == gpu_.get()) {
        gpu_->write(x, host.data());
      } else {
        for (int64_t r = 0; r < rows; ++r) std::memcpy(x.data + r * x.ld, &host[r * kc], kc * 4);
      }
      return x;
    };
    store_scene(*cpu_, *gpu_, sc, t, maker);
    // The batch: sequence 1 continued at 45..84 (its blocks: tables of stride 10 hold 2; give it
    // more), a new sequence 4 at 0..20, sequence 2 at position 1 (one row), in that order.
    Rows r;
    r.stride = sc.stride;
    r.n_tables = 5;
    r.tables = sc.tables;
    r.tables.resize(static_cast<size_t>(r.n_tables) * r.stride, -1);
    std::vector<bool> used(sc.n_blocks, false);
    for (int32_t id : sc.tables) {
      if (id >= 0) used[id] = true;
    }
    auto take = [&] {
      const int32_t id = static_cast<int32_t>(std::find(used.begin(), used.end(), false) - used.begin());
      used[id] = true;
      return id;
    };
    r.tables[1 * r.stride + 2] = take();  // sequence 1, positions 64..95
    r.tables[4 * r.stride + 0] = take();  // sequence 4
    for (int32_t p = 45; p < 85; ++p) r.add(1, p);
    for (int32_t p = 0; p < 21; ++p) r.add(4, p);
    r.add(2, 1);
    r.fresh_row0.resize(static_cast<size_t>(r.n()));
    for (int32_t i = 0; i < r.n(); ++i) r.fresh_row0[i] = i < 40 ? 0 : i < 61 ? 40 : 61;
    r.out_rows = {0};
    const int32_t n = r.n();
    set_batch(r);
    const auto ks = random_vec(static_cast<size_t>(n * kc), 121u, 2.0f), vs = random_vec(static_cast<size_t>(n * kc), 122u);
    const auto qs = random_vec(static_cast<size_t>(n * sc.q_cols()), 123u, 2.0f);
    Twin k = twin(n, kc, ks), v = twin(n, kc, vs), q = twin(n, sc.q_cols(), qs);
    Twin out = twin_zero(n, sc.q_cols());
    const int32_t layer = 0;
    cpu_->kv_store(layer, k.c, v.c);
    gpu_->kv_store(layer, k.g, v.g);
    cpu_->attention(layer, sc.attn(), q.c, k.c, v.c, out.c);
    gpu_->attention(layer, sc.attn(), q.g, k.g, v.g, out.g);
    const auto c = read_cpu(out.c), g = read_gpu(out.g);
    int bad = 0;
    double worst = 0;
    for (int32_t i = 0; i < n; ++i) {
      const int32_t s = r.seq[i], p = r.pos[i], f0 = r.fresh_row0[i], p0 = r.pos[f0];
      int32_t first = 0;
      for (int32_t e = 0; e < s && e < 4; ++e) first += sc.lens[e];
      // The value each position is read from: fresh rows (unrounded) for the run, else the cache.
      std::vector<float> krow_f, vrow_f;
      auto kv_row = [&](int32_t j, bool is_k) -> const float* {
        if (j >= p0) return (is_k ? ks : vs).data() + static_cast<size_t>(f0 + j - p0) * kc;
        return (is_k ? sc.k[layer] : sc.v[layer]).data() + static_cast<size_t>(first + j) * kc;
      };
      const std::vector<float> qrow = row_of(qs, sc.q_cols(), i);
      for (int32_t h = 0; h < sc.n_head; ++h) {
        // The bound with exact (f32) fresh values: kv_round is applied to them too, which only
        // changes max|v| and S by a relative 2^-8 at most.
        const double tol = 1.01 * attention_bound(sc, t, qrow, s, p, h, kv_row);
        for (int32_t d = 0; d < hd; ++d) {
          const size_t at = static_cast<size_t>(i) * sc.q_cols() + h * hd + d;
          const double diff = std::fabs(double{c[at]} - g[at]);
          worst = std::max(worst, diff);
          bad += diff > tol;
        }
      }
    }
    EXPECT_EQ(bad, 0);
    // The fresh path is taken: with a rounding cache, the kv-aligned result differs.
    if (t != KvType::F32) {
      Rows aligned = r;
      aligned.fresh_row0.clear();
      gpu_->set_batch(aligned.get());
      Twin o2 = twin_zero(n, sc.q_cols());
      gpu_->attention(layer, sc.attn(), q.g, k.g, v.g, o2.g);
      EXPECT_FALSE(bits_equal(read_gpu(o2.g), g));
    }
    std::printf("[ops] attention with fresh rows, kv %s: max |gpu - cpu| = %.3g\n", kv_type_name(t), worst);
  }
}

// ---- recorded steps ----

// A step (embed, rms_norm, matmul, rope, kv_store, attention, get_rows) run through run_step
// three times with the same key and different rows (the first runs directly, the second is
// recorded, the third replays) equals the same step launched directly on a twin backend.
TEST_F(CudaOps, RecordedStepReplaysBitExact) {
  const int32_t hd = 32, n_head = 4, n_kv = 2, n_embd = 128, vocab = 50;
  CudaBackend& a = *gpu_;
  CudaBackend b{backend::BackendOptions{}};
  struct Model {
    std::vector<uint8_t> emb, wq, wk, nrm;
    Weight w_emb, w_q, w_k, w_norm;
  } mdl;
  auto fill = [](std::vector<uint8_t>& bytes, Weight& w, TensorType t, int64_t rows, int64_t cols, uint32_t seed) {
    const auto src = random_vec(static_cast<size_t>(rows * cols), seed);
    const int64_t rb = tensor_row_bytes(t, cols);
    bytes.resize(static_cast<size_t>(rows * rb));
    for (int64_t r = 0; r < rows; ++r) quantize_row(t, &src[r * cols], &bytes[r * rb], cols);
    w.host = WeightView{t, rows, cols, rb, bytes.data()};
  };
  fill(mdl.emb, mdl.w_emb, TensorType::Q8_0, vocab, n_embd, 131u);
  fill(mdl.wq, mdl.w_q, TensorType::F16, int64_t{n_head} * hd, n_embd, 132u);
  fill(mdl.wk, mdl.w_k, TensorType::Q4_0, int64_t{n_kv} * hd, n_embd, 133u);
  fill(mdl.nrm, mdl.w_norm, TensorType::F32, 1, n_embd, 134u);
  const backend::KvSpec spec{1, 16, n_kv, hd, KvType::BF16};
  const backend::AttnParams ap{n_head, n_kv, hd, 0.17f};
  backend::RopeParams rp;
  rp.n_rot = hd;
  const int32_t n = 5;
  struct Bufs {
    Tensor x, xb, q, k, o, out;
    Weight emb, wq, wk, norm;
  };
  auto setup = [&](CudaBackend& be) {
    Bufs t;
    t.emb = mdl.w_emb;
    t.wq = mdl.w_q;
    t.wk = mdl.w_k;
    t.norm = mdl.w_norm;
    be.upload(t.emb, "emb");
    be.upload(t.wq, "wq");
    be.upload(t.wk, "wk");
    be.upload(t.norm, "norm");
    be.kv_init(spec);
    be.rope_init(rp, 512);
    t.x = be.alloc(n, n_embd);
    t.xb = be.alloc(n, n_embd);
    t.q = be.alloc(n, int64_t{n_head} * hd);
    t.k = be.alloc(n, int64_t{n_kv} * hd);
    t.o = be.alloc(n, int64_t{n_head} * hd);
    t.out = be.alloc(2, int64_t{n_head} * hd);
    return t;
  };
  Bufs ta = setup(a), tb = setup(b);
  auto step = [&](CudaBackend& be, const Bufs& t) {
    be.embed(t.emb, t.x);
    be.rms_norm(t.x, t.norm, t.xb, 1e-5f);
    be.matmul(t.wq, t.xb, t.q);
    be.matmul(t.wk, t.xb, t.k);
    be.rope(t.q, n_head, hd);
    be.rope(t.k, n_kv, hd);
    be.kv_store(0, t.k, t.k);
    be.attention(0, ap, t.q, t.k, t.k, t.o);
    be.get_rows(t.o, t.out);
  };
  // Two sequences over 3 steps: positions advance, tokens change, sequence 1's table grows.
  for (int call = 0; call < 3; ++call) {
    Rows r;
    r.stride = 4;
    r.n_tables = 2;
    r.tables = {3, 9, 0, 0, 12, 1, 7, 0};
    for (int32_t i = 0; i < 3; ++i) r.add(0, 30 * call + i, (7 * call + i) % vocab);
    for (int32_t i = 0; i < 2; ++i) r.add(1, 40 * call + i, (11 * call + 3 * i) % vocab);
    r.out_rows = {4, 1};
    a.set_batch(r.get());
    b.set_batch(r.get());
    a.run_step({n, 2, false, true}, [&] { step(a, ta); });
    b.run_step({n, 2, false, false}, [&] { step(b, tb); });
    std::vector<float> ha(static_cast<size_t>(2 * n_head * hd)), hb(ha.size());
    a.read(ta.out, ha.data());
    b.read(tb.out, hb.data());
    EXPECT_TRUE(bits_equal(ha, hb)) << "call " << call;
  }
  const char* env = std::getenv("GRETA_CUDA_GRAPH");
  const bool graphs = !(env != nullptr && std::string(env) == "0");
  EXPECT_EQ(a.graphs_recorded(), graphs ? 1 : 0);
  EXPECT_EQ(b.graphs_recorded(), 0);
  EXPECT_GT(a.memory_bytes(), spec.bytes());
}

}  // namespace
}  // namespace greta
