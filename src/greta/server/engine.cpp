#include "greta/server/engine.h"

#include <algorithm>
#include <cmath>

#include "greta/core/error.h"
#include "greta/server/api_request.h"

namespace greta::server {

using Clock = std::chrono::steady_clock;

// ---- RequestHandle ----

bool RequestHandle::wait(std::deque<EngineEvent>& out, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !events_.empty() || closed_; });
  const bool had = !events_.empty();
  while (!events_.empty()) {
    out.push_back(std::move(events_.front()));
    events_.pop_front();
  }
  return had || !closed_;
}

void RequestHandle::push(EngineEvent e) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(e));
  }
  cv_.notify_all();
}

void RequestHandle::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

// ---- text and log-probabilities ----

std::pair<std::string, bool> stop_string_cut(std::string& pending, const std::vector<std::string>& stops, bool final) {
  size_t match = std::string::npos;
  for (const std::string& s : stops) match = std::min(match, pending.find(s));
  if (match != std::string::npos) {
    std::string out = pending.substr(0, match);
    pending.clear();
    return {std::move(out), true};
  }
  size_t keep = 0;  // the longest suffix of pending that is a proper prefix of a stop string
  if (!final) {
    for (const std::string& s : stops) {
      for (size_t len = std::min(s.size() - 1, pending.size()); len > keep; --len) {
        if (pending.compare(pending.size() - len, len, s, 0, len) == 0) {
          keep = len;
          break;
        }
      }
    }
  }
  std::string out = pending.substr(0, pending.size() - keep);
  pending.erase(0, pending.size() - keep);
  return {std::move(out), false};
}

TokenLogprob token_logprob(const float* logits, int32_t n_vocab, TokenId token, int32_t top) {
  double mx = -INFINITY;
  for (int32_t i = 0; i < n_vocab; ++i) mx = std::max(mx, static_cast<double>(logits[i]));
  double sum = 0.0;
  for (int32_t i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - mx);
  const double lse = mx + std::log(sum);
  TokenLogprob r;
  r.token = token;
  r.logprob = static_cast<double>(logits[token]) - lse;
  if (top > 0) {
    std::vector<TokenId> ids(static_cast<size_t>(n_vocab));
    for (int32_t i = 0; i < n_vocab; ++i) ids[static_cast<size_t>(i)] = i;
    const size_t k = std::min<size_t>(static_cast<size_t>(top), ids.size());
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(), [&](TokenId a, TokenId b) {
      return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
    });
    for (size_t i = 0; i < k; ++i) r.top.emplace_back(ids[i], static_cast<double>(logits[ids[i]]) - lse);
  }
  return r;
}

// ---- Engine ----

namespace {
EngineEvent make_event(EngineEvent::Kind kind, int32_t choice = 0, TokenId token = 0) {
  EngineEvent e;
  e.kind = kind;
  e.choice = choice;
  e.token = token;
  return e;
}
}  // namespace

struct ChoiceState {
  Utf8Streamer utf8;
  std::string pending;  // decoded text not yet emitted (a stop string may still start in it)
  bool done = false;
  Clock::time_point last_token;
};

struct Engine::Active {
  std::shared_ptr<RequestHandle> handle;
  EngineRequest req;
  Clock::time_point arrival;
  bool started = false;
  bool first_token_seen = false;
  std::vector<ChoiceState> choices;
  bool all_done() const {
    return std::all_of(choices.begin(), choices.end(), [](const ChoiceState& c) { return c.done; });
  }
};

