#pragma once
// The GPU backend (CUDA; HIP through gpu_compat.h): greta/backend/backend.h's ops on the device.
// It holds no graph: the model code (greta/model/arch/) drives it like the CPU backend.
//
//   greta::cuda::register_backend();                       // once, in CUDA builds
//   auto be = greta::create_backend("cuda", {});           // or Session{..., .backend = "cuda"}
//
// Everything the ops touch lives at fixed device addresses (weights, activations from alloc,
// the KV pool, the rotary table, the batch metadata written by set_batch), so run_step can
// record a step's launches once per StepKey as a CUDA graph and replay them; GRETA_CUDA_GRAPH=0
// launches kernel by kernel. The invariance contract of backend.h holds by construction
// (docs/ARCHITECTURE.md, "GPU backend"); the GPU is not bitwise equal to the CPU backend.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "greta/backend/backend.h"

namespace greta::cuda {

// True when the CUDA runtime reports at least one device.
bool device_available();
// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)", or why no device is usable.
std::string device_description();
// The device's read bandwidth in GB/s, measured now by a streaming read kernel over `bytes`
// (best of `passes` passes after a warm-up); 0 if the buffer cannot be allocated.
double measure_read_bandwidth_gb_s(int64_t bytes = int64_t{2} << 30, int passes = 5);

// Registers the "cuda" backend (greta/runtime/backend_registry.h) so that `--backend cuda` and
// SessionOptions{.backend = "cuda"} find it. Called by the CLIs in CUDA builds (GRETA_HAVE_CUDA).
void register_backend();

class CudaBackend final : public backend::Backend {
 public:
  // Throws greta::Error if no device is usable.
  explicit CudaBackend(const backend::BackendOptions& options);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  const char* name() const override { return "cuda"; }
  std::string describe() const override;

  // Matrices of every storage type in their own bits (block types split losslessly into a quant
  // and a scale plane, the file's size; float types with rows padded to 8 elements); f32
  // vectors (rows == 1) as device float arrays. A host view uploaded before (a tied output
  // is token_embd's view) is not uploaded again. PRECONDITIONS: the viewed bytes stay unchanged
  // for the backend's lifetime (the mapped file).
  void upload(backend::Weight& w, const std::string& name) override;
  // Rows of cols floats, row stride cols rounded up to 4 (16-byte aligned rows).
  backend::Tensor alloc(int64_t rows, int64_t cols) override;
  void kv_init(const backend::KvSpec& spec) override;
  void rope_init(const backend::RopeParams& params, int32_t n_pos) override;
  // PRECONDITIONS: not inside a replayable step (the block ids would be recorded).
  void kv_copy_block(int32_t src, int32_t dst) override;
  int64_t memory_bytes() const override;
  // Device bytes held by the weights, the KV pool, and everything else (activations, the
  // rotary table, the batch metadata).
  struct MemoryUse {
    int64_t weights = 0, kv_cache = 0, scratch = 0;
  };
  MemoryUse memory_use() const;

  void set_batch(const backend::BatchRows& rows) override;
  void run_step(const backend::StepKey& key, const std::function<void()>& fn) override;
  void read(const backend::Tensor& t, float* host) override;
  // On the device (sample.cu): greedy rows and rows of at most kDevSampleMaxCandidates
  // candidates; larger candidate sets read their logits row back and run the reference. One
  // synchronisation, after the ids (and those rows) are downloaded.
  void sample(const backend::Tensor& logits, std::span<const backend::SampleRow> samples, int32_t* ids) override;

  void embed(const backend::Weight& table, backend::Tensor out) override;
  void get_rows(backend::Tensor src, backend::Tensor dst) override;
  void matmul(const backend::Weight& w, backend::Tensor x, backend::Tensor y, bool accumulate = false) override;
  void matmul_multi(std::span<const backend::MatmulOut> outs, backend::Tensor x) override;
  void rms_norm(backend::Tensor x, const backend::Weight& w, backend::Tensor y, float eps) override;
  void add(backend::Tensor x, backend::Tensor y) override;
  void add_bias(backend::Tensor y, const backend::Weight& b) override;
  void rope(backend::Tensor x, int32_t n_heads, int32_t head_dim) override;
  void swiglu(backend::Tensor gate, backend::Tensor up, backend::Tensor out) override;
  void kv_store(int32_t layer, backend::Tensor k, backend::Tensor v) override;
  void attention(int32_t layer, const backend::AttnParams& p, backend::Tensor q, backend::Tensor k_fresh,
                 backend::Tensor v_fresh, backend::Tensor out) override;

  // ---- For tests (not part of the backend interface) ----
  // Copies host rows [t.rows, t.cols] (contiguous) into t and waits.
  void write(const backend::Tensor& t, const float* host);
  // The whole KV pool as stored: K and V, each [n_layer, n_blocks, block] in the cache type.
  void read_kv_pool(std::vector<uint8_t>& k, std::vector<uint8_t>& v);
  // Steps recorded as CUDA graphs so far.
  int graphs_recorded() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace greta::cuda
