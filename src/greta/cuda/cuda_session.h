#pragma once
// The GPU backend (CUDA; HIP through gpu_compat.h): a Session whose forward pass runs on the GPU.
//
//   auto lm = greta::load_model("models/stories260K.gguf");
//   greta::cuda::CudaSession s(*lm, {.kv_dtype = KvDtype::F32, .kv_aligned = true});
//   const float* logits = s.prefill(prompt_ids, /*all_logits=*/false);  // host [1, n_vocab]
//   logits = s.decode(next_id);                                         // host [n_vocab]
//
// Same public interface as greta::Session. The equivalence contract holds on the GPU by design
// (docs/ARCHITECTURE.md, "GPU backend"): every kernel computes an output element with operations
// that depend only on that element's inputs (never on the batch size), and K/V are always read
// back from the cache, so the logits of a position are bit-identical whether prefill or decode
// computed it. kv_aligned is therefore always on here (the option is accepted and ignored).
// n_threads is ignored.

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "greta/runtime/session.h"

namespace greta::cuda {

// True when the CUDA runtime reports at least one device.
bool device_available();
// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)", or why no device is usable.
std::string device_description();

// Registers the "cuda" session backend (greta/runtime/session.h) so that `--backend cuda`
// finds it. Called by the CLIs in CUDA builds (GRETA_HAVE_CUDA).
void register_backend();

class CudaSession final : public InferenceSession {
 public:
  // Uploads the weights once (matrices F32/F16/BF16/Q8_0/Q4_0 natively; other block types are
  // dequantized to f32 on upload). Throws greta::Error if no device is usable or a type is not
  // supported by the CUDA backend.
  CudaSession(const LoadedModel& model, const SessionOptions& options);
  ~CudaSession() override;
  CudaSession(const CudaSession&) = delete;
  CudaSession& operator=(const CudaSession&) = delete;

  int32_t n_ctx() const override;
  int32_t n_past() const override;
  int32_t n_vocab() const override;

  // As Session::prefill: logits [all_logits ? n : 1, n_vocab] f32 on the host, valid until the
  // next call.
  const float* prefill(std::span<const TokenId> tokens, bool all_logits) override;
  // As Session::decode: logits [n_vocab] f32 on the host.
  const float* decode(TokenId token) override;
  void reset() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace greta::cuda
