// Batch invariance (docs/ARCHITECTURE.md, "Batch invariance"): with kv_aligned, a sequence's
// logits at every position are bit-identical whether it runs alone in one prefill or shares its
// batches with 1, 3 or 15 other sequences of random lengths, in random row orders, with its own
// prompt cut into random prefill chunks and single-token steps -- for every weight type, KV
// dtype and thread count.

#include <gtest/gtest.h>

#include <random>

#include "greta/runtime/context.h"
#include "model_test_util.h"

namespace greta {
namespace {

using test::cached_model;
using test::make_prompt;

constexpr KvDtype kDtypes[] = {KvDtype::F32, KvDtype::F16, KvDtype::BF16};
constexpr int kThreads[] = {1, 2, 3};
constexpr int kOthers[] = {1, 3, 15};

// The target's logits at every position, computed alone in one call: [n, n_vocab].
std::vector<float> run_alone(const LoadedModel& lm, ContextOptions opt, const std::vector<TokenId>& prompt) {
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
std::vector<float> run_mixed(const LoadedModel& lm, ContextOptions opt, const std::vector<TokenId>& target,
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

void check_model(const LoadedModel& lm, const std::string& label, int target_len) {
  const auto target = make_prompt(target_len, lm.stats.n_vocab, 777);
  const int64_t nv = lm.stats.n_vocab;
  for (KvDtype dt : kDtypes) {
    ContextOptions opt;
    opt.n_ctx = 512;
    opt.kv_dtype = dt;
    opt.kv_aligned = true;
    opt.n_threads = 1;
    const std::vector<float> alone = run_alone(lm, opt, target);
    for (int t : kThreads) {
      opt.n_threads = t;
      for (int others : kOthers) {
        const auto mixed = run_mixed(lm, opt, target, others, static_cast<uint32_t>(1000 * t + others));
        for (int p = 0; p < target_len; ++p) {
          ASSERT_TRUE(test::bits_equal(alone.data() + p * nv, mixed.data() + p * nv, nv))
              << label << " kv " << kv_type_name(dt) << " threads " << t << " others " << others << ": position "
              << p << " differs";
        }
      }
    }
  }
}

TEST(BatchInvariance, Stories260K) { check_model(cached_model(test::shipped_model("stories260K.gguf")), "stories260K", 300); }

TEST(BatchInvariance, TinyStoriesQ8_0) {
  check_model(cached_model(test::shipped_model("TinyStories-656K-Q8_0.gguf")), "TinyStories-656K-Q8_0", 48);
}

class BatchInvarianceSynth : public ::testing::TestWithParam<TensorType> {};

TEST_P(BatchInvarianceSynth, TargetBitIdenticalWhateverSharesItsBatches) {
  check_model(test::synth_model(GetParam()), std::string("synth ") + tensor_type_name(GetParam()), 48);
}

INSTANTIATE_TEST_SUITE_P(WeightTypes, BatchInvarianceSynth,
                         ::testing::Values(TensorType::F16, TensorType::Q8_0, TensorType::Q4_0, TensorType::Q4_K,
                                           TensorType::Q6_K),
                         [](const auto& info) { return std::string(tensor_type_name(info.param)); });

// kv_aligned = 0 keeps the part of the contract that does not involve its own chunking: a
// sequence fed the same way (one prefill) gives the same bits whatever other sequences share the
// batch (each run of rows attends to its own fresh K/V only).
TEST(BatchInvariance, UnalignedIndependentOfOtherSequences) {
  const LoadedModel& lm = cached_model(test::shipped_model("stories260K.gguf"));
  const auto target = make_prompt(40, lm.stats.n_vocab, 5);
  ContextOptions opt;
  opt.n_ctx = 128;
  opt.kv_dtype = KvDtype::BF16;
  opt.kv_aligned = false;
  opt.n_threads = 2;
  const auto alone = run_alone(lm, opt, target);
  opt.n_seq_max = 3;
  Context ctx(lm, opt);
  const SeqId a = ctx.seq_add(), t = ctx.seq_add(), b = ctx.seq_add();
  std::vector<BatchRow> rows;
  const auto pa = make_prompt(20, lm.stats.n_vocab, 6), pb = make_prompt(33, lm.stats.n_vocab, 7);
  for (int i = 0; i < 20; ++i) rows.push_back({a, i, pa[i], false});
  for (int i = 0; i < 40; ++i) rows.push_back({t, i, target[i], true});
  for (int i = 0; i < 33; ++i) rows.push_back({b, i, pb[i], true});
  const float* l = ctx.decode(rows);
  EXPECT_TRUE(test::bits_equal(l, alone.data(), static_cast<int64_t>(alone.size())));
}

// The harness is sensitive: without kv_aligned a bf16 cache makes a prefill chunk and a decode
// step see different K/V, and the random chunking of run_mixed shows it.
TEST(BatchInvariance, HarnessDetectsChunkingWithoutKvAligned) {
  const LoadedModel& lm = cached_model(test::shipped_model("stories260K.gguf"));
  const auto target = make_prompt(48, lm.stats.n_vocab, 777);
  ContextOptions opt;
  opt.n_ctx = 128;
  opt.kv_dtype = KvDtype::BF16;
  opt.kv_aligned = false;
  const auto alone = run_alone(lm, opt, target);
  const auto mixed = run_mixed(lm, opt, target, 3, 99);
  EXPECT_FALSE(test::bits_equal(alone.data(), mixed.data(), static_cast<int64_t>(alone.size())));
}

}  // namespace
}  // namespace greta
