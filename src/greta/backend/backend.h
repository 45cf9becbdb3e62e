#pragma once
// The backend interface: the ops the model graphs need, and nothing else. The graph of each
// architecture (greta/model/arch/) is written once against it; the CPU backend
// (greta/backend_cpu/) and the CUDA backend (greta/cuda/) implement it. docs/ARCHITECTURE.md,
// "One graph, many sequences", is the design.
//
// A forward pass runs over a micro-batch of rows; each row is one token of one sequence at one
// position. The row metadata (tokens, positions, each row's KV block table) is handed to the
// backend once per micro-batch (set_batch); the ops then work on tensors of that many rows.
//
// Invariance contract, which every implementation keeps by construction: an op computes each
// output row from that row's inputs only (its activation row, its weight rows, its own sequence's
// KV positions [0, pos]), by a sequence of floating-point operations that does not depend on the
// number of rows, on the other rows, on the row's place in the batch or on the thread count.
// Attention visits a row's KV positions in tiles of kAttnTile at absolute boundaries, grouped in
// chunks of kAttnChunk whose partial states merge in ascending order. So a sequence's logits are
// bit-identical whatever shares its batches and whether its tokens came in a prefill chunk or one
// at a time.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "greta/backend/sampling.h"
#include "greta/backend/tensor.h"

namespace greta::backend {

inline constexpr int32_t kAttnTile = 32;    // KV positions per online-softmax tile
inline constexpr int32_t kAttnChunk = 256;  // KV positions per chunk (whole tiles)
inline constexpr int32_t kKvBlock = 32;     // KV positions per paged-cache block (one tile)
static_assert(kAttnChunk % kAttnTile == 0 && kKvBlock == kAttnTile, "a block is one tile; chunks are whole tiles");

// The paged KV cache: a pool of n_blocks blocks of kKvBlock positions, the same block ids in
// every layer. Per layer, block b holds
//   K [n_kv_head, head_dim, kKvBlock]  (tile-transposed: a tile's scores are kKvBlock lanes)
//   V [n_kv_head, kKvBlock, head_dim]
// in `type`. A sequence's position p lives in block table[p / kKvBlock], slot p % kKvBlock.
struct KvSpec {
  int32_t n_layer = 0;
  int32_t n_blocks = 0;
  int32_t n_kv_head = 0;
  int32_t head_dim = 0;
  KvType type = KvType::F32;

  int64_t block_elements() const { return int64_t{n_kv_head} * head_dim * kKvBlock; }  // of K (or V), one layer
  int64_t bytes() const { return 2 * int64_t{n_layer} * n_blocks * block_elements() * kv_type_size(type); }
};

enum class RopeType { Normal, NeoX };

// Rotary embedding: for pair i in [0, n_rot/2), theta = pos * freq_scale * base^(-2i/n_rot) /
// freq_factors[i]. Every backend rotates by the same f32 cos/sin table, computed once in f64.
struct RopeParams {
  RopeType type = RopeType::Normal;
  int32_t n_rot = 0;                    // rotated dimensions per head (even, <= head_dim)
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;              // 1 / linear scaling factor
  const float* freq_factors = nullptr;  // [n_rot / 2] host f32, or nullptr
};

struct AttnParams {
  int32_t n_head = 0;
  int32_t n_kv_head = 0;  // divides n_head
  int32_t head_dim = 0;
  float scale = 1.0f;     // usually 1 / sqrt(head_dim)
};

// The rows of one micro-batch (host arrays, copied by set_batch).
struct BatchRows {
  int32_t n_rows = 0;
  const int32_t* tokens = nullptr;  // [n_rows] token ids (in range)
  const int32_t* pos = nullptr;     // [n_rows] positions in their sequences
  const int32_t* seq = nullptr;     // [n_rows] the row's block table: row seq[r] of block_tables
  const int32_t* block_tables = nullptr;  // [n_tables, table_stride] block ids
  int32_t n_tables = 0;
  int32_t table_stride = 0;
  // kv-aligned 0 only (nullptr otherwise): the batch row holding the first position of the
  // row's run (a maximal run of consecutive rows of one sequence at consecutive positions);
  // attention then reads that run's K/V from the fresh f32 rows instead of the cache.
  const int32_t* fresh_row0 = nullptr;
  // The rows whose logits are wanted, in output order (get_rows gathers them).
  const int32_t* out_rows = nullptr;
  int32_t n_out = 0;
};

// What identifies the launch sequence of a step, for backends that record and replay it.
struct StepKey {
  int32_t n_rows = 0;
  int32_t n_out = 0;
  bool fresh = false;
  bool replayable = true;  // false: run directly (tracing reads tensors mid-step)
};

// One token to sample from a row of the step's logits (backend/sampling.h is the arithmetic).
struct SampleRow {
  int32_t row = 0;      // row of the logits tensor
  SampleParams params;
  double u = 0.0;       // the PRNG draw in [0, 1) (runtime/sampler.h); unused when params.temp <= 0
};

struct MatmulOut {
  const Weight* w = nullptr;
  Tensor y;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;          // "cpu", "cuda"
  virtual std::string describe() const = 0;      // e.g. "cpu (AVX3_DL, 2 threads)" or the device
  // The SIMD target host kernels dispatched to ("AVX3_DL", "AVX2", ...), or "none".
  virtual std::string simd_target() const { return "none"; }

