// Sampling on the backend (issue 10 item 4): backend/sampling.h's arithmetic, the CPU backend's
// `sample` op against the host Sampler, and Context/Session/Generator sampling on the backend
// against sampling the returned logits on the host -- the same tokens, bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <vector>

#include "greta/backend/backend.h"
#include "greta/backend/sampling.h"
#include "greta/core/error.h"
#include "greta/runtime/backend_registry.h"
#include "greta/runtime/context.h"
#include "greta/runtime/generator.h"
#include "greta/runtime/sampler.h"
#include "greta/runtime/session.h"
#include "model_test_util.h"
#include "sampling_cases.h"

namespace greta {
namespace {

using backend::SampleParams;
using sampling_test::make_cases;
using test::bits_equal;
using test::cached_model;
using test::shipped_model;

TEST(SampleExp, SpecialValuesAndExactOne) {
  EXPECT_EQ(backend::sample_exp(0.0), 1.0);
  EXPECT_EQ(backend::sample_exp(-0.0), 1.0);
  EXPECT_EQ(backend::sample_exp(-std::numeric_limits<double>::infinity()), 0.0);
  EXPECT_EQ(backend::sample_exp(std::numeric_limits<double>::infinity()), std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(backend::sample_exp(std::numeric_limits<double>::quiet_NaN())));
  EXPECT_EQ(backend::sample_exp(-746.0), 0.0);
  EXPECT_EQ(backend::sample_exp(710.0), std::numeric_limits<double>::infinity());
  EXPECT_GT(backend::sample_exp(-745.0), 0.0);  // subnormal
  EXPECT_LT(backend::sample_exp(-745.0), std::numeric_limits<double>::min());
}

TEST(SampleExp, WithinTwoUlpOfLibmAndMonotone) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> wide(-700.0, 700.0), narrow(-40.0, 0.0);
  double prev_x = -50.0, prev = backend::sample_exp(prev_x);
  for (int i = 0; i < 200000; ++i) {
    const double x = i % 2 == 0 ? wide(rng) : narrow(rng);
    const double a = backend::sample_exp(x), b = std::exp(x);
    ASSERT_LE(std::fabs(a - b), 2.0 * std::fabs(b) * 0x1.0p-52) << "x = " << x;
  }
  for (double x = -50.0; x <= 5.0; x += 0.001) {
    const double v = backend::sample_exp(x);
    ASSERT_GE(v, prev) << x << " after " << prev_x;
    prev = v;
    prev_x = x;
  }
}

// The sampler as it was before sampling moved to backend/sampling.h (a full sort, eager
// probabilities), with sample_exp for the exponential: the refactored reference must equal it.
int32_t straightforward_sample(const std::vector<float>& logits, const SampleParams& p, double u) {
  const auto n_vocab = static_cast<int32_t>(logits.size());
  if (p.temp <= 0.0f) {
    int32_t best = 0;
    float bv = 0;
    bool found = false;
    for (int32_t i = 0; i < n_vocab; ++i) {
      if (std::isnan(logits[i])) continue;
      if (!found || logits[i] > bv) {
        best = i;
        bv = logits[i];
        found = true;
      }
    }
    return best;
  }
  std::vector<std::pair<float, int32_t>> c;
  for (int32_t i = 0; i < n_vocab; ++i) {
    c.emplace_back(std::isnan(logits[i]) ? -std::numeric_limits<float>::infinity() : logits[i], i);
  }
  std::stable_sort(c.begin(), c.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  size_t n = p.top_k > 0 && p.top_k < n_vocab ? static_cast<size_t>(p.top_k) : c.size();
  const float max_logit = c[0].first;
  if (!std::isfinite(max_logit)) return c[0].second;
  std::vector<double> probs;
  if (p.top_p < 1.0f) {
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
      probs.push_back(backend::sample_exp(static_cast<double>(c[i].first) - max_logit));
      sum += probs.back();
    }
    double cum = 0;
    for (size_t i = 0; i < n; ++i) {
      cum += probs[i] / sum;
      if (cum >= static_cast<double>(p.top_p)) {
        n = i + 1;
        break;
      }
    }
  }
  if (p.min_p > 0.0f && n > 1) {
    const float min_logit = max_logit + std::log(p.min_p);
    size_t keep = 1;
    while (keep < n && c[keep].first >= min_logit) ++keep;
    n = keep;
  }
  const float inv_max = max_logit / p.temp;
  probs.assign(n, 0.0);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    const float scaled = c[i].first / p.temp;
    probs[i] = backend::sample_exp(static_cast<double>(scaled) - inv_max);
    sum += probs[i];
  }
  const double target = u * sum;
  double cum = 0;
  for (size_t i = 0; i < n; ++i) {
    cum += probs[i];
    if (target < cum) return c[i].second;
  }
  return c[n - 1].second;
}

