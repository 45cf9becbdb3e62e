#pragma once
// The batch API: many sequences, one forward pass per step, a paged KV cache.
//
//   greta::Context ctx(*lm, {.n_seq_max = 8, .kv_dtype = KvDtype::BF16, .kv_aligned = true});
//   SeqId a = ctx.seq_add(), b = ctx.seq_add();
//   std::vector<BatchRow> rows = {{a, 0, 1, false}, {a, 1, 450, true}, {b, 0, 1, true}};
//   const float* logits = ctx.decode(rows);  // [2, n_vocab]: a at position 1, then b at 0
//
// A batch is a list of rows (sequence, position, token, logits wanted), like llama.cpp's
// llama_batch: prefill chunks and single-token steps of different sequences in one call.
// Contract (docs/ARCHITECTURE.md, "Batch invariance"): with kv_aligned, a sequence's logits at a
// position are bit-identical whatever else shares its batches -- their number, lengths,
// positions and order, the row's place in the batch, whether its tokens came in a prefill chunk
// or one at a time -- for any thread count and every KV dtype, on every backend.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "greta/backend/sampling.h"
#include "greta/backend/tensor.h"
#include "greta/runtime/loaded_model.h"

namespace greta {

// The kv-aligned default, the one place it is stated (CLIs, sessions and contexts use it).
inline constexpr bool kDefaultKvAligned = false;
// Rows per forward pass: a longer batch runs as several passes, in row order, so activation
// memory is bounded. Under kv_aligned the boundaries change no bit.
inline constexpr int32_t kMaxMicroBatch = 256;
// Context positions per sequence when the options leave it to the model.
inline constexpr int32_t kDefaultCtxCap = 4096;

using SeqId = int32_t;

struct BatchRow {
  SeqId seq = 0;
  int32_t pos = 0;      // must continue the sequence: its length, then +1 per later row of it
  TokenId token = 0;
  bool logits = false;  // an output row: its logits are computed (returned, or sampled on the backend)
  bool host_logits = true;  // with `logits`: copy them to the host (false: only sampled on the backend)
};

// A token sampled on the backend from an output row (Context::decode with samples).
struct RowSample {
  int32_t out = 0;  // the output row: index among the batch's rows with `logits`, in row order
  backend::SampleParams params;
  double u = 0.0;   // the draw: Sampler::peek_draw() (then Sampler::skip_draw() once it is used)
};

struct ContextOptions {
  std::string backend = "cpu";  // a registered backend (runtime/backend_registry.h)
  int32_t n_ctx = 0;            // positions per sequence; 0: the model's, capped at kDefaultCtxCap
  int32_t n_seq_max = 1;        // sizes the pool when kv_blocks is 0
  int32_t kv_blocks = 0;        // blocks in the pool; 0: n_seq_max full sequences
  KvDtype kv_dtype = KvDtype::BF16;
  bool kv_aligned = kDefaultKvAligned;
  int n_threads = 1;
  // Matmuls with f32 activations for every weight type (exact math) instead of the fast path
  // that quantizes activations to 8 bits for Q8_0/Q4_0/Q4_K/Q6_K weights, as ggml does.
  bool f32_activations = false;
  int32_t max_batch = kMaxMicroBatch;  // rows per forward pass
};

struct KvStats {
  int32_t block_size = 0;    // positions per block
  int32_t blocks_total = 0;
  int32_t blocks_used = 0;   // held by at least one sequence (a shared block counts once)
  int32_t blocks_free = 0;
  int64_t bytes_per_block = 0;  // all layers, K and V
};

class Context {
 public:
  // Creates the backend, uploads the weights, allocates the KV pool. Throws greta::Error.
  Context(const LoadedModel& model, const ContextOptions& options);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  int32_t n_ctx() const;    // positions per sequence
  int32_t n_vocab() const;
  const ContextOptions& options() const;
  std::string backend_description() const;
  std::string backend_simd_target() const;  // "AVX3_DL", ... ("none" for a GPU backend)

  // Sequences. Ids are never reused within a context.
  SeqId seq_add();
  // Frees the sequence's blocks at once (shared blocks when their last holder goes).
  void seq_remove(SeqId seq);
  // A new sequence with src's tokens: it shares src's blocks; the first write into a shared
  // block copies it (copy-on-write).
  SeqId seq_fork(SeqId src);
  bool seq_exists(SeqId seq) const;
  int32_t seq_len(SeqId seq) const;  // positions in the cache
  // The sequence's block table (block ids in position order), for tests and tools.
  std::vector<int32_t> seq_blocks(SeqId seq) const;
  KvStats kv_stats() const;

  // Runs the rows and returns the logits of the rows with `logits` set, in row order:
  // [n_wanted, n_vocab] f32, valid until the next call. Everything is checked first and
  // nothing is applied on a bad batch: greta::Error naming the row (unknown sequence, a
  // position that does not continue the sequence, a token id out of range, a position past
  // n_ctx) or the pool (blocks needed, blocks free).
  const float* decode(std::span<const BatchRow> rows);
  // The same, and samples on the backend: ids[i] = the token samples[i] picks from its output
  // row, exactly what Sampler::sample returns from those logits with that draw
  // (backend/sampling.h). Only the ids and the output rows with host_logits come back to the host
  // (a GPU step then has one synchronisation, at its end); the returned array keeps the layout
  // [n_wanted, n_vocab], with the rows without host_logits unspecified.
  const float* decode(std::span<const BatchRow> rows, std::span<const RowSample> samples, TokenId* ids);

  // Debugging: every named intermediate of the forward passes ("attn_norm", "Qcur", "kqv_out",
  // "ffn_inp", "l_out", "result_norm", "result_output", ...) with its layer (-1 for
  // model-level tensors) and the micro-batch's rows. An empty function turns tracing off.
  using Trace = std::function<void(const char* name, int layer, const float* data, int64_t rows, int64_t cols)>;
  void set_trace(Trace trace);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace greta
