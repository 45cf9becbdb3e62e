#pragma once
// Hyperparameters of a llama-family model, read from GGUF metadata `<arch>.*` with llama.cpp's
// defaults where a key is absent.

#include <cstdint>
#include <string>

#include "greta/backend/backend.h"

namespace greta::gguf { class GgufFile; }

namespace greta::model {

struct ArchInfo;

struct HParams {
  const ArchInfo* arch = nullptr;  // general.architecture's table (arch/arch.h)
  int32_t n_vocab = 0;       // rows of token_embd
  int32_t n_ctx_train = 0;   // <arch>.context_length
  int32_t n_embd = 0;        // <arch>.embedding_length
  int32_t n_layer = 0;       // <arch>.block_count
  int32_t n_head = 0;        // <arch>.attention.head_count
  int32_t n_head_kv = 0;     // <arch>.attention.head_count_kv (default n_head)
  int32_t head_dim = 0;      // <arch>.attention.key_length (default n_embd / n_head)
  int32_t n_ff = 0;          // <arch>.feed_forward_length
  float rms_eps = 1e-5f;     // <arch>.attention.layer_norm_rms_epsilon
  backend::RopeType rope_type = backend::RopeType::Normal;  // from the architecture's table
  int32_t n_rot = 0;         // <arch>.rope.dimension_count (default head_dim)
  float rope_freq_base = 10000.0f;  // <arch>.rope.freq_base
  float rope_freq_scale = 1.0f;     // 1 / <arch>.rope.scaling.factor for linear scaling

  int32_t n_embd_q() const { return n_head * head_dim; }
  int32_t n_embd_kv() const { return n_head_kv * head_dim; }
  const char* arch_name() const;
};

// Reads and validates the hyperparameters. n_vocab is left 0 (bound from token_embd).
// Throws greta::Error naming the key and what was expected.
HParams hparams_from_gguf(const gguf::GgufFile& file);

}  // namespace greta::model
