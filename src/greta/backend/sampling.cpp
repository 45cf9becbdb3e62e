#include "greta/backend/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "greta/core/error.h"

namespace greta::backend {

float sample_log_min_p(const SampleParams& p) { return p.min_p > 0.0f ? std::log(p.min_p) : 0.0f; }

int32_t sample_greedy(const float* logits, int32_t n_vocab) {
  GRETA_ASSERT(n_vocab > 0);
  int32_t best = 0;
  float best_logit = -std::numeric_limits<float>::infinity();
  bool found = false;
  for (int32_t i = 0; i < n_vocab; ++i) {
    const float v = logits[i];
    if (std::isnan(v)) continue;
    // Strictly greater: the first (lowest) id keeps a tie.
    if (!found || v > best_logit) {
      best = i;
      best_logit = v;
      found = true;
    }
  }
  return best;
}

int32_t sample_row(const float* logits, int32_t n_vocab, const SampleParams& p, double u, SampleScratch& scratch) {
  GRETA_ASSERT(n_vocab > 0);
  if (p.temp <= 0.0f) return sample_greedy(logits, n_vocab);
  auto& cand = scratch.candidates;
  cand.resize(static_cast<size_t>(n_vocab));
  for (int32_t i = 0; i < n_vocab; ++i) {
    const float v = logits[i];
    cand[static_cast<size_t>(i)] = {i, std::isnan(v) ? -std::numeric_limits<float>::infinity() : v};
  }
  // Descending logit, ascending id on ties: a total order, so the result never depends on the
  // sort algorithm.
  const auto by_logit = [](const SampleScratch::Candidate& a, const SampleScratch::Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  const int32_t n = sample_candidates(p, n_vocab);
  if (n < n_vocab) {
    std::partial_sort(cand.begin(), cand.begin() + n, cand.end(), by_logit);
  } else {
    std::sort(cand.begin(), cand.end(), by_logit);
  }
  const float max_logit = cand[0].logit;
  if (!std::isfinite(max_logit)) return cand[0].id;  // nothing has a finite logit, or +inf wins
  const double m = static_cast<double>(max_logit);
  const float inv_max = max_logit / p.temp;
  const auto logit = [&](int32_t i) { return cand[static_cast<size_t>(i)].logit; };
  const auto p_top = [&](int32_t i) { return sample_exp(static_cast<double>(cand[static_cast<size_t>(i)].logit) - m); };
  const auto p_temp = [&](int32_t i) {
    const float scaled = cand[static_cast<size_t>(i)].logit / p.temp;
    return sample_exp(static_cast<double>(scaled) - static_cast<double>(inv_max));
  };
  const int32_t k = sample_sorted(n, max_logit, p, sample_log_min_p(p), u, logit, p_top, p_temp);
  return cand[static_cast<size_t>(k)].id;
}

}  // namespace greta::backend
