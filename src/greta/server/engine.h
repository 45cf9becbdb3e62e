#pragma once
// The server's engine: one thread owns the Generator (and through it the Context) and runs its
// steps; HTTP handler threads talk to it through a queue (requests in) and one RequestHandle
// per request (events out). The engine turns the generator's token events into text (complete
// UTF-8, stop strings cut and held back while they may still match), log-probabilities and
// finish reasons, and keeps the metrics' gauges.
//
//   Engine engine(ctx, tokenizer, {.parallel = 4, .max_queue = 64}, metrics);
//   std::shared_ptr<RequestHandle> h = engine.submit(request);  // throws ApiError (400, 503)
//   std::deque<EngineEvent> events;
//   while (h->wait(events, 100ms)) { ... }   // false once the request is over and drained
//
// Determinism: what a request receives depends on the request only (docs/SERVER.md) -- the
// generator's contract under kv_aligned, plus text and log-probabilities computed from its own
// tokens and logits by fixed procedures.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "greta/runtime/context.h"
#include "greta/runtime/generator.h"
#include "greta/server/metrics.h"

namespace greta::server {

struct EngineRequest {
  std::vector<TokenId> prompt;  // non-empty, at most the context
  int32_t max_tokens = 16;
  SamplerParams sampling;
  uint64_t seed = 0;
  int32_t n = 1;                   // choices (forked sequences sharing the prompt's KV blocks)
  std::vector<std::string> stop;   // stop strings: the text ends before the first match
  int32_t top_logprobs = -1;       // -1: no log-probabilities; k >= 0: with the k best alternatives
  bool prompt_logprobs = false;    // also the prompt's tokens 1.. (completions' echo)
  bool ignore_eos = false;
};

// log p(token) under the model's distribution at that position: log-softmax of the raw logits
// (before temperature, top-k/p, min-p), in double, summed in vocabulary order.
struct TokenLogprob {
  TokenId token = 0;
  double logprob = 0.0;
  std::vector<std::pair<TokenId, double>> top;  // best first; ties: lower id first
};

struct EngineEvent {
  enum class Kind {
    Started,  // the request got a slot
    Prompt,   // a prompt token's log-probability (prompt_logprobs; token indices 1, 2, ...)
    Token,    // a generated token (end-of-generation tokens are not reported) and its text
    Done,     // a choice finished: finish_reason "stop" (EOS or a stop string) or "length"
    Error,    // the request failed (message); nothing follows
  };
  Kind kind = Kind::Token;
  int32_t choice = 0;
  TokenId token = 0;                    // Prompt, Token
  std::string text;                     // Token, Done: text to append (may be empty)
  std::optional<TokenLogprob> logprob;  // Prompt, Token: when asked for
  std::string finish_reason;            // Done
  std::string message;                  // Error
};

// One request's event queue, shared by the engine thread (producer) and a handler (consumer).
class RequestHandle {
 public:
  // Moves the queued events into `out` (appending); waits up to `timeout` for one. Returns false
  // when the request is over and every event has been taken.
  bool wait(std::deque<EngineEvent>& out, std::chrono::milliseconds timeout);
  // The client went away: the engine cancels the request at its next step and frees its
  // sequences.
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }
  uint64_t seed() const { return seed_; }

 private:
  friend class Engine;
  void push(EngineEvent e);
  void close();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<EngineEvent> events_;
  bool closed_ = false;
  std::atomic<bool> cancelled_{false};
  uint64_t seed_ = 0;
};

struct EngineOptions {
  int32_t parallel = 4;    // sequences per forward pass
  int32_t max_queue = 64;  // requests waiting for a slot before new ones get 503
};

class Engine {
 public:
  // Starts the engine thread. PRECONDITIONS: ctx's pool holds `parallel` full sequences; ctx,
  // tokenizer and metrics outlive the engine.
  Engine(Context& ctx, const Tokenizer& tokenizer, const EngineOptions& options, Metrics& metrics);
  ~Engine();  // shutdown(0 ms) if not done yet
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Thread-safe. Throws ApiError: 400 (prompt empty or longer than the context, a token id out
  // of range, n above parallel), 503 (queue full, or shutting down).
  std::shared_ptr<RequestHandle> submit(EngineRequest request);

  // Stops taking requests, lets running and queued ones finish for up to `grace`, cancels what
  // is left (their handles end with an Error event) and joins the thread. Idempotent.
  void shutdown(std::chrono::milliseconds grace);

  int32_t n_ctx() const { return n_ctx_; }
  int32_t n_vocab() const { return n_vocab_; }
  int32_t parallel() const { return options_.parallel; }
  KvStats kv_stats_snapshot() const;

 private:
  struct Active;
  void loop();
  void on_event(const GenerationEvent& e);
  void finish_done_requests();
  void update_gauges();

  Context& ctx_;
  const Tokenizer& tok_;
  const EngineOptions options_;
  Metrics& metrics_;
  const int32_t n_ctx_;
  const int32_t n_vocab_;
  Generator gen_;  // engine thread only

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<EngineRequest, std::shared_ptr<RequestHandle>>> incoming_;  // guarded by mu_
  int64_t queued_ = 0;  // guarded by mu_: submitted, not started
  bool stopping_ = false;
  std::chrono::steady_clock::time_point deadline_;
  mutable std::mutex kv_mu_;
  KvStats kv_snapshot_;

  std::map<int64_t, std::unique_ptr<Active>> active_;   // engine thread: generator id -> request
  std::vector<std::pair<int64_t, int32_t>> to_stop_;    // engine thread: choices a stop string ended
  std::thread thread_;
};

// Text to emit now from `pending` and whether a stop string matched: the longest prefix that
// cannot be part of a stop string is emitted and removed from `pending`; on a match, the text
// before it is emitted and the rest dropped. final: nothing more comes (no holding back).
std::pair<std::string, bool> stop_string_cut(std::string& pending, const std::vector<std::string>& stops, bool final);

TokenLogprob token_logprob(const float* logits, int32_t n_vocab, TokenId token, int32_t top);

}  // namespace greta::server