TEST(SampleRow, EqualsTheStraightforwardSampler) {
  backend::SampleScratch scratch;
  int checked = 0;
  for (int32_t n_vocab : {1, 2, 3, 7, 64, 512, 1023, 1024, 1025, 4000}) {
    for (const auto& c : make_cases(n_vocab, n_vocab > 1024 ? 120 : 300, 1000u + static_cast<uint64_t>(n_vocab))) {
      const int32_t got = backend::sample_row(c.logits.data(), n_vocab, c.params, c.u, scratch);
      ASSERT_EQ(got, straightforward_sample(c.logits, c.params, c.u))
          << "n_vocab " << n_vocab << " temp " << c.params.temp << " top_k " << c.params.top_k << " top_p "
          << c.params.top_p << " min_p " << c.params.min_p << " u " << c.u;
      ++checked;
    }
  }
  EXPECT_GT(checked, 2000);
}

TEST(SampleRow, TiesGoToTheLowestIdAndTheDrawDecides) {
  backend::SampleScratch scratch;
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // Greedy and top_k = 1: the lowest of the tied ids; -0 and +0 tie.
  const std::vector<float> a = {-0.0f, 0.0f, -1.0f};
  EXPECT_EQ(backend::sample_row(a.data(), 3, {.temp = 0.0f}, 0.9, scratch), 0);
  EXPECT_EQ(backend::sample_row(a.data(), 3, {.temp = 1.0f, .top_k = 1}, 0.9, scratch), 0);
  const std::vector<float> b = {0.0f, -0.0f, -1.0f};
  EXPECT_EQ(backend::sample_row(b.data(), 3, {.temp = 1.0f, .top_k = 1}, 0.9, scratch), 0);
  // +inf wins outright (the first +inf); all NaN / -inf: id 0.
  const std::vector<float> c = {1.0f, inf, 3.0f, inf};
  EXPECT_EQ(backend::sample_row(c.data(), 4, {.temp = 0.8f}, 0.5, scratch), 1);
  const std::vector<float> d = {nan, -inf, nan};
  EXPECT_EQ(backend::sample_row(d.data(), 3, {.temp = 0.8f}, 0.5, scratch), 0);
  EXPECT_EQ(backend::sample_row(d.data(), 3, {.temp = 0.0f}, 0.5, scratch), 1);
  // Four equal logits, no filter: the draw's quartile, ids ascending.
  const std::vector<float> e = {2.0f, 2.0f, 2.0f, 2.0f};
  const SampleParams flat{.temp = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f};
  EXPECT_EQ(backend::sample_row(e.data(), 4, flat, 0.0, scratch), 0);
  EXPECT_EQ(backend::sample_row(e.data(), 4, flat, 0.26, scratch), 1);
  EXPECT_EQ(backend::sample_row(e.data(), 4, flat, 0.74, scratch), 2);
  EXPECT_EQ(backend::sample_row(e.data(), 4, flat, 1.0 - 0x1.0p-53, scratch), 3);
}

