#include "greta/runtime/generator.h"

#include <algorithm>

#include "greta/core/error.h"

namespace greta {

// One sampled continuation of a request: its own sequence (choice 0's holds the prompt; the
// others are forked from it once the prompt is in the cache) and its own sampler.
struct Choice {
  SeqId seq = 0;
  Sampler sampler;
  int64_t idx = 0;            // token index the next logits belong to
  TokenId pending = 0;        // the token to feed at position idx - 1 (after the prompt)
  int64_t n_generated = 0;
  bool live = true;

  Choice(SeqId s, const SamplerParams& params, uint64_t seed) : seq(s), sampler(params, seed) {}
};

namespace {

GenerationEvent make_event(GenerationEvent::Kind kind, int64_t request, int64_t token_idx = 0, TokenId token = 0,
                           const float* logits = nullptr, int32_t choice = 0) {
  GenerationEvent e;
  e.kind = kind;
  e.request = request;
  e.token_idx = token_idx;
  e.token = token;
  e.logits = logits;
  e.choice = choice;
  return e;
}

}  // namespace

struct Generator::Slot {
  int64_t id = 0;
  GenerationRequest req;
  int64_t n_prompt = 0;
  int64_t fed = 0;            // prompt tokens in the cache
  bool in_prompt = true;
  std::vector<Choice> choices;  // [1] during the prompt, then [n]
  // Choices 1..n-1 made (with their samplers, not yet their sequences) for the step that ends
  // the prompt: their first tokens are sampled in that step, before the fork.
  std::vector<Choice> forks;

  Slot(int64_t id_, GenerationRequest r, SeqId s) : id(id_), req(std::move(r)), n_prompt(static_cast<int64_t>(req.prompt.size())) {
    choices.emplace_back(s, req.sampling, req.seed);
  }
  bool in_span(int64_t k) const { return req.logits_count > 0 && k >= req.logits_start && k < req.logits_start + req.logits_count; }
  // Sequences this request holds or has reserved.
  int32_t n_sequences() const {
    if (in_prompt) return req.n;
    return static_cast<int32_t>(std::count_if(choices.begin(), choices.end(), [](const Choice& c) { return c.live; }));
  }
};

Generator::Generator(Context& ctx, const Tokenizer& tokenizer, int32_t parallel)
    : ctx_(ctx), tok_(tokenizer), parallel_(parallel), slots_(static_cast<size_t>(std::max(parallel, 1))) {
  if (parallel < 1) fail("parallel must be >= 1, got " + std::to_string(parallel));
}

Generator::~Generator() = default;

int64_t Generator::submit(GenerationRequest r) {
  if (r.prompt.empty()) fail("a generation request needs a non-empty prompt");
  if (static_cast<int64_t>(r.prompt.size()) > ctx_.n_ctx()) {
    fail("the prompt is " + std::to_string(r.prompt.size()) + " tokens, longer than the context (" +
         std::to_string(ctx_.n_ctx()) + " tokens)");
  }
  for (TokenId t : r.prompt) {
    if (t < 0 || t >= ctx_.n_vocab()) {
      fail("token id " + std::to_string(t) + " out of range [0, " + std::to_string(ctx_.n_vocab()) + ")");
    }
  }
  if (r.max_tokens < 0) fail("max_tokens must be >= 0, got " + std::to_string(r.max_tokens));
  if (r.n < 1 || r.n > parallel_) {
    fail("n must be in [1, " + std::to_string(parallel_) + "] (the parallel sequences), got " + std::to_string(r.n));
  }
  const int64_t id = next_id_++;
  waiting_.emplace_back(id, std::move(r));
  return id;
}

void Generator::cancel(int64_t request) {
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    if (it->first == request) {
      waiting_.erase(it);
      return;
    }
  }
  for (auto& s : slots_) {
    if (s && s->id == request) {
      for (Choice& c : s->choices) {
        if (c.live) ctx_.seq_remove(c.seq);
      }
      s.reset();
      return;
    }
  }
}

