#pragma once
// Continuous batching over a Context: many generation requests, at most `parallel` running at
// once, all of them advancing in one forward pass per step. A finished request's slot takes the
// next waiting request at once. The library's generation API: it prints nothing, it reports
// events.
//
//   greta::Generator gen(ctx, tokenizer, /*parallel=*/8);
//   gen.submit({.prompt = ids, .max_tokens = 64, .sampling = {.temp = 0}, .seed = 1});
//   while (!gen.idle()) gen.step([&](const GenerationEvent& e) { ... });
//
// Determinism: a request's events depend on its own fields only -- never on `parallel`, on the
// other requests or on the order of arrival -- when the context is batch-invariant (kv_aligned,
// docs/ARCHITECTURE.md). Its prompt is prefilled in chunks of kMaxMicroBatch tokens whatever else
// runs, and its sampler is its own (seeded by the request).

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "greta/runtime/context.h"
#include "greta/runtime/sampler.h"

namespace greta {

struct GenerationRequest {
  std::vector<TokenId> prompt;  // non-empty
  int32_t max_tokens = 128;     // tokens to generate
  SamplerParams sampling;
  uint64_t seed = 0;
  bool ignore_eos = false;
  // Token indices whose logits the caller wants ([start, start + count); count 0: none). Token
  // index k's logits are those computed at position k - 1 (k >= 1); past max_tokens a token is
  // still sampled to complete the span, reported as a Logits event only.
  int64_t logits_start = 0;
  int64_t logits_count = 0;
};

struct GenerationEvent {
  enum class Kind {
    Started,  // the request got a slot (its sequence exists)
    Logits,   // logits of a token index in the request's span (with the token at that index)
    Token,    // a generated token
    Done,     // finished: stop_reason says why ("max-tokens", "end-of-generation", "context-full")
  };
  Kind kind = Kind::Token;
  int64_t request = 0;      // id returned by submit()
  int64_t token_idx = 0;    // Logits, Token
  TokenId token = 0;        // Logits, Token
  const float* logits = nullptr;  // Logits: [n_vocab] f32, valid during the callback
  std::string stop_reason;  // Done
};

class Generator {
 public:
  // PRECONDITIONS: ctx outlives the generator; its pool holds `parallel` full sequences.
  Generator(Context& ctx, const Tokenizer& tokenizer, int32_t parallel);
  ~Generator();

  // Queues a request; returns its id (0, 1, ... in submission order). Throws greta::Error for an
  // empty prompt, a prompt longer than the context or a token id out of range.
  int64_t submit(GenerationRequest request);
  // Stops a request (waiting or running); its sequence and KV blocks are freed at once.
  void cancel(int64_t request);

  bool idle() const;           // nothing waiting or running
  int32_t n_running() const;
  int32_t n_waiting() const;

  // One forward pass: admits waiting requests into free slots, runs the batch (prompt chunks of
  // new requests, one token of each running one), samples, and reports the events in a fixed
  // order (by slot).
  using Sink = std::function<void(const GenerationEvent&)>;
  void step(const Sink& sink);

 private:
  struct Slot;
  Context& ctx_;
  const Tokenizer& tok_;
  int32_t parallel_;
  int64_t next_id_ = 0;
  std::deque<std::pair<int64_t, GenerationRequest>> waiting_;
  std::vector<std::unique_ptr<Slot>> slots_;  // [parallel]; null: free
  std::vector<BatchRow> rows_;
};

}  // namespace greta
