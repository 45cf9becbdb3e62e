// Phi-3's tensor table (llama.cpp src/models/phi3.cpp, llm_build_phi3<false>). Its block is the
// llama block -- RMSNorm, GQA with NeoX rotary embeddings, SwiGLU -- so the graph is
// llama_forward (arch/llama.cpp); what differs is the storage: Q, K and V are one fused
// attn_qkv tensor (rows Q | K | V) and the gate and up projections one fused ffn_up tensor (rows
// gate | up). The table binds views of those rows (Dim::QkvQ.., Dim::FfGate..: no copy, the
// views are in the mapping), so the graph sees wq, wk, wv, ffn_gate and ffn_up as for llama.
// llama.cpp scales Q by 1/sqrt(head_dim) before QK^T and attends with scale 1; greta scales the
// scores inside attention: the same to float rounding. Phi-3's longrope factors
// (rope_factors_long / rope_factors_short, 128k-context models) are refused.

#include "greta/model/arch/arch.h"
#include "greta/model/hparams.h"

namespace greta::model {
namespace {

using LW = LayerWeights;
using W = Weights;

const TensorSpec kTable[] = {
    // name                        layer  ne0         ne1          f32    need             model field       layer field   per token
    {"token_embd.weight",          false, Dim::Embd,  Dim::Vocab,  false, Need::Required,  &W::tok_embd,     nullptr,      false},
    {"output_norm.weight",         false, Dim::Embd,  Dim::One,    true,  Need::Required,  &W::output_norm,  nullptr,      true},
    {"output.weight",              false, Dim::Embd,  Dim::Vocab,  false, Need::Optional,  &W::output,       nullptr,      true},
    {"rope_factors_long.weight",   false, Dim::RotHalf, Dim::One,  true,  Need::Refused,   &W::rope_freqs,   nullptr,      false},
    {"rope_factors_short.weight",  false, Dim::RotHalf, Dim::One,  true,  Need::Refused,   &W::rope_freqs,   nullptr,      false},
    {"attn_norm.weight",           true,  Dim::Embd,  Dim::One,    true,  Need::Required,  nullptr, &LW::attn_norm, true},
    {"attn_qkv.weight",            true,  Dim::Embd,  Dim::QkvQ,   false, Need::Required,  nullptr, &LW::wq,        true},
    {"attn_qkv.weight",            true,  Dim::Embd,  Dim::QkvK,   false, Need::Required,  nullptr, &LW::wk,        true},
    {"attn_qkv.weight",            true,  Dim::Embd,  Dim::QkvV,   false, Need::Required,  nullptr, &LW::wv,        true},
    {"attn_output.weight",         true,  Dim::EmbdQ, Dim::Embd,   false, Need::Required,  nullptr, &LW::wo,        true},
    {"ffn_norm.weight",            true,  Dim::Embd,  Dim::One,    true,  Need::Required,  nullptr, &LW::ffn_norm,  true},
    {"ffn_up.weight",              true,  Dim::Embd,  Dim::FfGate, false, Need::Required,  nullptr, &LW::ffn_gate,  true},
    {"ffn_up.weight",              true,  Dim::Embd,  Dim::FfUp,   false, Need::Required,  nullptr, &LW::ffn_up,    true},
    {"ffn_down.weight",            true,  Dim::Ff,    Dim::Embd,   false, Need::Required,  nullptr, &LW::ffn_down,  true},
};

}  // namespace

const std::span<const TensorSpec> kPhi3Tensors(kTable);

}  // namespace greta::model