void Generator::stop_choice(int64_t request, int32_t choice) {
  for (auto& s : slots_) {
    if (!s || s->id != request) continue;
    if (choice < 0 || choice >= static_cast<int32_t>(s->choices.size()) || !s->choices[static_cast<size_t>(choice)].live) return;
    if (s->in_prompt) {  // only choice 0 exists yet: the whole request ends
      cancel(request);
      return;
    }
    Choice& c = s->choices[static_cast<size_t>(choice)];
    ctx_.seq_remove(c.seq);
    c.live = false;
    if (s->n_sequences() == 0) s.reset();
    return;
  }
}

bool Generator::idle() const { return waiting_.empty() && n_running() == 0; }

int32_t Generator::n_running() const {
  return static_cast<int32_t>(std::count_if(slots_.begin(), slots_.end(), [](const auto& s) { return s != nullptr; }));
}

int32_t Generator::n_waiting() const { return static_cast<int32_t>(waiting_.size()); }

int32_t Generator::n_sequences() const {
  int32_t n = 0;
  for (const auto& s : slots_) {
    if (s) n += s->n_sequences();
  }
  return n;
}

void Generator::step(const Sink& sink) {
  // Admit waiting requests into free slots, in submission order, while their choices fit.
  int32_t used = n_sequences();
  for (auto& s : slots_) {
    if (s) continue;
    if (waiting_.empty() || waiting_.front().second.n > parallel_ - used) break;
    auto [id, req] = std::move(waiting_.front());
    waiting_.pop_front();
    used += req.n;
    s = std::make_unique<Slot>(id, std::move(req), ctx_.seq_add());
    sink(make_event(GenerationEvent::Kind::Started, id));
  }
  // The batch: a prompt chunk of each request still in its prompt, one token of each live choice
  // of the others; and the tokens to sample, on the backend, from their output rows (in the order
  // the events are reported below). Logits come back only where an event carries them.
  rows_.clear();
  samples_.clear();
  last_step_sequences_ = 0;
  int32_t n_out = 0;
  for (auto& s : slots_) {
    if (!s) continue;
    last_step_sequences_ += s->in_prompt ? 1 : s->n_sequences();
    if (s->in_prompt) {
      const int64_t end = std::min<int64_t>(s->n_prompt, s->fed + kMaxMicroBatch);
      for (int64_t p = s->fed; p < end; ++p) {
        // Logits of position p belong to token index p + 1: wanted in the span, and for the
        // last prompt position (the first sampled token).
        const bool last = p + 1 == s->n_prompt;
        BatchRow row{s->choices[0].seq, static_cast<int32_t>(p), s->req.prompt[static_cast<size_t>(p)],
                     last || s->in_span(p + 1)};
        row.host_logits = s->in_span(p + 1) || (last && s->req.token_logits);
        rows_.push_back(row);
        n_out += row.logits ? 1 : 0;
      }
      if (end < s->n_prompt) continue;
      for (int32_t c = static_cast<int32_t>(s->forks.size()) + 1; c < s->req.n; ++c) {
        s->forks.emplace_back(-1, s->req.sampling, s->req.seed + static_cast<uint64_t>(c));
      }
      // Every choice samples token index n_prompt from the prompt's last row.
      if (s->req.max_tokens > 0 || s->in_span(s->n_prompt)) {
        for (int32_t c = 0; c < s->req.n; ++c) {
          const Sampler& sm = c == 0 ? s->choices[0].sampler : s->forks[static_cast<size_t>(c - 1)].sampler;
          samples_.push_back({n_out - 1, sm.params(), sm.peek_draw()});
        }
      }
    } else {
      for (const Choice& c : s->choices) {
        if (!c.live) continue;
        BatchRow row{c.seq, static_cast<int32_t>(c.idx - 1), c.pending, true};
        row.host_logits = s->in_span(c.idx) || s->req.token_logits;
        rows_.push_back(row);
        n_out += 1;
        if (c.n_generated < s->req.max_tokens || s->in_span(c.idx)) {
          samples_.push_back({n_out - 1, c.sampler.params(), c.sampler.peek_draw()});
        }
      }
    }
  }
  if (rows_.empty()) return;
  sampled_.assign(samples_.size(), 0);
  const float* logits = ctx_.decode(rows_, samples_, sampled_.data());
  const int32_t nv = ctx_.n_vocab();
  size_t next_sample = 0;

  // Walk the rows again slot by slot (rows of a slot are contiguous, in slot order).
  for (auto& s : slots_) {
    if (!s) continue;
    std::vector<const float*> last;  // per choice: the logits to sample from (null: not on the host)
    if (s->in_prompt) {
      const int64_t end = std::min<int64_t>(s->n_prompt, s->fed + kMaxMicroBatch);
      const float* prompt_last = nullptr;
      for (int64_t p = s->fed; p < end; ++p) {
        const bool want = p + 1 == s->n_prompt || s->in_span(p + 1);
        if (!want) continue;
        if (p + 1 < s->n_prompt && s->in_span(p + 1)) {
          sink(make_event(GenerationEvent::Kind::Logits, s->id, p + 1, s->req.prompt[static_cast<size_t>(p + 1)], logits));
        }
        const bool host = s->in_span(p + 1) || (p + 1 == s->n_prompt && s->req.token_logits);
        prompt_last = host ? logits : nullptr;
        logits += nv;
      }
      s->fed = end;
      if (s->fed < s->n_prompt) continue;  // more prompt next step
      s->in_prompt = false;
      s->choices[0].idx = s->n_prompt;
      // The other choices share the prompt's blocks from here on.
      for (Choice& f : s->forks) {
        f.seq = ctx_.seq_fork(s->choices[0].seq);
        f.idx = s->n_prompt;
        s->choices.push_back(std::move(f));
      }
      s->forks.clear();
      last.assign(s->choices.size(), prompt_last);
    } else {
      for (const Choice& c : s->choices) {
        const bool host = s->in_span(c.idx) || s->req.token_logits;
        last.push_back(c.live && host ? logits : nullptr);
        if (c.live) logits += nv;
      }
    }
    for (size_t ci = 0; ci < s->choices.size(); ++ci) {
      Choice& c = s->choices[ci];
      if (!c.live) continue;
      const int32_t choice = static_cast<int32_t>(ci);
      // The token at index idx, sampled on the backend (greta_infer's loop, one iteration).
      std::string stop;
      const bool generating = c.n_generated < s->req.max_tokens;
      if (!generating && !s->in_span(c.idx)) {
        stop = "max-tokens";
      } else {
        GRETA_ASSERT(next_sample < sampled_.size());
        const TokenId id = sampled_[next_sample++];
        c.sampler.skip_draw();
        if (s->in_span(c.idx)) {
          sink(make_event(GenerationEvent::Kind::Logits, s->id, c.idx, id, last[ci], choice));
        }
        if (!generating) {
          stop = "max-tokens";
        } else {
          c.n_generated += 1;
          sink(make_event(GenerationEvent::Kind::Token, s->id, c.idx, id, last[ci], choice));
          const bool more = c.n_generated < s->req.max_tokens || s->in_span(c.idx + 1);
          if (!s->req.ignore_eos && tok_.is_eog(id)) {
            stop = "end-of-generation";
          } else if (!more) {
            stop = "max-tokens";
          } else if (c.idx >= ctx_.n_ctx()) {
            stop = "context-full";
          } else {
            c.pending = id;
            c.idx += 1;
          }
        }
      }
      if (!stop.empty()) {
        GenerationEvent done = make_event(GenerationEvent::Kind::Done, s->id, c.idx, 0, nullptr, choice);
        done.stop_reason = stop;
        ctx_.seq_remove(c.seq);
        c.live = false;
        sink(done);
      }
    }
    if (s->n_sequences() == 0) s.reset();
  }
  GRETA_ASSERT(next_sample == sampled_.size());
}

}  // namespace greta
