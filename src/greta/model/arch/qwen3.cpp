// Qwen3's tensors (llama.cpp src/models/qwen3.cpp), run by the llama graph (arch/llama.cpp):
// the llama block -- pre-norm grouped-query attention with NeoX rotary embeddings and a SwiGLU feed-forward, RMSNorm everywhere -- with
// two differences: each query and key head is RMS-normalized (attn_q_norm / attn_k_norm,
// [head_dim], before RoPE), and head_dim comes from attention.key_length, decoupled from
// n_embd (attn_q is [n_embd, n_head * head_dim], attn_output its transpose). No biases; the
// output is untied when output.weight is present, else token_embd. Intermediates carry
// llama.cpp's names.

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

}  // namespace greta::model
