// The llama family's graph (llama, qwen2, qwen3; phi3 through its fused-tensor views): pre-norm
// blocks of grouped-query attention with rotary embeddings and a SwiGLU feed-forward, RMSNorm
// everywhere; Q/K/V biases (qwen2) and per-head Q/K RMSNorm before RoPE (qwen3) where the table
// binds them. Written once against the
// backend interface; every backend runs it. Intermediates carry llama.cpp's names.

#include <cmath>
#include <vector>

#include "greta/model/arch/arch.h"
#include "greta/model/hparams.h"

namespace greta::model {
namespace {

using LW = LayerWeights;
using W = Weights;

const TensorSpec kTable[] = {
    // name                 layer  ne0         ne1         f32    need             model field       layer field  per token
    {"token_embd.weight",   false, Dim::Embd,  Dim::Vocab, false, Need::Required,  &W::tok_embd,     nullptr,     false},
    {"output_norm.weight",  false, Dim::Embd,  Dim::One,   true,  Need::Required,  &W::output_norm,  nullptr,     true},
    {"output.weight",       false, Dim::Embd,  Dim::Vocab, false, Need::Optional,  &W::output,       nullptr,     true},
    {"rope_freqs.weight",   false, Dim::RotHalf, Dim::One, true,  Need::Optional,  &W::rope_freqs,   nullptr,     false},
    {"attn_norm.weight",    true,  Dim::Embd,  Dim::One,   true,  Need::Required,  nullptr, &LW::attn_norm, true},
    {"attn_q.weight",       true,  Dim::Embd,  Dim::EmbdQ, false, Need::Required,  nullptr, &LW::wq,        true},
    {"attn_k.weight",       true,  Dim::Embd,  Dim::EmbdKv, false, Need::Required, nullptr, &LW::wk,        true},
    {"attn_v.weight",       true,  Dim::Embd,  Dim::EmbdKv, false, Need::Required, nullptr, &LW::wv,        true},
    {"attn_output.weight",  true,  Dim::EmbdQ, Dim::Embd,  false, Need::Required,  nullptr, &LW::wo,        true},
    {"attn_q.bias",         true,  Dim::EmbdQ, Dim::One,   true,  Need::IfBias,    nullptr, &LW::bq,        true},
    {"attn_k.bias",         true,  Dim::EmbdKv, Dim::One,  true,  Need::IfBias,    nullptr, &LW::bk,        true},
    {"attn_v.bias",         true,  Dim::EmbdKv, Dim::One,  true,  Need::IfBias,    nullptr, &LW::bv,        true},
    {"ffn_norm.weight",     true,  Dim::Embd,  Dim::One,   true,  Need::Required,  nullptr, &LW::ffn_norm,  true},
    {"ffn_gate.weight",     true,  Dim::Embd,  Dim::Ff,    false, Need::Required,  nullptr, &LW::ffn_gate,  true},
    {"ffn_up.weight",       true,  Dim::Embd,  Dim::Ff,    false, Need::Required,  nullptr, &LW::ffn_up,    true},
    {"ffn_down.weight",     true,  Dim::Ff,    Dim::Embd,  false, Need::Required,  nullptr, &LW::ffn_down,  true},
};

void trace(const GraphArgs& g, const char* name, int layer, const backend::Tensor& t) {
  trace_tensor(g, name, layer, t);
}

}  // namespace

const std::span<const TensorSpec> kLlamaTensors(kTable);

void llama_forward(const GraphArgs& g) {
  backend::Backend& be = g.be;
  const HParams& hp = g.hp;
  const Weights& w = g.w;
  const int64_t n = g.n_rows;
  const backend::AttnParams attn{hp.n_head, hp.n_head_kv, hp.head_dim, 1.0f / std::sqrt(static_cast<float>(hp.head_dim))};
  const backend::Tensor x = g.buf.x.first(n);     // [n, n_embd] residual stream
  const backend::Tensor xb = g.buf.xb.first(n);   // [n, n_embd]
  const backend::Tensor q = g.buf.q.first(n);     // [n, n_embd_q]
  const backend::Tensor k = g.buf.k.first(n);     // [n, n_embd_kv]
  const backend::Tensor v = g.buf.v.first(n);     // [n, n_embd_kv]
  const backend::Tensor att = g.buf.att.first(n); // [n, n_embd_q]
  const backend::Tensor gate = g.buf.gate.first(n);  // [n, n_ff]
  const backend::Tensor up = g.buf.up.first(n);      // [n, n_ff]

  be.embed(w.tok_embd, x);
  trace(g, "inp_embd", -1, x);

  for (int32_t il = 0; il < hp.n_layer; ++il) {
    const LayerWeights& L = w.layers[il];

    // Attention block.
    be.rms_norm(x, L.attn_norm, xb, hp.rms_eps);
    trace(g, "attn_norm", il, xb);
    const backend::MatmulOut qkv[3] = {{&L.wq, q}, {&L.wk, k}, {&L.wv, v}};
    be.matmul_multi(qkv, xb);
    if (L.bq.present()) be.add_bias(q, L.bq);
    if (L.bk.present()) be.add_bias(k, L.bk);
    if (L.bv.present()) be.add_bias(v, L.bv);
    if (L.attn_q_norm.present()) {
      rms_norm_per_head(be, q, L.attn_q_norm, hp.n_head, hp.head_dim, hp.rms_eps);
      trace(g, "Qcur_normed", il, q);
    }
    if (L.attn_k_norm.present()) {
      rms_norm_per_head(be, k, L.attn_k_norm, hp.n_head_kv, hp.head_dim, hp.rms_eps);
      trace(g, "Kcur_normed", il, k);
    }
    be.rope(q, hp.n_head, hp.head_dim);
    be.rope(k, hp.n_head_kv, hp.head_dim);
    trace(g, "Qcur", il, q);
    trace(g, "Kcur", il, k);
    trace(g, "Vcur", il, v);
    // K/V go into the cache (rounded to its type) before attention reads them back.
    be.kv_store(il, k, v);
    be.attention(il, attn, q, k, v, att);
    trace(g, "kqv_out", il, att);
    be.matmul(L.wo, att, x, /*accumulate=*/true);  // x += wo · att
    trace(g, "ffn_inp", il, x);

    // Feed-forward block (SwiGLU).
    be.rms_norm(x, L.ffn_norm, xb, hp.rms_eps);
    trace(g, "ffn_norm", il, xb);
    const backend::MatmulOut gate_up[2] = {{&L.ffn_gate, gate}, {&L.ffn_up, up}};
    be.matmul_multi(gate_up, xb);
    be.swiglu(gate, up, gate);
    be.matmul(L.ffn_down, gate, x, /*accumulate=*/true);  // x += down · swiglu
    trace(g, "l_out", il, x);
  }

  // Output head, only for the rows whose logits are wanted.
  if (g.n_out == 0) return;
  const backend::Tensor xo = g.buf.out_x.first(g.n_out);  // [n_out, n_embd]
  const backend::Tensor xbo = g.buf.xb.first(g.n_out);    // [n_out, n_embd]
  const backend::Tensor logits = g.buf.logits.first(g.n_out);  // [n_out, n_vocab]
  be.get_rows(x, xo);
  be.rms_norm(xo, w.output_norm, xbo, hp.rms_eps);
  trace(g, "result_norm", -1, xbo);
  be.matmul(w.output, xbo, logits);
  trace(g, "result_output", -1, logits);
}

}  // namespace greta::model
