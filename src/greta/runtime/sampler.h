#pragma once
// Token sampling with a specified PRNG: the same seed, logits and parameters give the same tokens
// on every platform (the arithmetic is greta/backend/sampling.h's, libm-free but for log(min_p)).
//
//   greta::Sampler s({.temp = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f}, seed);
//   TokenId id = s.sample(logits, n_vocab);   // logits: [n_vocab] f32
//
// temp == 0 is greedy (argmax, lowest id wins ties) and draws nothing from the PRNG. Otherwise the
// chain is llama.cpp's default order restricted to the samplers greta has:
// top-k -> top-p -> min-p -> temperature -> dist, with llama.cpp's semantics (docs/CLI.md).
// Exactly one PRNG draw is consumed per sampled token, so two runs that sample the same number of
// tokens consume the generator identically.

#include <cstdint>
#include <random>
#include <vector>

#include "greta/backend/sampling.h"
#include "greta/tokenizer/tokenizer.h"

namespace greta {

// llama.cpp's common defaults (common/common.h: temp 0.80, top_k 40, top_p 0.95, min_p 0.05);
// the arithmetic is specified in greta/backend/sampling.h, shared with the backends' `sample` op.
using SamplerParams = backend::SampleParams;

// std::mt19937_64 (its output sequence is fixed by the C++ standard) turned into doubles by bit
// arithmetic: the top 53 bits scaled by 2^-53, so every value is a multiple of 2^-53 in [0, 1).
// std::*_distribution is implementation-defined and never used.
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  uint64_t next_u64() { return engine_(); }
  double next_double() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

 private:
  std::mt19937_64 engine_;
};

// Argmax over [n_vocab] f32; NaN never wins; ties go to the lowest id.
using backend::sample_greedy;

class Sampler {
 public:
  Sampler(const SamplerParams& params, uint64_t seed);

  // logits: [n_vocab] f32. Returns the chosen token id (backend::sample_row with the next draw).
  TokenId sample(const float* logits, int32_t n_vocab);

  // For sampling on a backend (Context::decode with samples): the draw the next sample() would
  // use (0 when greedy), without consuming it; skip_draw() then consumes it, as sample() would
  // have. peek_draw() + a backend's sample op + skip_draw() == sample(), bit for bit.
  double peek_draw() const;
  void skip_draw();

  const SamplerParams& params() const { return params_; }

 private:
  SamplerParams params_;
  Rng rng_;
  backend::SampleScratch scratch_;  // reused across calls
};

}  // namespace greta
