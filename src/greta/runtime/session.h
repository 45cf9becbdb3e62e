#pragma once
// One sequence: the API greta_infer and the guardrail use, a thin layer over the batch API
// (runtime/context.h) with one sequence in it.
//
//   auto lm = greta::load_model("models/stories260K.gguf");
//   greta::Session s(*lm, {.kv_dtype = KvDtype::BF16, .kv_aligned = true, .n_threads = 2});
//   const float* logits = s.prefill(prompt_ids, /*all_logits=*/false);  // [1, n_vocab]
//   logits = s.decode(next_id);                                         // [n_vocab]
//
// prefill() and decode() are two real code paths (batched vs single-token). With kv_aligned the
// logits of a position are bit-identical whichever path computed it, for any n_threads, on any
// backend.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "greta/runtime/context.h"
#include "greta/runtime/loaded_model.h"
#include "greta/runtime/sampler.h"

namespace greta {

struct SessionOptions {
  int32_t n_ctx = 0;  // 0: the model's context length, capped at kDefaultCtxCap
  KvDtype kv_dtype = KvDtype::BF16;
  bool kv_aligned = kDefaultKvAligned;
  int n_threads = 1;
  // Matmuls with f32 activations for every weight type (see ContextOptions).
  bool f32_activations = false;
  std::string backend = "cpu";  // a registered backend: cpu, cuda (CUDA builds)
};

class Session {
 public:
  Session(const LoadedModel& model, const SessionOptions& options);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  int32_t n_ctx() const;
  int32_t n_past() const;  // positions already in the KV cache
  int32_t n_vocab() const;
  std::string backend_description() const;
  std::string backend_simd_target() const;

  // Batched prefill of tokens at positions [n_past, n_past + n). Returns logits
  // [all_logits ? n : 1, n_vocab] f32 (the last row only when !all_logits), valid until the next
  // call. Throws greta::Error if n_past + n > n_ctx or a token id is out of range.
  const float* prefill(std::span<const TokenId> tokens, bool all_logits);

  // Single-token decode at position n_past. Returns logits [n_vocab] f32.
  const float* decode(TokenId token);

  // The same two paths, sampling the new last row on the backend with `sampler` (one draw, as
  // sampler->sample() would take; no sampling when sampler is null, token -1): only the token
  // comes back, plus logits when asked -- prefill: every row's when all_logits, else the last
  // row's when last_logits; decode: the row's when `logits` -- else `logits` is nullptr.
  struct Sampled {
    TokenId token = -1;
    const float* logits = nullptr;  // [rows, n_vocab] f32 as prefill()/decode() return, or nullptr
  };
  Sampled prefill_sample(std::span<const TokenId> tokens, bool all_logits, bool last_logits, Sampler* sampler);
  Sampled decode_sample(TokenId token, bool logits, Sampler* sampler);

  // Forget the KV cache (n_past = 0).
  void reset();

  // Debugging: the named intermediates of the forward pass (Context::set_trace).
  using Trace = Context::Trace;
  void set_trace(Trace trace);

 private:
  Context ctx_;
  SeqId seq_;
  std::vector<BatchRow> rows_;

  void check_prefill(std::span<const TokenId> tokens) const;
  void check_decode(TokenId token) const;
  Sampled run_sampled(bool host_logits, Sampler* sampler);
};

}  // namespace greta
