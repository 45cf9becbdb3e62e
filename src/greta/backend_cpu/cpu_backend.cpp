#include "greta/backend_cpu/cpu_backend.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "greta/core/error.h"
#include "greta/core/thread_pool.h"
#include "greta/cpu/matmul.h"
#include "greta/cpu/matmul_kernels.h"
#include "greta/ops/attention.h"
#include "greta/ops/embedding.h"
#include "greta/ops/rms_norm.h"
#include "greta/ops/rope.h"
#include "greta/ops/swiglu.h"

namespace greta::backend_cpu {
namespace {

using backend::Tensor;
using backend::Weight;

// GRETA_PROFILE=1: wall time per op (pool waits included), accumulated separately for steps of
// one row (decode) and of several rows (prefill), printed to stderr at exit. Off: one branch.
struct OpProfile {
  struct Entry {
    double seconds = 0;
    int64_t calls = 0;
  };
  bool enabled = false;
  std::mutex mu;
  std::map<std::string, Entry> ops[2];  // [prefill, decode]

  OpProfile() {
    const char* e = std::getenv("GRETA_PROFILE");
    enabled = e != nullptr && e[0] != '\0' && e[0] != '0';
  }
  ~OpProfile() {
    if (!enabled) return;
    for (int ph = 0; ph < 2; ++ph) {
      double total = 0;
      for (const auto& [name, e] : ops[ph]) total += e.seconds;
      if (total == 0) continue;
      std::fprintf(stderr, "GRETA_PROFILE %s: %.3f ms in ops\n", ph ? "decode" : "prefill", 1e3 * total);
      for (const auto& [name, e] : ops[ph]) {
        std::fprintf(stderr, "  %-14s %9.3f ms %6.2f%%  (%lld calls)\n", name.c_str(), 1e3 * e.seconds,
                     100.0 * e.seconds / total, static_cast<long long>(e.calls));
      }
    }
  }
};

OpProfile& op_profile() {
  static OpProfile p;
  return p;
}

// Charges the lifetime of the object to op `name` when profiling.
class OpTimer {
 public:
  OpTimer(const char* name, int64_t rows) : name_(name), decode_(rows == 1) {
    if (op_profile().enabled) t0_ = std::chrono::steady_clock::now();
  }
  ~OpTimer() {
    OpProfile& p = op_profile();
    if (!p.enabled) return;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    std::lock_guard<std::mutex> lock(p.mu);
    auto& e = p.ops[decode_ ? 1 : 0][name_];
    e.seconds += s;
    e.calls += 1;
  }

 private:
  const char* name_;
  bool decode_;
  std::chrono::steady_clock::time_point t0_;
};

class CpuBackend final : public backend::Backend {
 public:
  explicit CpuBackend(const backend::BackendOptions& o) : n_threads_(o.n_threads), pool_(o.n_threads) {
    matmul_.f32_activations = o.f32_activations;
  }

  const char* name() const override { return "cpu"; }
  std::string describe() const override {
    return std::string("cpu (") + cpu::matmul_simd_target() + ", " + std::to_string(n_threads_) + " threads)";
  }
  std::string simd_target() const override { return cpu::matmul_simd_target(); }

  void upload(Weight& w, const std::string& name) override {
    // Computed in place from the mapping: every storage type has CPU kernels.
    if (!tensor_type_info(w.host.type).is_storage_type) {
      fail("tensor '" + name + "' has type " + tensor_type_name(w.host.type) + ", which greta cannot compute with");
    }
    w.dev = nullptr;
  }

  Tensor alloc(int64_t rows, int64_t cols) override {
    buffers_.emplace_back(static_cast<size_t>(rows * cols), 0.0f);
    return Tensor{buffers_.back().data(), rows, cols, cols};
  }

  void kv_init(const backend::KvSpec& spec) override {
    spec_ = spec;
    const size_t per_tensor = static_cast<size_t>(spec.n_blocks * spec.block_elements() * kv_type_size(spec.type));
    // Zero-filled: unwritten positions are never read, but defined contents keep tools quiet.
    kv_storage_.assign(per_tensor * 2 * spec.n_layer, 0);
    layers_.resize(spec.n_layer);
    for (int32_t il = 0; il < spec.n_layer; ++il) {
      ops::KvLayer& l = layers_[il];
      l.type = spec.type;
      l.n_blocks = spec.n_blocks;
      l.n_kv_head = spec.n_kv_head;
      l.head_dim = spec.head_dim;
      l.k = kv_storage_.data() + per_tensor * (2 * static_cast<size_t>(il));
      l.v = kv_storage_.data() + per_tensor * (2 * static_cast<size_t>(il) + 1);
    }
  }