// The CPU backend's op returns, row by row, what the host Sampler returns; peek_draw/skip_draw
// consume the PRNG exactly as sample() does.
TEST(SampleOp, CpuBackendEqualsTheHostSampler) {
  auto be = create_backend("cpu", backend::BackendOptions{});
  for (int32_t n_vocab : {5, 512, 1500, 32000}) {
    const auto cases = make_cases(n_vocab, n_vocab >= 32000 ? 60 : 200, 7u + static_cast<uint64_t>(n_vocab));
    const auto rows = static_cast<int64_t>(cases.size());
    backend::Tensor t = be->alloc(rows, n_vocab);
    for (int64_t r = 0; r < rows; ++r) std::copy(cases[r].logits.begin(), cases[r].logits.end(), t.data + r * t.ld);
    // One sampler per row, seeded by the row; each samples its row three times in a row.
    std::vector<Sampler> dev, host;
    for (int64_t r = 0; r < rows; ++r) {
      dev.emplace_back(cases[r].params, 100 + static_cast<uint64_t>(r));
      host.emplace_back(cases[r].params, 100 + static_cast<uint64_t>(r));
    }
    for (int round = 0; round < 3; ++round) {
      std::vector<backend::SampleRow> samples;
      for (int64_t r = rows - 1; r >= 0; --r) {  // any order of rows
        samples.push_back({static_cast<int32_t>(r), dev[r].params(), dev[r].peek_draw()});
      }
      std::vector<int32_t> ids(samples.size(), -7);
      be->sample(t, samples, ids.data());
      for (size_t i = 0; i < samples.size(); ++i) {
        const int32_t r = samples[i].row;
        dev[r].skip_draw();
        ASSERT_EQ(ids[i], host[r].sample(t.data + r * t.ld, n_vocab)) << "n_vocab " << n_vocab << " row " << r;
      }
    }
  }
}

// Sampling through the Context (ids only) equals reading the logits and sampling on the host,
// for several sequences in one batch, greedy and seeded.
TEST(SampleOp, ContextSamplesEqualHostSamplingOfTheLogits) {
  const LoadedModel& lm = cached_model(shipped_model("stories260K.gguf"));
  const ContextOptions opt{.n_seq_max = 4, .kv_dtype = KvDtype::F32, .kv_aligned = true, .n_threads = 2};
  Context a(lm, opt), b(lm, opt);
  const int32_t V = a.n_vocab();
  const SampleParams settings[] = {{.temp = 0.0f}, {}, {.temp = 1.1f, .top_k = 0, .top_p = 0.9f, .min_p = 0.0f},
                                   {.temp = 0.6f, .top_k = 5, .top_p = 1.0f, .min_p = 0.2f}};
  std::vector<Sampler> sa, sb;
  std::vector<SeqId> qa, qb;
  std::vector<TokenId> next(4);
  for (int i = 0; i < 4; ++i) {
    sa.emplace_back(settings[i], 50 + static_cast<uint64_t>(i));
    sb.emplace_back(settings[i], 50 + static_cast<uint64_t>(i));
    qa.push_back(a.seq_add());
    qb.push_back(b.seq_add());
    next[static_cast<size_t>(i)] = 1 + i;
  }
  for (int step = 0; step < 24; ++step) {
    std::vector<BatchRow> ra, rb;
    std::vector<RowSample> samples;
    for (int i = 0; i < 4; ++i) {
      // Sequence i has a 3-token prompt at step 0, then one token per step.
      const int n_tok = step == 0 ? 3 : 1;
      const int32_t pos0 = step == 0 ? 0 : a.seq_len(qa[i]);
      for (int k = 0; k < n_tok; ++k) {
        const bool last = k == n_tok - 1;
        const TokenId tok = step == 0 ? 1 + (k * 7 + i) % (V - 1) : next[static_cast<size_t>(i)];
        BatchRow r{qa[i], pos0 + k, tok, last};
        r.host_logits = false;
        ra.push_back(r);
        rb.push_back({qb[i], pos0 + k, tok, last});
      }
      samples.push_back({i, sa[i].params(), sa[i].peek_draw()});
    }
    std::vector<TokenId> ids(samples.size());
    a.decode(ra, samples, ids.data());
    const float* logits = b.decode(rb);
    for (int i = 0; i < 4; ++i) {
      sa[i].skip_draw();
      const TokenId want = sb[i].sample(logits + static_cast<int64_t>(i) * V, V);
      ASSERT_EQ(ids[static_cast<size_t>(i)], want) << "step " << step << " sequence " << i;
      next[static_cast<size_t>(i)] = want;
    }
  }
  // A sample naming a row without logits is refused before anything runs.
  const RowSample bad{1, {}, 0.0};
  TokenId id = 0;
  const BatchRow one{qa[0], a.seq_len(qa[0]), 1, true};
  EXPECT_THROW(a.decode(std::span<const BatchRow>(&one, 1), std::span<const RowSample>(&bad, 1), &id), Error);
}

