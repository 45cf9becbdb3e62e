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
  // Choices (1..parallel): after the prompt, n-1 sequences are forked from the prompt's
  // (Context::seq_fork: they share its KV blocks, copy-on-write) and each samples on its own.
  // Choice c samples with seed + c, so choice c of a request equals choice 0 of the same request
  // with seed + c and n = 1. The request takes n of the `parallel` sequences from admission on.
  int32_t n = 1;
  // Token events carry the logits the token was sampled from (copied back from the backend);
  // false: Token events have logits == nullptr and a step brings back only the sampled ids
  // (the tokens are the same either way: sampling runs on the backend, backend/sampling.h).
  bool token_logits = false;
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
  // Logits: the logits of token_idx; Token: the logits the token was sampled from (the same
  // values; nullptr unless the request set token_logits or token_idx is in its span). [n_vocab]
  // f32, valid during the callback.
  const float* logits = nullptr;
  std::string stop_reason;  // Done
  int32_t choice = 0;       // Logits, Token, Done: the choice (0..n-1); prompt logits: 0
};

class Generator {
 public:
  // PRECONDITIONS: ctx outlives the generator; its pool holds `parallel` full sequences.
  Generator(Context& ctx, const Tokenizer& tokenizer, int32_t parallel);
  ~Generator();

  // Queues a request; returns its id (0, 1, ... in submission order). Throws greta::Error for an
  // empty prompt, a prompt longer than the context, a token id out of range or n outside
  // [1, parallel].
  int64_t submit(GenerationRequest request);
  // Stops a request (waiting or running); its sequences and KV blocks are freed at once.
  // PRECONDITIONS (cancel, stop_choice): not called from inside step()'s sink.
  void cancel(int64_t request);
  // Ends one running choice of a request (a stop string matched, say) without a Done event; the
  // request ends when its last choice has. Unknown ids and ended choices are ignored.
  void stop_choice(int64_t request, int32_t choice);

  bool idle() const;           // nothing waiting or running
  int32_t n_running() const;   // requests with a slot
  int32_t n_waiting() const;
  int32_t n_sequences() const; // sequences held by running requests (each counts n in its prompt)
  int32_t parallel() const { return parallel_; }
  int32_t last_step_sequences() const { return last_step_sequences_; }  // sequences in the last batch

  // One forward pass: admits waiting requests into free slots (in submission order: a request
  // whose n does not fit yet waits, and so do those behind it), runs the batch (prompt chunks of
  // new requests, one token of each running choice), samples, and reports the events in a fixed
  // order (by slot, then by choice).
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
  std::vector<RowSample> samples_;
  std::vector<TokenId> sampled_;
  int32_t last_step_sequences_ = 0;
};

}  // namespace greta
