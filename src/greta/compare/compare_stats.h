#pragma once
// The B3.67 analyzer's arithmetic: compares two validated dumps of the same span, token by
// token, and gives a verdict. Rendering (text, JSON, HTML) lives in compare_report.h.
//
// All statistics are computed in double from the float32 logits. Definitions (A = first dump,
// B = second, Δ = a - b per logit, P = softmax(A), Q = softmax(B)):
//   bit_equal      logits whose float32 bit patterns are identical (0.0 vs -0.0 is NOT equal)
//   max/mean |Δ|, RMS Δ = sqrt(mean Δ²)
//   max rel |Δ|    max over logits with a != b of |Δ| / max(|a|, |b|)
//   cosine         <a,b> / (|a| |b|)  (1 when both vectors are zero)
//   KL(P‖Q)        Σ p (log p - log q), log-softmax by max-subtraction; clamped at 0
//   top-1 / top-5  by logit, ties broken by the lower token id

#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "greta/dump/logits_dump.h"

namespace greta::compare {

// Verdict thresholds of the tolerance mode (kv_aligned 0 or mixed). See docs/ARCHITECTURE.md,
// "Analyzer": the largest prefill/decode drift we accept as the same computation.
inline constexpr double kDefaultAtol = 1e-2;   // max |Δ| over every logit
inline constexpr double kDefaultMaxKl = 1e-3;  // max of KL(P‖Q), KL(Q‖P) over every token

struct CompareOptions {
  bool strict = false;        // force bit-equality
  bool atol_given = false;    // --atol / --max-kl given: tolerance mode unless --strict
  bool max_kl_given = false;
  double atol = kDefaultAtol;
  double max_kl = kDefaultMaxKl;
};

inline constexpr int kTopK = 5;

struct TopK {
  std::array<int32_t, kTopK> ids{};
  std::array<float, kTopK> logits{};
};

struct TokenStats {
  int64_t token_idx = 0;
  int32_t token_id_a = 0;
  int32_t token_id_b = 0;
  int64_t n = 0;
  int64_t bit_equal = 0;
  double max_abs = 0, mean_abs = 0, max_rel = 0, rms = 0, cosine = 1, kl_pq = 0, kl_qp = 0;
  int64_t max_abs_at = 0;  // logit index of max |Δ|
  bool top1_agree = true;
  int top5_overlap = kTopK;
  TopK top_a, top_b;
};

// |Δ| histogram on a log scale: bins [10^(k/2), 10^((k+1)/2)) for k in [kHistLo, kHistHi), plus
// separate counts for bit-equal logits and for a == b with different bits (0.0 vs -0.0).
inline constexpr int kHistLo = -20;  // 1e-10
inline constexpr int kHistHi = 6;    // 1e3
struct Histogram {
  int64_t bit_equal = 0;
  int64_t zero_not_bit_equal = 0;
  int64_t below = 0;  // 0 < |Δ| < 1e-10
  int64_t above = 0;  // |Δ| >= 1e3
  std::vector<int64_t> bins = std::vector<int64_t>(kHistHi - kHistLo, 0);
  static double edge(int k) { return std::pow(10.0, k / 2.0); }  // lower edge of bin k - kHistLo
};

struct Overall {
  int64_t n_tokens = 0, n_vocab = 0, n = 0, bit_equal = 0;
  double max_abs = 0, mean_abs = 0, max_rel = 0, rms = 0, min_cosine = 1, max_kl_pq = 0, max_kl_qp = 0;
  int64_t worst_token_idx = 0;  // token with the largest max |Δ|
  int64_t top1_agree = 0;       // tokens
  double mean_top5_overlap = kTopK;
  int64_t token_id_equal = 0;   // tokens
};

struct Verdict {
  bool strict = false;
  bool equivalent = false;
  std::string basis;   // "strict bit-equality (both dumps kv_aligned 1)", ...
  std::string reason;  // one sentence: why (not) equivalent
  double atol = kDefaultAtol, max_kl = kDefaultMaxKl;
  int exit_code() const { return equivalent ? 0 : 1; }
};

struct MetaDiff {
  std::string key;
  nlohmann::json a, b;  // null where a dump lacks the key
};

struct Report {
  std::string dir_a, dir_b;
  nlohmann::json meta_a, meta_b;
  std::vector<MetaDiff> meta_diffs;  // keys that differ ("options.threads"), except timestamp, logits_file
  std::vector<TokenStats> tokens;
  Overall overall;
  Histogram hist;
  Verdict verdict;
  std::vector<std::string> warnings;  // e.g. token_id differences in tolerance mode
};

// Throws greta::Error(kExitUsage) when the dumps cannot be compared: different spans, token_idx
// sequences or vocab sizes, or a null (non-finite) logit.
Report compare_dumps(const dump::Dump& a, const dump::Dump& b, const CompareOptions& options);

}  // namespace greta::compare