  // ---- Setup (once per context) ----
  // Makes a weight usable by the ops (a GPU backend copies it to the device). `name` is the
  // tensor's GGUF name, for errors. Throws greta::Error for a type the backend cannot compute with.
  virtual void upload(Weight& w, const std::string& name) = 0;
  // An f32 tensor [rows, cols], zero-filled, owned by the backend for its lifetime.
  virtual Tensor alloc(int64_t rows, int64_t cols) = 0;
  // Allocates the KV pool (zero-filled). Throws greta::Error (with the size) if it does not fit.
  virtual void kv_init(const KvSpec& spec) = 0;
  // The rotary table for positions [0, n_pos).
  virtual void rope_init(const RopeParams& params, int32_t n_pos) = 0;
  // Copies block src to block dst in every layer (copy-on-write of a shared block).
  virtual void kv_copy_block(int32_t src, int32_t dst) = 0;
  // Bytes of backend memory held by weights, the KV pool and activations.
  virtual int64_t memory_bytes() const = 0;

  // ---- Per micro-batch ----
  virtual void set_batch(const BatchRows& rows) = 0;
  // Runs fn, which issues the ops of one step. A backend may record the launches once per key
  // and replay them (every tensor and the batch metadata live at fixed addresses).
  virtual void run_step(const StepKey& key, const std::function<void()>& fn) { fn(); }
  // Copies t [rows, cols] to host memory (contiguous rows) and waits for it.
  virtual void read(const Tensor& t, float* host) = 0;
  // Samples rows of logits [rows, n_vocab = cols] after the step: ids[i] = sample_row(row
  // samples[i].row, samples[i].params, samples[i].u) of backend/sampling.h, exactly (every
  // backend). Waits for the step; only the ids need come back to the host. This default reads
  // the rows and runs the reference.
  virtual void sample(const Tensor& logits, std::span<const SampleRow> samples, int32_t* ids) {
    std::vector<float> row(static_cast<size_t>(logits.cols));
    SampleScratch scratch;
    for (size_t i = 0; i < samples.size(); ++i) {
      read(logits.slice(samples[i].row, 1), row.data());
      ids[i] = sample_row(row.data(), static_cast<int32_t>(logits.cols), samples[i].params, samples[i].u, scratch);
    }
  }

  // ---- Ops (the rows of a tensor argument are the micro-batch's, unless said otherwise) ----
  // out[r] = row tokens[r] of the table, converted to f32.
  virtual void embed(const Weight& table, Tensor out) = 0;
  // dst[i] = src[out_rows[i]] for i < n_out.
  virtual void get_rows(Tensor src, Tensor dst) = 0;
  // y[r, n] (+)= sum_k W[n, k] x[r, k]. accumulate: y += the product (rounded first).
  virtual void matmul(const Weight& w, Tensor x, Tensor y, bool accumulate = false) = 0;
  // Several products of the same x; each output bit-identical to matmul alone. 1..4 outputs.
  virtual void matmul_multi(std::span<const MatmulOut> outs, Tensor x) = 0;
  // y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w.
  virtual void rms_norm(Tensor x, const Weight& w, Tensor y, float eps) = 0;
  // x += y.
  virtual void add(Tensor x, Tensor y) = 0;
  // y[r] += b.
  virtual void add_bias(Tensor y, const Weight& b) = 0;
  // Rotates the heads of row r at position pos[r], in place. x: [rows, n_heads * head_dim].
  virtual void rope(Tensor x, int32_t n_heads, int32_t head_dim) = 0;
  // out = silu(gate) * up (out may alias gate).
  virtual void swiglu(Tensor gate, Tensor up, Tensor out) = 0;
  // Rounds K/V rows to the cache type and stores row r at (its table, pos[r]) in layer `layer`.
  virtual void kv_store(int32_t layer, Tensor k, Tensor v) = 0;
  // Causal GQA attention of row r over its sequence's positions [0, pos[r]] of layer `layer`.
  // k_fresh/v_fresh: this batch's f32 K/V, read for the row's run when the batch has fresh_row0.
  virtual void attention(int32_t layer, const AttnParams& p, Tensor q, Tensor k_fresh, Tensor v_fresh,
                         Tensor out) = 0;
};

// Construction options every backend factory takes.
struct BackendOptions {
  int n_threads = 1;             // CPU threads (ignored by GPU backends)
  bool f32_activations = false;  // CPU: f32 activations for every weight type (no 8-bit path)
};

}  // namespace greta::backend
