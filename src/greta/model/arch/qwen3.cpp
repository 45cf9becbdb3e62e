// Qwen3's graph (llama.cpp src/models/qwen3.cpp): the llama block -- pre-norm grouped-query
// attention with NeoX rotary embeddings and a SwiGLU feed-forward, RMSNorm everywhere -- with
// two differences: each query and key head is RMS-normalized (attn_q_norm / attn_k_norm,
// [head_dim], before RoPE), and head_dim comes from attention.key_length, decoupled from
// n_embd (attn_q is [n_embd, n_head * head_dim], attn_output its transpose). No biases; the
// output is untied when output.weight is present, else token_embd. Intermediates carry
// llama.cpp's names.

#include <cmath>

#include "greta/model/arch/arch.h"
#include "greta/model/hparams.h"

namespace greta::model {
namespace {

using LW = LayerWeights;
using W = Weights;

const TensorSpec kTable[] = {
    // name                 layer  ne0           ne1          f32    need             model field       layer field     per token
    {"token_embd.weight",   false, Dim::Embd,    Dim::Vocab,  false, Need::Required,  &W::tok_embd,     nullptr,        false},
    {"output_norm.weight",  false, Dim::Embd,    Dim::One,    true,  Need::Required,  &W::output_norm,  nullptr,        true},
    {"output.weight",       false, Dim::Embd,    Dim::Vocab,  false, Need::Optional,  &W::output,       nullptr,        true},
    {"attn_norm.weight",    true,  Dim::Embd,    Dim::One,    true,  Need::Required,  nullptr, &LW::attn_norm,   true},
    {"attn_q.weight",       true,  Dim::Embd,    Dim::EmbdQ,  false, Need::Required,  nullptr, &LW::wq,          true},
    {"attn_k.weight",       true,  Dim::Embd,    Dim::EmbdKv, false, Need::Required,  nullptr, &LW::wk,          true},
    {"attn_v.weight",       true,  Dim::Embd,    Dim::EmbdKv, false, Need::Required,  nullptr, &LW::wv,          true},
    {"attn_q_norm.weight",  true,  Dim::HeadDim, Dim::One,    true,  Need::Required,  nullptr, &LW::attn_q_norm, true},
    {"attn_k_norm.weight",  true,  Dim::HeadDim, Dim::One,    true,  Need::Required,  nullptr, &LW::attn_k_norm, true},
    {"attn_output.weight",  true,  Dim::EmbdQ,   Dim::Embd,   false, Need::Required,  nullptr, &LW::wo,          true},
    {"ffn_norm.weight",     true,  Dim::Embd,    Dim::One,    true,  Need::Required,  nullptr, &LW::ffn_norm,    true},
    {"ffn_gate.weight",     true,  Dim::Embd,    Dim::Ff,     false, Need::Required,  nullptr, &LW::ffn_gate,    true},
    {"ffn_up.weight",       true,  Dim::Embd,    Dim::Ff,     false, Need::Required,  nullptr, &LW::ffn_up,      true},
    {"ffn_down.weight",     true,  Dim::Ff,      Dim::Embd,   false, Need::Required,  nullptr, &LW::ffn_down,    true},
};

}  // namespace

const std::span<const TensorSpec> kQwen3Tensors(kTable);

void qwen3_forward(const GraphArgs& g) {
  backend::Backend& be = g.be;
  const HParams& hp = g.hp;
  const Weights& w = g.w;
  const int64_t n = g.n_rows;
  const backend::AttnParams attn{hp.n_head, hp.n_head_kv, hp.head_dim, 1.0f / std::sqrt(static_cast<float>(hp.head_dim))};
  const backend::Tensor x = g.buf.x.first(n);     // [n, n_embd] residual stream
  const backend::Tensor xb = g.buf.xb.first(n);   // [n, n_embd]
  const backend::Tensor q = g.buf.q.first(n);     // [n, n_head * head_dim]
  const backend::Tensor k = g.buf.k.first(n);     // [n, n_head_kv * head_dim]
  const backend::Tensor v = g.buf.v.first(n);     // [n, n_head_kv * head_dim]
  const backend::Tensor att = g.buf.att.first(n); // [n, n_head * head_dim]
  const backend::Tensor gate = g.buf.gate.first(n);  // [n, n_ff]
  const backend::Tensor up = g.buf.up.first(n);      // [n, n_ff]

  be.embed(w.tok_embd, x);
  trace_tensor(g, "inp_embd", -1, x);

  for (int32_t il = 0; il < hp.n_layer; ++il) {
    const LayerWeights& L = w.layers[il];

    // Attention block: Q/K RMS-normalized per head, then rotated.
    be.rms_norm(x, L.attn_norm, xb, hp.rms_eps);
    trace_tensor(g, "attn_norm", il, xb);
    const backend::MatmulOut qkv[3] = {{&L.wq, q}, {&L.wk, k}, {&L.wv, v}};
    be.matmul_multi(qkv, xb);
    rms_norm_per_head(be, q, L.attn_q_norm, hp.n_head, hp.head_dim, hp.rms_eps);
    trace_tensor(g, "Qcur_normed", il, q);
    rms_norm_per_head(be, k, L.attn_k_norm, hp.n_head_kv, hp.head_dim, hp.rms_eps);
    trace_tensor(g, "Kcur_normed", il, k);
    be.rope(q, hp.n_head, hp.head_dim);
    be.rope(k, hp.n_head_kv, hp.head_dim);
    trace_tensor(g, "Qcur", il, q);
    trace_tensor(g, "Kcur", il, k);
    trace_tensor(g, "Vcur", il, v);
    be.kv_store(il, k, v);
    be.attention(il, attn, q, k, v, att);
    trace_tensor(g, "kqv_out", il, att);
    be.matmul(L.wo, att, x, /*accumulate=*/true);  // x += wo · att
    trace_tensor(g, "ffn_inp", il, x);

    // Feed-forward block (SwiGLU).
    be.rms_norm(x, L.ffn_norm, xb, hp.rms_eps);
    trace_tensor(g, "ffn_norm", il, xb);
    const backend::MatmulOut gate_up[2] = {{&L.ffn_gate, gate}, {&L.ffn_up, up}};
    be.matmul_multi(gate_up, xb);
    be.swiglu(gate, up, gate);
    be.matmul(L.ffn_down, gate, x, /*accumulate=*/true);  // x += down · swiglu
    trace_tensor(g, "l_out", il, x);
  }

  // Output head, only for the rows whose logits are wanted.
  if (g.n_out == 0) return;
  const backend::Tensor xo = g.buf.out_x.first(g.n_out);        // [n_out, n_embd]
  const backend::Tensor xbo = g.buf.xb.first(g.n_out);          // [n_out, n_embd]
  const backend::Tensor logits = g.buf.logits.first(g.n_out);   // [n_out, n_vocab]
  be.get_rows(x, xo);
  be.rms_norm(xo, w.output_norm, xbo, hp.rms_eps);
  trace_tensor(g, "result_norm", -1, xbo);
  be.matmul(w.output, xbo, logits);
  trace_tensor(g, "result_output", -1, logits);
}

}  // namespace greta::model
