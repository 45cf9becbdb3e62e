#pragma once
// The specification of greta's token sampling: the exact arithmetic that turns a row of logits,
// the sampling parameters and one PRNG draw u in [0, 1) into a token id. The host sampler
// (runtime/sampler.h, which owns the PRNG), the CPU backend's `sample` op and the GPU's sampling
// kernel (cuda/sample.cu) all run it, so every backend picks exactly the token the host would
// (docs/ARCHITECTURE.md, "Sampling on the backend").
//
//   temp <= 0: greedy: argmax, NaN never wins, the lowest id wins ties (no draw is used).
//   else: candidates = the logits (NaN -> -inf) sorted by descending logit, ascending id (a total
//         order); top-k keeps the first k (k <= 0 or k >= n_vocab: all); if the first is not finite
//         its id is the answer; then sample_sorted (below): top-p -> min-p -> temperature -> the
//         inverse CDF at u. llama.cpp's semantics and order (docs/CLI.md).
//
// Every operation below is an IEEE-754 basic operation (+ - * / and comparisons, in float or
// double as written) or a conversion, in a fixed order; the exponential is sample_exp, a fixed
// sequence of such operations rather than the C library's exp (whose last bit differs between
// libm versions and from the GPU's). Host code is compiled with -ffp-contract=off and device code
// with -fmad=false, so no compiler fuses or reorders any of them: the same inputs give the same
// bits on every platform and device.

#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define GRETA_SAMPLE_HD __host__ __device__
#else
#define GRETA_SAMPLE_HD
#endif

namespace greta::backend {

// llama.cpp's common defaults (common/common.h: temp 0.80, top_k 40, top_p 0.95, min_p 0.05).
struct SampleParams {
  float temp = 0.8f;    // <= 0: greedy
  int32_t top_k = 40;   // <= 0: disabled
  float top_p = 0.95f;  // >= 1: disabled
  float min_p = 0.05f;  // <= 0: disabled
};

// The candidates a sampled (temp > 0) row sorts: top_k, or the whole vocabulary.
GRETA_SAMPLE_HD inline int32_t sample_candidates(const SampleParams& p, int32_t n_vocab) {
  return p.top_k > 0 && p.top_k < n_vocab ? p.top_k : n_vocab;
}

GRETA_SAMPLE_HD inline double sample_bits_to_double(uint64_t b) {
  double d;
  __builtin_memcpy(&d, &b, sizeof d);
  return d;
}
// 2^e for e in [-1022, 1023], exactly.
GRETA_SAMPLE_HD inline double sample_pow2(int e) { return sample_bits_to_double(static_cast<uint64_t>(e + 1023) << 52); }

// e^x in double, specified as these operations (error about 1 ulp; exactly 1 at x = 0, 0 below
// -745.2, +inf above 709.78, NaN for NaN): x = k ln2 + r with k = round(x / ln2) (Cody-Waite
// split of ln2, as fdlibm), e^r by the degree-13 Taylor polynomial in Horner form (|r| <= 0.347,
// truncation < 2^-57), then scaled by 2^k in one or two exact power-of-two products.
GRETA_SAMPLE_HD inline double sample_exp(double x) {
  if (!(x == x)) return x;
  if (x > 709.782712893384) return sample_bits_to_double(0x7FF0000000000000ull);
  if (x < -745.2) return 0.0;
  const double kLog2e = 1.4426950408889634;
  const double kLn2Hi = 6.93147180369123816490e-01;  // 32 significant bits: k * kLn2Hi is exact
  const double kLn2Lo = 1.90821492927058770002e-10;
  const int k = static_cast<int>(x * kLog2e + (x < 0.0 ? -0.5 : 0.5));  // round half away from 0
  const double kd = static_cast<double>(k);
  const double r = (x - kd * kLn2Hi) - kd * kLn2Lo;
  double p = 1.6059043836821613e-10;  // 1/13!
  p = p * r + 2.08767569878681e-09;
  p = p * r + 2.505210838544172e-08;
  p = p * r + 2.755731922398589e-07;
  p = p * r + 2.7557319223985893e-06;
  p = p * r + 2.48015873015873e-05;
  p = p * r + 0.0001984126984126984;
  p = p * r + 0.001388888888888889;
  p = p * r + 0.008333333333333333;
  p = p * r + 0.041666666666666664;
  p = p * r + 0.16666666666666666;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  if (k > 1000) return p * sample_pow2(k - 100) * sample_pow2(100);
  if (k < -1000) return p * sample_pow2(k + 200) * sample_pow2(-200);  // the last product rounds (subnormals)
  return p * sample_pow2(k);
}

// The filters and the draw on sorted candidates 0..n-1 (n >= 1) whose first, max_logit, is
// finite. logit(i): candidate i's logit. p_top(i) must return sample_exp(double(logit(i)) -
// double(max_logit)) and p_temp(i) sample_exp(double(logit(i) / temp) - double(max_logit / temp))
// (each a pure function of i, so the caller may compute them in any order, in parallel, or
// lazily); log_min_p: std::log(min_p) in float (sample_log_min_p), computed on the host.
// Returns the index of the chosen candidate.
template <class Logit, class PTop, class PTemp>
GRETA_SAMPLE_HD int32_t sample_sorted(int32_t n, float max_logit, const SampleParams& p, float log_min_p, double u,
                                      const Logit& logit, const PTop& p_top, const PTemp& p_temp) {
  // top-p: the smallest prefix whose softmax mass reaches p (at least one token).
  if (p.top_p < 1.0f) {
    double sum = 0.0;
    for (int32_t i = 0; i < n; ++i) sum += p_top(i);
    double cum = 0.0;
    for (int32_t i = 0; i < n; ++i) {
      cum += p_top(i) / sum;
      if (cum >= static_cast<double>(p.top_p)) {
        n = i + 1;
        break;
      }
    }
  }
  // min-p, in the logit domain as llama.cpp does: keep logit >= max + log(p).
  if (p.min_p > 0.0f && n > 1) {
    const float min_logit = max_logit + log_min_p;
    int32_t keep = 1;
    while (keep < n && logit(keep) >= min_logit) ++keep;
    n = keep;
  }
  // temperature, then dist: softmax of logit / temp, inverse CDF at the draw.
  double sum = 0.0;
  for (int32_t i = 0; i < n; ++i) sum += p_temp(i);
  const double target = u * sum;
  double cum = 0.0;
  for (int32_t i = 0; i < n; ++i) {
    cum += p_temp(i);
    if (target < cum) return i;
  }
  return n - 1;  // rounding left target == sum
}

// ---- Host reference (sampling.cpp) ----

// std::log(min_p) in float (0 when min-p is off): the one libm call, made on the host for every
// backend.
float sample_log_min_p(const SampleParams& p);

// Argmax over [n_vocab] f32; NaN never wins; ties go to the lowest id; all NaN: 0.
int32_t sample_greedy(const float* logits, int32_t n_vocab);

// Scratch of sample_row, reused across calls.
struct SampleScratch {
  struct Candidate {
    int32_t id;
    float logit;
  };
  std::vector<Candidate> candidates;  // [n_vocab]
};

// The token that logits [n_vocab] f32 give with these parameters and the draw u (ignored when
// temp <= 0): the reference every backend's `sample` op equals.
int32_t sample_row(const float* logits, int32_t n_vocab, const SampleParams& p, double u, SampleScratch& scratch);

}  // namespace greta::backend
