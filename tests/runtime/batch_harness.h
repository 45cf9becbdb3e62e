#pragma once
// The batch-invariance harness (docs/ARCHITECTURE.md, "Batch invariance"), shared by the CPU
// test (batch_invariance_test.cpp) and the CUDA one (tests/cuda/cuda_batch_test.cpp): a target
// sequence run alone, and the same sequence sharing its batches with other sequences. The
// backend is the options' (ContextOptions::backend).

#include <algorithm>
#include <random>
#include <vector>

#include "greta/runtime/context.h"
#include "runtime/model_test_util.h"

namespace greta::test {

// The target's logits at every position, computed alone in one call: [n, n_vocab].
inline std::vector<float> run_alone(const LoadedModel& lm, ContextOptions opt, const std::vector<TokenId>& prompt) {
  opt.n_seq_max = 1;
  Context ctx(lm, opt);
  const SeqId s = ctx.seq_add();
  std::vector<BatchRow> rows;
  for (size_t i = 0; i < prompt.size(); ++i) rows.push_back({s, static_cast<int32_t>(i), prompt[i], true});
  const float* l = ctx.decode(rows);
  return std::vector<float>(l, l + prompt.size() * static_cast<size_t>(ctx.n_vocab()));
}

// The target's logits at every position when `n_others` other sequences share its batches.
// Each step takes, from every unfinished sequence, a random chunk (a single-token step half of
// the time) and interleaves all rows at random, each sequence's own rows in position order.
// A finished other sequence is removed (its blocks freed) and replaced by a new one.
inline std::vector<float> run_mixed(const LoadedModel& lm, ContextOptions opt, const std::vector<TokenId>& target,
                             int n_others, uint32_t seed) {
  std::mt19937 rng(seed);
  auto uniform = [&](int lo, int hi) { return lo + static_cast<int>(rng() % static_cast<uint32_t>(hi - lo + 1)); };
  opt.n_seq_max = n_others + 1;
  Context ctx(lm, opt);
  const int64_t nv = ctx.n_vocab();
  struct Seq {
    SeqId id;
    std::vector<TokenId> tokens;
    size_t done = 0;
  };
  std::vector<Seq> seqs;
  seqs.push_back({ctx.seq_add(), target});
  auto new_other = [&] { return Seq{ctx.seq_add(), make_prompt(uniform(1, 70), lm.stats.n_vocab, rng())}; };
  for (int i = 0; i < n_others; ++i) seqs.push_back(new_other());

  std::vector<float> out(target.size() * static_cast<size_t>(nv));
  while (seqs[0].done < target.size()) {
    std::vector<std::vector<BatchRow>> per_seq(seqs.size());
    for (size_t i = 0; i < seqs.size(); ++i) {
      Seq& s = seqs[i];
      const int left = static_cast<int>(s.tokens.size() - s.done);
      const int chunk = rng() % 2 == 0 ? 1 : uniform(1, std::min(left, 40));
      for (int j = 0; j < chunk; ++j) {
        const size_t p = s.done + static_cast<size_t>(j);
        per_seq[i].push_back({s.id, static_cast<int32_t>(p), s.tokens[p], i == 0 || rng() % 3 == 0});
      }
    }
    std::vector<BatchRow> rows;
    std::vector<size_t> next(seqs.size(), 0);
    for (size_t left = 0; [&] { left = 0; for (size_t i = 0; i < seqs.size(); ++i) left += per_seq[i].size() - next[i]; return left; }() > 0;) {
      size_t pick = rng() % left;
      for (size_t i = 0; i < seqs.size(); ++i) {
        const size_t avail = per_seq[i].size() - next[i];
        if (pick < avail) {
          rows.push_back(per_seq[i][next[i]++]);
          break;
        }
        pick -= avail;
      }
    }
    const float* logits = ctx.decode(rows);
    for (const BatchRow& r : rows) {
      if (!r.logits) continue;
      if (r.seq == seqs[0].id) std::copy(logits, logits + nv, out.begin() + static_cast<ptrdiff_t>(r.pos * nv));
      logits += nv;
    }
    for (size_t i = 0; i < seqs.size(); ++i) seqs[i].done += per_seq[i].size();
    for (size_t i = 1; i < seqs.size(); ++i) {
      if (seqs[i].done == seqs[i].tokens.size()) {
        ctx.seq_remove(seqs[i].id);
        seqs[i] = new_other();
      }
    }
  }
  return out;
}

// The target's logits at every position when it is prefilled in one batch between two other
// sequences' prompts (20 rows before it, 33 after with their logits, in one call): [n, n_vocab].
inline std::vector<float> run_between(const LoadedModel& lm, ContextOptions opt, const std::vector<TokenId>& target) {
  opt.n_seq_max = 3;
  Context ctx(lm, opt);
  const SeqId a = ctx.seq_add(), t = ctx.seq_add(), b = ctx.seq_add();
  const int32_t nv = ctx.n_vocab();
  const auto pa = make_prompt(20, nv, 6), pb = make_prompt(33, nv, 7);
  std::vector<BatchRow> rows;
  for (int i = 0; i < 20; ++i) rows.push_back({a, i, pa[i], false});
  for (size_t i = 0; i < target.size(); ++i) rows.push_back({t, static_cast<int32_t>(i), target[i], true});
  for (int i = 0; i < 33; ++i) rows.push_back({b, i, pb[i], true});
  const float* l = ctx.decode(rows);
  return std::vector<float>(l, l + target.size() * static_cast<size_t>(nv));
}

}  // namespace greta::test