Engine::Engine(Context& ctx, const Tokenizer& tokenizer, const EngineOptions& options, Metrics& metrics)
    : ctx_(ctx), tok_(tokenizer), options_(options), metrics_(metrics), n_ctx_(ctx.n_ctx()), n_vocab_(ctx.n_vocab()),
      gen_(ctx, tokenizer, options.parallel) {
  update_gauges();
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() { shutdown(std::chrono::milliseconds(0)); }

std::shared_ptr<RequestHandle> Engine::submit(EngineRequest r) {
  if (r.prompt.empty()) throw ApiError(400, "the prompt is empty (no tokens)", "prompt");
  if (static_cast<int64_t>(r.prompt.size()) > n_ctx_) {
    throw ApiError(400, "the prompt is " + std::to_string(r.prompt.size()) + " tokens, longer than the context (" +
                            std::to_string(n_ctx_) + " tokens)",
                   "prompt", "context_length_exceeded");
  }
  for (TokenId t : r.prompt) {
    if (t < 0 || t >= n_vocab_) {
      throw ApiError(400, "token id " + std::to_string(t) + " out of range [0, " + std::to_string(n_vocab_) + ")", "prompt");
    }
  }
  if (r.n < 1 || r.n > options_.parallel) {
    throw ApiError(400, "'n' must be at most the server's --parallel (" + std::to_string(options_.parallel) + ")", "n");
  }
  auto h = std::make_shared<RequestHandle>();
  h->seed_ = r.seed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) throw ApiError(503, "the server is shutting down", "", "server_error");
    if (queued_ >= options_.max_queue) {
      throw ApiError(503, "the queue is full (" + std::to_string(options_.max_queue) + " requests waiting); retry later",
                     "", "server_error");
    }
    queued_ += 1;
    metrics_.queue_depth.store(queued_);
    incoming_.emplace_back(std::move(r), h);
  }
  cv_.notify_all();
  return h;
}

void Engine::shutdown(std::chrono::milliseconds grace) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      stopping_ = true;
      deadline_ = Clock::now() + grace;
    }
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

KvStats Engine::kv_stats_snapshot() const {
  std::lock_guard<std::mutex> lock(kv_mu_);
  return kv_snapshot_;
}

void Engine::update_gauges() {
  const KvStats kv = ctx_.kv_stats();
  {
    std::lock_guard<std::mutex> lock(kv_mu_);
    kv_snapshot_ = kv;
  }
  metrics_.kv_blocks_used.store(kv.blocks_used);
  metrics_.kv_blocks_free.store(kv.blocks_free);
  metrics_.running_requests.store(gen_.n_running());
  metrics_.active_sequences.store(gen_.n_sequences());
  std::lock_guard<std::mutex> lock(mu_);
  metrics_.queue_depth.store(queued_);
}

void Engine::on_event(const GenerationEvent& e) {
  const auto it = active_.find(e.request);
  if (it == active_.end()) return;
  Active& a = *it->second;
  switch (e.kind) {
    case GenerationEvent::Kind::Started: {
      a.started = true;
      {
        std::lock_guard<std::mutex> lock(mu_);
        queued_ -= 1;
      }
      metrics_.prompt_tokens += static_cast<int64_t>(a.req.prompt.size());
      a.handle->push(make_event(EngineEvent::Kind::Started));
      break;
    }
    case GenerationEvent::Kind::Logits: {
      // Only the prompt's span is asked for (token indices 1 .. n_prompt - 1).
      if (e.token_idx >= static_cast<int64_t>(a.req.prompt.size())) break;
      EngineEvent ev = make_event(EngineEvent::Kind::Prompt);
      ev.token = e.token;
      ev.logprob = token_logprob(e.logits, n_vocab_, e.token, std::max(a.req.top_logprobs, 0));
      a.handle->push(std::move(ev));
      break;
    }
    case GenerationEvent::Kind::Token: {
      ChoiceState& c = a.choices[static_cast<size_t>(e.choice)];
      // The generator's Done follows an end-of-generation token (unless ignore_eos).
      if (c.done || (!a.req.ignore_eos && tok_.is_eog(e.token))) break;
      const Clock::time_point now = Clock::now();
      if (!a.first_token_seen) {
        a.first_token_seen = true;
        metrics_.time_to_first_token.observe(std::chrono::duration<double>(now - a.arrival).count());
      } else if (c.last_token != Clock::time_point{}) {
        metrics_.time_per_output_token.observe(std::chrono::duration<double>(now - c.last_token).count());
      }
      c.last_token = now;
      metrics_.generated_tokens += 1;
      EngineEvent ev = make_event(EngineEvent::Kind::Token, e.choice, e.token);
      if (a.req.top_logprobs >= 0) ev.logprob = token_logprob(e.logits, n_vocab_, e.token, a.req.top_logprobs);
      c.pending += c.utf8.push(tok_.token_to_piece(e.token, false));
      auto [text, stopped] = stop_string_cut(c.pending, a.req.stop, false);
      ev.text = std::move(text);
      a.handle->push(std::move(ev));
      if (stopped) {
        c.done = true;
        to_stop_.emplace_back(e.request, e.choice);
        EngineEvent done = make_event(EngineEvent::Kind::Done, e.choice);
        done.finish_reason = "stop";
        a.handle->push(std::move(done));
      }
      break;
    }
    case GenerationEvent::Kind::Done: {
      ChoiceState& c = a.choices[static_cast<size_t>(e.choice)];
      if (c.done) break;
      c.done = true;
      c.pending += c.utf8.flush();
      auto [text, stopped] = stop_string_cut(c.pending, a.req.stop, true);
      EngineEvent done = make_event(EngineEvent::Kind::Done, e.choice);
      done.text = std::move(text);
      done.finish_reason = stopped || e.stop_reason == "end-of-generation" ? "stop" : "length";
      a.handle->push(std::move(done));
      break;
    }
  }
}

