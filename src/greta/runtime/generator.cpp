#include "greta/runtime/generator.h"

#include <algorithm>

#include "greta/core/error.h"

namespace greta {

struct Generator::Slot {
  int64_t id = 0;
  GenerationRequest req;
  SeqId seq = 0;
  Sampler sampler;
  int64_t n_prompt = 0;
  int64_t fed = 0;            // prompt tokens in the cache
  int64_t idx = 0;            // token index the next logits belong to
  TokenId pending = 0;        // the token to feed at position idx - 1 (after the prompt)
  int64_t n_generated = 0;
  bool in_prompt = true;

  Slot(int64_t id_, GenerationRequest r, SeqId s)
      : id(id_), req(std::move(r)), seq(s), sampler(req.sampling, req.seed), n_prompt(static_cast<int64_t>(req.prompt.size())) {}
  bool in_span(int64_t k) const { return req.logits_count > 0 && k >= req.logits_start && k < req.logits_start + req.logits_count; }
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
      ctx_.seq_remove(s->seq);
      s.reset();
      return;
    }
  }
}

bool Generator::idle() const { return waiting_.empty() && n_running() == 0; }

int32_t Generator::n_running() const {
  return static_cast<int32_t>(std::count_if(slots_.begin(), slots_.end(), [](const auto& s) { return s != nullptr; }));
}

int32_t Generator::n_waiting() const { return static_cast<int32_t>(waiting_.size()); }

void Generator::step(const Sink& sink) {
  // Admit waiting requests into free slots, in submission order.
  for (auto& s : slots_) {
    if (s || waiting_.empty()) continue;
    auto [id, req] = std::move(waiting_.front());
    waiting_.pop_front();
    s = std::make_unique<Slot>(id, std::move(req), ctx_.seq_add());
    sink(GenerationEvent{GenerationEvent::Kind::Started, id});
  }
  // The batch: a prompt chunk of each request still in its prompt, one token of the others.
  rows_.clear();
  for (auto& s : slots_) {
    if (!s) continue;
    if (s->in_prompt) {
      const int64_t end = std::min<int64_t>(s->n_prompt, s->fed + kMaxMicroBatch);
      for (int64_t p = s->fed; p < end; ++p) {
        // Logits of position p belong to token index p + 1: wanted in the span, and for the
        // last prompt position (the first sampled token).
        const bool want = p + 1 == s->n_prompt || s->in_span(p + 1);
        rows_.push_back({s->seq, static_cast<int32_t>(p), s->req.prompt[static_cast<size_t>(p)], want});
      }
    } else {
      rows_.push_back({s->seq, static_cast<int32_t>(s->idx - 1), s->pending, true});
    }
  }
  if (rows_.empty()) return;
  const float* logits = ctx_.decode(rows_);
  const int32_t nv = ctx_.n_vocab();

  // Walk the rows again slot by slot (rows of a slot are contiguous, in slot order).
  size_t r = 0;
  for (auto& s : slots_) {
    if (!s) continue;
    const float* last = nullptr;  // logits of the slot's last row
    if (s->in_prompt) {
      const int64_t end = std::min<int64_t>(s->n_prompt, s->fed + kMaxMicroBatch);
      for (int64_t p = s->fed; p < end; ++p, ++r) {
        if (!rows_[r].logits) continue;
        if (p + 1 < s->n_prompt && s->in_span(p + 1)) {
          sink(GenerationEvent{GenerationEvent::Kind::Logits, s->id, p + 1, s->req.prompt[static_cast<size_t>(p + 1)],
                               logits});
        }
        last = logits;
        logits += nv;
      }
      s->fed = end;
      if (s->fed < s->n_prompt) continue;  // more prompt next step
      s->in_prompt = false;
      s->idx = s->n_prompt;
    } else {
      ++r;
      last = logits;
      logits += nv;
    }
    // Sample the token at index idx from `last` (greta_infer's loop, one iteration).
    std::string stop;
    const bool generating = s->n_generated < s->req.max_tokens;
    if (!generating && !s->in_span(s->idx)) {
      stop = "max-tokens";
    } else {
      const TokenId id = s->sampler.sample(last, nv);
      if (s->in_span(s->idx)) sink(GenerationEvent{GenerationEvent::Kind::Logits, s->id, s->idx, id, last});
      if (!generating) {
        stop = "max-tokens";
      } else {
        s->n_generated += 1;
        sink(GenerationEvent{GenerationEvent::Kind::Token, s->id, s->idx, id});
        const bool more = s->n_generated < s->req.max_tokens || s->in_span(s->idx + 1);
        if (!s->req.ignore_eos && tok_.is_eog(id)) {
          stop = "end-of-generation";
        } else if (!more) {
          stop = "max-tokens";
        } else if (s->idx >= ctx_.n_ctx()) {
          stop = "context-full";
        } else {
          s->pending = id;
          s->idx += 1;
        }
      }
    }
    if (!stop.empty()) {
      GenerationEvent done{GenerationEvent::Kind::Done, s->id};
      done.token_idx = s->idx;
      done.stop_reason = stop;
      ctx_.seq_remove(s->seq);
      s.reset();
      sink(done);
    }
  }
}

}  // namespace greta