  void rope_init(const backend::RopeParams& params, int32_t n_pos) override { rope_ = ops::RopeTable(params, n_pos); }

  void kv_copy_block(int32_t src, int32_t dst) override {
    const size_t block = static_cast<size_t>(spec_.block_elements() * kv_type_size(spec_.type));
    for (const ops::KvLayer& l : layers_) {
      std::memcpy(l.k + dst * block, l.k + src * block, block);
      std::memcpy(l.v + dst * block, l.v + src * block, block);
    }
  }

  int64_t memory_bytes() const override {
    int64_t b = static_cast<int64_t>(kv_storage_.size());
    for (const auto& buf : buffers_) b += static_cast<int64_t>(buf.size() * sizeof(float));
    return b;
  }

  void set_batch(const backend::BatchRows& b) override {
    const size_t n = static_cast<size_t>(b.n_rows);
    tokens_.assign(b.tokens, b.tokens + n);
    pos_.assign(b.pos, b.pos + n);
    tables_.assign(b.block_tables, b.block_tables + static_cast<size_t>(b.n_tables) * b.table_stride);
    fresh_row0_.clear();
    if (b.fresh_row0 != nullptr) fresh_row0_.assign(b.fresh_row0, b.fresh_row0 + n);
    out_rows_.assign(b.out_rows, b.out_rows + b.n_out);
    kv_rows_.resize(n);
    for (size_t r = 0; r < n; ++r) {
      kv_rows_[r] = ops::KvRow{tables_.data() + static_cast<size_t>(b.seq[r]) * b.table_stride, pos_[r]};
    }
  }

  void read(const Tensor& t, float* host) override {
    for (int64_t r = 0; r < t.rows; ++r) std::memcpy(host + r * t.cols, t.data + r * t.ld, t.cols * sizeof(float));
  }

  // The reference sampler on the rows in place (nothing is copied).
  void sample(const Tensor& logits, std::span<const backend::SampleRow> samples, int32_t* ids) override {
    const auto n_vocab = static_cast<int32_t>(logits.cols);
    for (size_t i = 0; i < samples.size(); ++i) {
      const backend::SampleRow& s = samples[i];
      GRETA_ASSERT(s.row >= 0 && s.row < logits.rows);
      ids[i] = backend::sample_row(logits.data + s.row * logits.ld, n_vocab, s.params, s.u, sample_scratch_);
    }
  }

  void embed(const Weight& table, Tensor out) override {
    OpTimer timer("embedding", out.rows);
    ops::embedding_lookup(table.host, tokens_.data(), out.rows, out.data, out.ld, pool_);
  }

  void get_rows(Tensor src, Tensor dst) override {
    GRETA_ASSERT(dst.rows <= static_cast<int64_t>(out_rows_.size()));
    for (int64_t i = 0; i < dst.rows; ++i) {
      std::memcpy(dst.data + i * dst.ld, src.data + out_rows_[i] * src.ld, src.cols * sizeof(float));
    }
  }

  void matmul(const Weight& w, Tensor x, Tensor y, bool accumulate) override {
    OpTimer timer("matmul", x.rows);
    if (!accumulate) {
      cpu::matmul(w.host, x.data, x.ld, x.rows, y.data, y.ld, pool_, matmul_);
      return;
    }
    // y += W x: the product is rounded to f32 first, then added (the residual connection).
    acc_.resize(static_cast<size_t>(x.rows * w.host.rows));
    cpu::matmul(w.host, x.data, x.ld, x.rows, acc_.data(), w.host.rows, pool_, matmul_);
    add(y, Tensor{acc_.data(), x.rows, w.host.rows, w.host.rows});
  }

  void matmul_multi(std::span<const backend::MatmulOut> outs, Tensor x) override {
    OpTimer timer("matmul_multi", x.rows);
    GRETA_ASSERT(!outs.empty() && outs.size() <= 4);
    cpu::MatmulOut o[4];
    for (size_t i = 0; i < outs.size(); ++i) o[i] = cpu::MatmulOut{&outs[i].w->host, outs[i].y.data, outs[i].y.ld};
    cpu::matmul_multi(std::span<const cpu::MatmulOut>(o, outs.size()), x.data, x.ld, x.rows, pool_, matmul_);
  }