void Engine::finish_done_requests() {
  for (auto it = active_.begin(); it != active_.end();) {
    if (it->second->all_done()) {
      it->second->handle->close();
      it = active_.erase(it);
    } else {
      ++it;
    }
  }
}

void Engine::loop() {
  for (;;) {
    std::vector<std::pair<EngineRequest, std::shared_ptr<RequestHandle>>> incoming;
    bool stop_now = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      const bool busy = !gen_.idle();
      if (!busy && incoming_.empty() && !stopping_) cv_.wait(lock, [&] { return stopping_ || !incoming_.empty(); });
      incoming.swap(incoming_);
      if (stopping_ && ((gen_.idle() && incoming.empty()) || Clock::now() >= deadline_)) stop_now = true;
    }
    const Clock::time_point now = Clock::now();
    for (auto& [req, h] : incoming) {
      GenerationRequest g{.prompt = req.prompt, .max_tokens = req.max_tokens, .sampling = req.sampling,
                          .seed = req.seed, .ignore_eos = req.ignore_eos, .n = req.n,
                          .token_logits = req.top_logprobs >= 0};  // logprobs need the logits
      if (req.prompt_logprobs && req.prompt.size() > 1) {
        g.logits_start = 1;
        g.logits_count = static_cast<int64_t>(req.prompt.size()) - 1;
      }
      auto a = std::make_unique<Active>();
      a->handle = h;
      a->arrival = now;
      a->choices.resize(static_cast<size_t>(req.n));
      a->req = std::move(req);
      try {
        const int64_t id = gen_.submit(std::move(g));
        active_.emplace(id, std::move(a));
      } catch (const Error& err) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          queued_ -= 1;
        }
        EngineEvent ev = make_event(EngineEvent::Kind::Error);
        ev.message = err.what();
        h->push(std::move(ev));
        h->close();
      }
    }
    // Requests whose client went away, and everything at the shutdown deadline.
    for (auto it = active_.begin(); it != active_.end();) {
      Active& a = *it->second;
      if (!stop_now && !a.handle->cancelled()) {
        ++it;
        continue;
      }
      gen_.cancel(it->first);
      if (!a.started) {
        std::lock_guard<std::mutex> lock(mu_);
        queued_ -= 1;
      }
      if (a.handle->cancelled()) metrics_.cancelled += 1;
      EngineEvent ev = make_event(EngineEvent::Kind::Error);
      ev.message = stop_now ? "the server shut down before the request finished" : "cancelled";
      a.handle->push(std::move(ev));
      a.handle->close();
      it = active_.erase(it);
    }
    if (stop_now) {
      update_gauges();
      return;
    }
    if (gen_.idle()) {
      update_gauges();
      continue;
    }
    try {
      gen_.step([this](const GenerationEvent& e) { on_event(e); });
    } catch (const Error& err) {
      // A failed step (the pool ran dry, say) fails every running request, not the server.
      for (auto& [id, a] : active_) {
        gen_.cancel(id);
        if (!a->started) {
          std::lock_guard<std::mutex> lock(mu_);
          queued_ -= 1;
        }
        EngineEvent ev = make_event(EngineEvent::Kind::Error);
        ev.message = std::string("generation failed: ") + err.what();
        a->handle->push(std::move(ev));
        a->handle->close();
      }
      active_.clear();
    }
    const int64_t in_step = gen_.last_step_sequences();
    metrics_.steps += 1;
    metrics_.step_sequences += in_step;
    if (in_step > metrics_.peak_step_sequences.load()) metrics_.peak_step_sequences.store(in_step);
    for (const auto& [id, choice] : to_stop_) gen_.stop_choice(id, choice);
    to_stop_.clear();
    finish_done_requests();
    update_gauges();
  }
}

}  // namespace greta::server
