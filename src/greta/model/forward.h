#pragma once
// The llama-family forward pass over a micro-batch of tokens, reading and extending the KV cache.
//
// Two phases share every op except attention scheduling: Prefill (n >= 1 tokens, attention tasks
// per (token, KV head)) and Decode (one token, attention split into fixed KV chunks run in
// parallel). Under kv_aligned both attend to K/V read back from the cache, so a position's
// logits are bit-identical whichever phase computed it (docs/ARCHITECTURE.md).

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "greta/cpu/matmul.h"
#include "greta/ops/attention.h"
#include "greta/ops/rope.h"

namespace greta { class ThreadPool; }

namespace greta::model {

class Model;

// Activation buffers, allocated once per session for micro-batches of up to max_batch tokens.
struct ForwardBuffers {
  ForwardBuffers(const Model& model, int32_t max_batch, int32_t n_ctx, int n_threads);

  int32_t max_batch;
  std::vector<float> x;         // [max_batch, n_embd]     residual stream
  std::vector<float> xb;        // [max_batch, n_embd]     normed input of a block
  std::vector<float> q;         // [max_batch, n_embd_q]
  std::vector<float> k;         // [max_batch, n_embd_kv]
  std::vector<float> v;         // [max_batch, n_embd_kv]
  std::vector<float> att;       // [max_batch, n_embd_q]  attention output
  std::vector<float> proj;      // [max_batch, n_embd]    wo / ffn_down output
  std::vector<float> gate;      // [max_batch, n_ff]
  std::vector<float> up;        // [max_batch, n_ff]
  ops::RopeTable rope;          // cos/sin for positions [0, n_ctx)
  ops::AttentionScratch attn;
  cpu::MatmulScratch matmul;
};

enum class Phase { Prefill, Decode };

// Optional observer of named intermediates ("attn_norm", layer 3, [rows, cols] f32), for
// debugging divergences layer by layer. layer is -1 for model-level tensors.
using ForwardTrace = std::function<void(const char* name, int layer, const float* data, int64_t rows, int64_t cols)>;

struct ForwardArgs {
  Phase phase = Phase::Prefill;
  bool kv_aligned = true;
  const int32_t* tokens = nullptr;  // [n]
  int32_t n = 0;                    // 1 <= n <= max_batch (n == 1 for Decode)
  int32_t pos0 = 0;                 // position of tokens[0]
  int32_t logits_first = 0;         // logits are computed for rows [logits_first, n)
  float* logits = nullptr;          // [n - logits_first, n_vocab] f32
  const ForwardTrace* trace = nullptr;
};

// PRECONDITIONS: token ids in range; pos0 + n <= the cache's n_ctx; kv has n_layer entries.
void forward(const Model& model, ForwardBuffers& buf, std::span<const ops::KvLayer> kv, const ForwardArgs& args,
             ThreadPool& pool);

}  // namespace greta::model
