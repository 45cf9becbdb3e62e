#include "greta/model/forward.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

#include "greta/core/error.h"
#include "greta/core/thread_pool.h"
#include "greta/model/model.h"
#include "greta/ops/embedding.h"
#include "greta/ops/rms_norm.h"
#include "greta/ops/swiglu.h"

namespace greta::model {
namespace {

// GRETA_PROFILE=1: wall time per op (as seen by the calling thread, pool waits included),
// accumulated separately for prefill and decode, printed to stderr at exit. Off: one branch per op.
struct OpProfile {
  struct Entry {
    double seconds = 0;
    int64_t calls = 0;
  };
  bool enabled = false;
  std::mutex mu;
  std::map<std::string, Entry> ops[2];  // [prefill, decode]
  int64_t steps[2] = {0, 0};
  double step_seconds[2] = {0, 0};

  OpProfile() {
    const char* e = std::getenv("GRETA_PROFILE");
    enabled = e != nullptr && e[0] != '\0' && e[0] != '0';
  }
  ~OpProfile() {
    if (!enabled) return;
    for (int ph = 0; ph < 2; ++ph) {
      if (steps[ph] == 0) continue;
      std::fprintf(stderr, "GRETA_PROFILE %s: %lld forward calls, %.3f ms per call\n", ph ? "decode" : "prefill",
                   static_cast<long long>(steps[ph]), 1e3 * step_seconds[ph] / steps[ph]);
      double total = 0;
      for (const auto& [name, e] : ops[ph]) total += e.seconds;
      for (const auto& [name, e] : ops[ph]) {
        std::fprintf(stderr, "  %-14s %9.4f ms/call-of-forward %6.2f%%  (%lld calls)\n", name.c_str(),
                     1e3 * e.seconds / steps[ph], 100.0 * e.seconds / step_seconds[ph],
                     static_cast<long long>(e.calls));
      }
      std::fprintf(stderr, "  %-14s %9.4f ms\n", "(other)", 1e3 * (step_seconds[ph] - total) / steps[ph]);
    }
  }
};

OpProfile& op_profile() {
  static OpProfile p;
  return p;
}

using Clock = std::chrono::steady_clock;

size_t sz(int64_t a, int64_t b) { return static_cast<size_t>(a) * static_cast<size_t>(b); }

ops::RopeParams rope_params(const Model& m) {
  const HParams& hp = m.hparams();
  ops::RopeParams p;
  p.type = hp.rope_type;
  p.n_rot = hp.n_rot;
  p.freq_base = hp.rope_freq_base;
  p.freq_scale = hp.rope_freq_scale;
  p.freq_factors = m.weights().rope_freqs;
  return p;
}

// y[r] += b for every row (biases; one fixed order per element).
void add_bias(float* y, int64_t ld, int64_t n_rows, const float* b, int64_t n) {
  if (b == nullptr) return;
  for (int64_t r = 0; r < n_rows; ++r) {
    for (int64_t i = 0; i < n; ++i) y[r * ld + i] += b[i];
  }
}

// x += y elementwise over [n_rows, n].
void add_residual(float* x, const float* y, int64_t n_rows, int64_t n, ThreadPool& pool) {
  pool.run(n_rows, [&](int64_t r, int) {
    float* xr = x + r * n;
    const float* yr = y + r * n;
    for (int64_t i = 0; i < n; ++i) xr[i] += yr[i];
  });
}

}  // namespace

ForwardBuffers::ForwardBuffers(const Model& model, int32_t max_batch_, int32_t n_ctx, int n_threads)
    : max_batch(max_batch_) {
  const HParams& hp = model.hparams();
  x.resize(sz(max_batch, hp.n_embd));
  xb.resize(sz(max_batch, hp.n_embd));
  q.resize(sz(max_batch, hp.n_embd_q()));
  k.resize(sz(max_batch, hp.n_embd_kv()));
  v.resize(sz(max_batch, hp.n_embd_kv()));
  att.resize(sz(max_batch, hp.n_embd_q()));
  proj.resize(sz(max_batch, hp.n_embd));
  gate.resize(sz(max_batch, hp.n_ff));
  up.resize(sz(max_batch, hp.n_ff));
  rope = ops::RopeTable(rope_params(model), n_ctx);
  ops::AttentionShape shape{hp.n_head, hp.n_head_kv, hp.head_dim, 1.0f / std::sqrt(static_cast<float>(hp.head_dim))};
  attn.reserve(shape, n_ctx, n_threads);
}

void forward(const Model& model, ForwardBuffers& buf, std::span<const ops::KvLayer> kv, const ForwardArgs& a,
             ThreadPool& pool) {
  const HParams& hp = model.hparams();
  const Weights& w = model.weights();
  const int64_t n = a.n;
  GRETA_ASSERT(n >= 1 && n <= buf.max_batch);
  GRETA_ASSERT(a.phase == Phase::Prefill || n == 1);
  GRETA_ASSERT(static_cast<int32_t>(kv.size()) == hp.n_layer);
  GRETA_ASSERT(a.logits_first >= 0 && a.logits_first <= n);
  const int64_t n_embd = hp.n_embd, n_q = hp.n_embd_q(), n_kv = hp.n_embd_kv(), n_ff = hp.n_ff;
  const ops::AttentionShape shape{hp.n_head, hp.n_head_kv, hp.head_dim,
                                  1.0f / std::sqrt(static_cast<float>(hp.head_dim))};
  auto trace = [&](const char* name, int layer, const float* data, int64_t rows, int64_t cols) {
    if (a.trace != nullptr) (*a.trace)(name, layer, data, rows, cols);
  };
  OpProfile& prof = op_profile();
  const int ph = a.phase == Phase::Decode ? 1 : 0;
  const Clock::time_point t_start = prof.enabled ? Clock::now() : Clock::time_point{};
  Clock::time_point t_last = t_start;
  // Charges the time since the previous mark to `name`.
  auto mark = [&](const char* name) {
    if (!prof.enabled) return;
    const Clock::time_point now = Clock::now();
    std::lock_guard<std::mutex> lock(prof.mu);
    auto& e = prof.ops[ph][name];
    e.seconds += std::chrono::duration<double>(now - t_last).count();
    e.calls += 1;
    t_last = now;
  };
  auto matmul = [&](const cpu::WeightMatrix& m, const float* x, int64_t rows, float* y) {
    cpu::matmul(m, x, m.cols, rows, y, m.rows, pool, buf.matmul);
  };
  struct StepEnd {
    OpProfile& p;
    int ph;
    Clock::time_point t0;
    ~StepEnd() {
      if (!p.enabled) return;
      std::lock_guard<std::mutex> lock(p.mu);
      p.steps[ph] += 1;
      p.step_seconds[ph] += std::chrono::duration<double>(Clock::now() - t0).count();
    }
  } step_end{prof, ph, t_start};

  float* x = buf.x.data();  // [n, n_embd]
  ops::embedding_lookup(w.tok_embd, a.tokens, n, x, n_embd, pool);
  mark("embedding");
  trace("inp_embd", -1, x, n, n_embd);

  for (int32_t il = 0; il < hp.n_layer; ++il) {
    const LayerWeights& L = w.layers[il];

    // Attention block.
    float* xb = buf.xb.data();  // [n, n_embd]
    ops::rms_norm(x, n_embd, L.attn_norm, xb, n_embd, n, n_embd, hp.rms_eps, pool);
    mark("rms_norm");
    trace("attn_norm", il, xb, n, n_embd);
    float* q = buf.q.data();  // [n, n_q]
    float* k = buf.k.data();  // [n, n_kv]
    float* v = buf.v.data();  // [n, n_kv]
    {
      // One pool job for Q, K and V (same input; each output as matmul() alone would give).
      const cpu::MatmulOut outs[3] = {{&L.wq, q, n_q}, {&L.wk, k, n_kv}, {&L.wv, v, n_kv}};
      cpu::matmul_multi(outs, xb, n_embd, n, pool, buf.matmul);
    }
    mark("mm_qkv");
    add_bias(q, n_q, n, L.bq, n_q);
    add_bias(k, n_kv, n, L.bk, n_kv);
    add_bias(v, n_kv, n, L.bv, n_kv);
    ops::rope(buf.rope, q, n_q, n, hp.n_head, hp.head_dim, a.pos0, pool);
    ops::rope(buf.rope, k, n_kv, n, hp.n_head_kv, hp.head_dim, a.pos0, pool);
    mark("bias_rope");
    trace("Qcur", il, q, n, n_q);
    trace("Kcur", il, k, n, n_kv);
    trace("Vcur", il, v, n, n_kv);

    // K/V go into the cache (rounded to its type) before attention, in both phases.
    ops::kv_store(kv[il], k, v, n_kv, a.pos0, n, pool);
    mark("kv_store");
    float* att = buf.att.data();  // [n, n_q]
    if (a.phase == Phase::Decode) {
      ops::attention_decode(shape, kv[il], q, a.pos0, att, pool, buf.attn);
    } else {
      // kv_aligned = 0: this batch's own positions attend to the fresh f32 K/V (faster and
      // more precise, but then prefill and decode see different K/V for f16/bf16 caches).
      const ops::KvFresh fresh{k, v, n_kv, a.pos0, static_cast<int32_t>(n)};
      const bool use_fresh = !a.kv_aligned && kv[il].type != ops::KvType::F32;
      ops::attention_prefill(shape, kv[il], use_fresh ? &fresh : nullptr, q, n_q, a.pos0, n, att, n_q, pool,
                             buf.attn);
    }
    mark("attention");
    trace("kqv_out", il, att, n, n_q);
    float* proj = buf.proj.data();  // [n, n_embd]
    matmul(L.wo, att, n, proj);
    mark("mm_o");
    add_residual(x, proj, n, n_embd, pool);
    mark("residual");
    trace("ffn_inp", il, x, n, n_embd);

    // Feed-forward block (SwiGLU).
    ops::rms_norm(x, n_embd, L.ffn_norm, xb, n_embd, n, n_embd, hp.rms_eps, pool);
    mark("rms_norm");
    trace("ffn_norm", il, xb, n, n_embd);
    float* gate = buf.gate.data();  // [n, n_ff]
    float* up = buf.up.data();      // [n, n_ff]
    {
      const cpu::MatmulOut outs[2] = {{&L.ffn_gate, gate, n_ff}, {&L.ffn_up, up, n_ff}};
      cpu::matmul_multi(outs, xb, n_embd, n, pool, buf.matmul);
    }
    mark("mm_gate_up");
    ops::swiglu(gate, up, gate, n_ff, n, n_ff, pool);
    mark("swiglu");
    matmul(L.ffn_down, gate, n, proj);
    mark("mm_down");
    add_residual(x, proj, n, n_embd, pool);
    mark("residual");
    trace("l_out", il, x, n, n_embd);
  }

  // Output head, only for the rows whose logits are wanted.
  const int64_t n_out = n - a.logits_first;
  if (n_out == 0) return;
  float* xo = x + a.logits_first * n_embd;  // [n_out, n_embd]
  float* xb = buf.xb.data();                // [n_out, n_embd]
  ops::rms_norm(xo, n_embd, w.output_norm, xb, n_embd, n_out, n_embd, hp.rms_eps, pool);
  mark("rms_norm");
  trace("result_norm", -1, xb, n_out, n_embd);
  matmul(w.output, xb, n_out, a.logits);  // [n_out, n_vocab]
  mark("mm_output");
  trace("result_output", -1, a.logits, n_out, hp.n_vocab);
}

}  // namespace greta::model
