#include "greta/runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "greta/core/error.h"

namespace greta {

TokenId sample_greedy(const float* logits, int32_t n_vocab) {
  GRETA_ASSERT(n_vocab > 0);
  TokenId best = 0;
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

Sampler::Sampler(const SamplerParams& params, uint64_t seed) : params_(params), rng_(seed) {}

TokenId Sampler::sample(const float* logits, int32_t n_vocab) {
  GRETA_ASSERT(n_vocab > 0);
  if (params_.temp <= 0.0f) return sample_greedy(logits, n_vocab);

  // The draw is taken first, unconditionally, so that every sampled token consumes exactly one
  // PRNG output whatever the filters leave (even a single candidate).
  const double u = rng_.next_double();

  candidates_.resize(static_cast<size_t>(n_vocab));
  for (int32_t i = 0; i < n_vocab; ++i) {
    const float v = logits[i];
    candidates_[i] = {i, std::isnan(v) ? -std::numeric_limits<float>::infinity() : v};
  }
  // Descending logit, ascending id on ties: a total order, so the result never depends on the
  // sort algorithm.
  const auto by_logit = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };

  // top-k (llama.cpp: k <= 0 disables it).
  size_t n = candidates_.size();
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < n) {
    n = static_cast<size_t>(params_.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + n, candidates_.end(), by_logit);
  } else {
    std::sort(candidates_.begin(), candidates_.end(), by_logit);
  }
  const float max_logit = candidates_[0].logit;
  if (!std::isfinite(max_logit)) return candidates_[0].id;  // nothing has a finite logit

  // top-p: the smallest prefix whose softmax mass reaches p (at least one token).
  if (params_.top_p < 1.0f) {
    double sum = 0.0;
    probs_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      probs_[i] = std::exp(static_cast<double>(candidates_[i].logit) - max_logit);
      sum += probs_[i];
    }
    double cum = 0.0;
    for (size_t i = 0; i < n; ++i) {
      cum += probs_[i] / sum;
      if (cum >= static_cast<double>(params_.top_p)) {
        n = i + 1;
        break;
      }
    }
  }

  // min-p, in the logit domain as llama.cpp does: keep logit >= max + log(p).
  if (params_.min_p > 0.0f && n > 1) {
    const float min_logit = max_logit + std::log(params_.min_p);
    size_t keep = 1;
    while (keep < n && candidates_[keep].logit >= min_logit) ++keep;
    n = keep;
  }

  // temperature, then dist: softmax of logit / temp, inverse-CDF with the draw.
  const float inv_max = max_logit / params_.temp;
  probs_.resize(n);
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const float scaled = candidates_[i].logit / params_.temp;
    probs_[i] = std::exp(static_cast<double>(scaled) - inv_max);
    sum += probs_[i];
  }
  const double target = u * sum;
  double cum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    cum += probs_[i];
    if (target < cum) return candidates_[i].id;
  }
  return candidates_[n - 1].id;  // rounding left target == sum
}

}  // namespace greta
