#pragma once
// The weights of a llama-family model, bound by name from the GGUF file with their expected type
// and shape, in place in the mapping (no copies). The table of tensors per architecture is in
// weights.cpp, bind_weights().

#include <cstdint>
#include <string>
#include <vector>

#include "greta/cpu/matmul.h"
#include "greta/model/hparams.h"

namespace greta::gguf { class GgufFile; }

namespace greta::model {

struct LayerWeights {
  const float* attn_norm = nullptr;  // [n_embd] f32
  cpu::WeightMatrix wq;              // [n_embd_q, n_embd]   (rows, cols)
  cpu::WeightMatrix wk;              // [n_embd_kv, n_embd]
  cpu::WeightMatrix wv;              // [n_embd_kv, n_embd]
  cpu::WeightMatrix wo;              // [n_embd, n_embd_q]
  const float* bq = nullptr;         // [n_embd_q] f32 (qwen2)
  const float* bk = nullptr;         // [n_embd_kv] f32 (qwen2)
  const float* bv = nullptr;         // [n_embd_kv] f32 (qwen2)
  const float* ffn_norm = nullptr;   // [n_embd] f32
  cpu::WeightMatrix ffn_gate;        // [n_ff, n_embd]
  cpu::WeightMatrix ffn_up;          // [n_ff, n_embd]
  cpu::WeightMatrix ffn_down;        // [n_embd, n_ff]
};

struct Weights {
  cpu::WeightMatrix tok_embd;          // [n_vocab, n_embd]
  std::vector<LayerWeights> layers;    // [n_layer]
  const float* output_norm = nullptr;  // [n_embd] f32
  cpu::WeightMatrix output;            // [n_vocab, n_embd]; tok_embd when output.weight is absent
  bool tied_output = false;
  const float* rope_freqs = nullptr;   // [n_rot / 2] f32 or nullptr (Llama 3.1 frequency factors)
};

// Binds every tensor the architecture needs. Sets hp.n_vocab from token_embd. Throws
// greta::Error naming a missing tensor, or a mis-shaped/mis-typed one with both shapes.
Weights bind_weights(const gguf::GgufFile& file, HParams& hp);

}  // namespace greta::model
