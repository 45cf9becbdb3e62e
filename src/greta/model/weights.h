#pragma once
// The weights of a model as the graph names them. Which tensors an architecture has (name,
// shape, type rules, required or optional) is its tensor table (arch/arch.h): binding, upload to
// a backend, the model statistics and the tests all walk that one table through
// for_each_weight().

#include <cstdint>
#include <vector>

#include "greta/backend/tensor.h"

namespace greta::model {

using backend::Weight;

struct LayerWeights {
  Weight attn_norm;  // [n_embd] f32
  Weight wq;         // [n_embd_q, n_embd]   (rows, cols)
  Weight wk;         // [n_embd_kv, n_embd]
  Weight wv;         // [n_embd_kv, n_embd]
  Weight wo;         // [n_embd, n_embd_q]
  Weight bq;         // [n_embd_q] f32 (qwen2)
  Weight bk;         // [n_embd_kv] f32 (qwen2)
  Weight bv;         // [n_embd_kv] f32 (qwen2)
  Weight attn_q_norm;  // [head_dim] f32 (qwen3: RMSNorm of each query head)
  Weight attn_k_norm;  // [head_dim] f32 (qwen3: RMSNorm of each key head)
  Weight ffn_norm;   // [n_embd] f32
  Weight ffn_gate;   // [n_ff, n_embd]
  Weight ffn_up;     // [n_ff, n_embd]
  Weight ffn_down;   // [n_embd, n_ff]
};

struct Weights {
  Weight tok_embd;                   // [n_vocab, n_embd]
  Weight output_norm;                // [n_embd] f32
  Weight output;                     // [n_vocab, n_embd]; tok_embd's view when output.weight is absent
  Weight rope_freqs;                 // [n_rot / 2] f32, optional (Llama 3.1 frequency factors)
  bool tied_output = false;
  std::vector<LayerWeights> layers;  // [n_layer]
};

}  // namespace greta::model