// greta_infer's path: Session::prefill_sample / decode_sample equal prefill/decode + Sampler.
TEST(SampleOp, SessionSampledEqualsLogitsPath) {
  const LoadedModel& lm = cached_model(shipped_model("stories260K.gguf"));
  const SessionOptions opt{.n_ctx = 64, .kv_dtype = KvDtype::BF16, .kv_aligned = true, .n_threads = 2};
  for (const SampleParams& p : {SampleParams{.temp = 0.0f}, SampleParams{}}) {
    Session a(lm, opt), b(lm, opt);
    Sampler sa(p, 9), sb(p, 9);
    const std::vector<TokenId> prompt = {1, 403, 407, 261};
    const Session::Sampled first = a.prefill_sample(prompt, false, true, &sa);
    const float* lb = b.prefill(prompt, false);
    ASSERT_NE(first.logits, nullptr);
    EXPECT_TRUE(bits_equal(first.logits, lb, b.n_vocab()));
    TokenId ta = first.token, tb = sb.sample(lb, b.n_vocab());
    ASSERT_EQ(ta, tb);
    for (int i = 0; i < 30; ++i) {
      const Session::Sampled s = a.decode_sample(ta, i % 7 == 3, &sa);
      EXPECT_EQ(s.logits != nullptr, i % 7 == 3);
      tb = sb.sample(b.decode(tb), b.n_vocab());
      ASSERT_EQ(s.token, tb) << "step " << i;
      ta = s.token;
    }
  }
}

// The Generator samples on the backend; asking for the logits (token_logits) changes no token.
TEST(SampleOp, GeneratorTokensDoNotDependOnTokenLogits) {
  const LoadedModel& lm = cached_model(shipped_model("stories260K.gguf"));
  const auto run = [&](bool token_logits) {
    Context ctx(lm, {.n_seq_max = 4, .kv_dtype = KvDtype::F16, .kv_aligned = true, .n_threads = 2});
    Generator gen(ctx, *lm.tokenizer, 4);
    for (int i = 0; i < 5; ++i) {
      GenerationRequest r;
      r.prompt = {1, static_cast<TokenId>(300 + i), static_cast<TokenId>(260 + 3 * i)};
      r.max_tokens = 20;
      r.sampling = i % 2 == 0 ? SampleParams{} : SampleParams{.temp = 0.0f};
      r.seed = 77 + static_cast<uint64_t>(i);
      r.n = i == 1 ? 3 : 1;
      r.ignore_eos = true;
      r.logits_start = i == 2 ? 2 : 0;
      r.logits_count = i == 2 ? 4 : 0;
      r.token_logits = token_logits;
      gen.submit(r);
    }
    std::map<std::pair<int64_t, int32_t>, std::vector<TokenId>> out;
    while (!gen.idle()) {
      gen.step([&](const GenerationEvent& e) {
        if (e.kind == GenerationEvent::Kind::Token) {
          out[{e.request, e.choice}].push_back(e.token);
          EXPECT_EQ(e.logits != nullptr, token_logits || (e.request == 2 && e.token_idx >= 2 && e.token_idx < 6));
        }
        if (e.kind == GenerationEvent::Kind::Logits) {
          EXPECT_NE(e.logits, nullptr);
        }
      });
    }
    return out;
  };
  const auto with = run(true), without = run(false);
  EXPECT_EQ(with, without);
  EXPECT_EQ(with.size(), 7u);
}

}  // namespace
}  // namespace greta