  void rms_norm(Tensor x, const Weight& w, Tensor y, float eps) override {
    OpTimer timer("rms_norm", x.rows);
    ops::rms_norm(x.data, x.ld, w.host.f32(), y.data, y.ld, x.rows, x.cols, eps, pool_);
  }

  void add(Tensor x, Tensor y) override {
    OpTimer timer("add", x.rows);
    pool_.run(x.rows, [&](int64_t r, int) {
      float* xr = x.data + r * x.ld;
      const float* yr = y.data + r * y.ld;
      for (int64_t i = 0; i < x.cols; ++i) xr[i] += yr[i];
    });
  }

  void add_bias(Tensor y, const Weight& b) override {
    const float* bias = b.host.f32();
    for (int64_t r = 0; r < y.rows; ++r) {
      for (int64_t i = 0; i < y.cols; ++i) y.data[r * y.ld + i] += bias[i];
    }
  }

  void rope(Tensor x, int32_t n_heads, int32_t head_dim) override {
    OpTimer timer("rope", x.rows);
    ops::rope(rope_, x.data, x.ld, x.rows, n_heads, head_dim, pos_.data(), pool_);
  }

  void swiglu(Tensor gate, Tensor up, Tensor out) override {
    OpTimer timer("swiglu", gate.rows);
    GRETA_ASSERT(gate.ld == up.ld && gate.ld == out.ld);
    ops::swiglu(gate.data, up.data, out.data, gate.ld, gate.rows, gate.cols, pool_);
  }

  void kv_store(int32_t layer, Tensor k, Tensor v) override {
    OpTimer timer("kv_store", k.rows);
    GRETA_ASSERT(k.ld == v.ld && k.rows == static_cast<int64_t>(kv_rows_.size()));
    ops::kv_store(layers_[layer], k.data, v.data, k.ld, kv_rows_, pool_);
  }

  void attention(int32_t layer, const backend::AttnParams& p, Tensor q, Tensor k_fresh, Tensor v_fresh,
                 Tensor out) override {
    OpTimer timer("attention", q.rows);
    if (!attn_reserved_ || p.head_dim != attn_params_.head_dim || p.n_head != attn_params_.n_head ||
        p.n_kv_head != attn_params_.n_kv_head) {
      attn_.reserve(p, n_threads_);
      attn_params_ = p;
      attn_reserved_ = true;
    }
    const size_t n = kv_rows_.size();
    attn_rows_.resize(n);
    for (size_t r = 0; r < n; ++r) {
      attn_rows_[r].kv = kv_rows_[r];
      attn_rows_[r].fresh = ops::KvFresh{};
      if (!fresh_row0_.empty()) {
        const int32_t r0 = fresh_row0_[r];
        attn_rows_[r].fresh = ops::KvFresh{k_fresh.data + r0 * k_fresh.ld, v_fresh.data + r0 * v_fresh.ld, k_fresh.ld,
                                           pos_[r0], pos_[r] - pos_[r0] + 1};
      }
    }
    ops::attention(p, layers_[layer], attn_rows_, q.data, q.ld, out.data, out.ld, pool_, attn_);
  }

 private:
  int n_threads_;
  ThreadPool pool_;
  cpu::MatmulScratch matmul_;
  std::vector<std::vector<float>> buffers_;
  std::vector<float> acc_;  // [rows, n] the product of an accumulating matmul
  backend::KvSpec spec_;
  std::vector<uint8_t> kv_storage_;  // [n_layer, 2 (K, V), n_blocks, block] in spec_.type
  std::vector<ops::KvLayer> layers_;
  ops::RopeTable rope_;
  ops::AttentionScratch attn_;
  backend::AttnParams attn_params_;
  bool attn_reserved_ = false;
  // The current micro-batch.
  std::vector<int32_t> tokens_, pos_, tables_, fresh_row0_, out_rows_;
  backend::SampleScratch sample_scratch_;
  std::vector<ops::KvRow> kv_rows_;
  std::vector<ops::AttnRow> attn_rows_;
};

}  // namespace

std::unique_ptr<backend::Backend> make_cpu_backend(const backend::BackendOptions& options) {
  if (options.n_threads < 1) fail("n_threads must be >= 1, got " + std::to_string(options.n_threads));
  return std::make_unique<CpuBackend>(options);
}

const char* cpu_simd_target() { return cpu::matmul_simd_target(); }

}  // namespace greta::backend_cpu
