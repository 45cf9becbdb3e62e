#include "greta/runtime/sampler.h"

#include "greta/core/error.h"

namespace greta {

Sampler::Sampler(const SamplerParams& params, uint64_t seed) : params_(params), rng_(seed) {}

TokenId Sampler::sample(const float* logits, int32_t n_vocab) {
  GRETA_ASSERT(n_vocab > 0);
  if (params_.temp <= 0.0f) return backend::sample_greedy(logits, n_vocab);
  // The draw is taken first, unconditionally, so that every sampled token consumes exactly one
  // PRNG output whatever the filters leave (even a single candidate).
  const double u = rng_.next_double();
  return backend::sample_row(logits, n_vocab, params_, u, scratch_);
}

double Sampler::peek_draw() const {
  if (params_.temp <= 0.0f) return 0.0;
  Rng copy = rng_;
  return copy.next_double();
}

void Sampler::skip_draw() {
  if (params_.temp > 0.0f) rng_.next_double();
}

}  // namespace greta
