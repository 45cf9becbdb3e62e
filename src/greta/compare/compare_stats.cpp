#include "greta/compare/compare_stats.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>

#include "greta/core/error.h"

namespace greta::compare {

namespace {

[[noreturn]] void invalid(const std::string& msg) { fail(msg, kExitUsage); }

std::string fmt_g(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3g", v);
  return buf;
}

TopK top_k(const std::vector<float>& v) {
  // The kTopK largest, ties by the lower index; O(n * k) with k = 5 beats sorting 32000 floats.
  TopK t;
  int filled = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    float x = v[i];
    if (filled == kTopK && !(x > t.logits[kTopK - 1])) continue;
    int pos = filled < kTopK ? filled++ : kTopK - 1;
    while (pos > 0 && x > t.logits[pos - 1]) {
      t.logits[pos] = t.logits[pos - 1];
      t.ids[pos] = t.ids[pos - 1];
      --pos;
    }
    t.logits[pos] = x;
    t.ids[pos] = static_cast<int32_t>(i);
  }
  for (int k = filled; k < kTopK; ++k) t.ids[k] = -1;
  return t;
}

// log-softmax of v into out, in double.
void log_softmax(const std::vector<float>& v, std::vector<double>& out) {
  double mx = -INFINITY;
  for (float x : v) mx = std::max(mx, static_cast<double>(x));
  double sum = 0.0;
  for (float x : v) sum += std::exp(static_cast<double>(x) - mx);
  double lse = mx + std::log(sum);
  out.resize(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<double>(v[i]) - lse;
}

double kl(const std::vector<double>& lp, const std::vector<double>& lq) {
  double s = 0.0;
  for (size_t i = 0; i < lp.size(); ++i) s += std::exp(lp[i]) * (lp[i] - lq[i]);
  return std::max(s, 0.0);
}

void check_no_null(const dump::Dump& d, const char* which) {
  for (size_t r = 0; r < d.records.size(); ++r) {
    const auto& rec = d.records[r];
    for (size_t i = 0; i < rec.is_null.size(); ++i) {
      if (rec.is_null[i]) {
        invalid(std::string(which) + " '" + d.dir + "/logits.jsonl.gz' line " + std::to_string(r + 1) +
                ": logits[" + std::to_string(i) + "] is null (a non-finite logit); the analyzer needs finite logits");
      }
    }
  }
}

// Keys of A in A's order, then B's extra keys; objects on both sides are recursed into.
void diff_metadata(const nlohmann::json& a, const nlohmann::json& b, const std::string& prefix,
                   std::vector<MetaDiff>& out) {
  for (auto it = a.begin(); it != a.end(); ++it) {
    if (prefix.empty() && (it.key() == "timestamp" || it.key() == "logits_file")) continue;
    std::string key = prefix + it.key();
    auto jt = b.find(it.key());
    if (jt == b.end()) {
      out.push_back({key, it.value(), nullptr});
    } else if (it->is_object() && jt->is_object()) {
      diff_metadata(*it, *jt, key + ".", out);
    } else if (*jt != it.value()) {
      out.push_back({key, it.value(), *jt});
    }
  }
  for (auto jt = b.begin(); jt != b.end(); ++jt) {
    if (prefix.empty() && (jt.key() == "timestamp" || jt.key() == "logits_file")) continue;
    if (!a.contains(jt.key())) out.push_back({prefix + jt.key(), nullptr, jt.value()});
  }
}

std::string span_text(const dump::DumpMetadata& m) {
  return "{start " + std::to_string(m.span_start) + ", count " + std::to_string(m.span_count) + "}";
}

}  // namespace

Report compare_dumps(const dump::Dump& a, const dump::Dump& b, const CompareOptions& opt) {
  Report rep;
  rep.dir_a = a.dir;
  rep.dir_b = b.dir;
  rep.meta_a = a.metadata;
  rep.meta_b = b.metadata;

  if (a.meta.span_start != b.meta.span_start || a.meta.span_count != b.meta.span_count) {
    invalid("the dumps cover different token spans: A '" + a.dir + "' has " + span_text(a.meta) + ", B '" + b.dir +
            "' has " + span_text(b.meta));
  }
  GRETA_ASSERT(a.records.size() == b.records.size());
  for (size_t r = 0; r < a.records.size(); ++r) {
    if (a.records[r].token_idx != b.records[r].token_idx) {
      invalid("the dumps have different token_idx sequences: line " + std::to_string(r + 1) + " is token_idx " +
              std::to_string(a.records[r].token_idx) + " in A, " + std::to_string(b.records[r].token_idx) + " in B");
    }
  }
  const size_t n_vocab = a.records.empty() ? 0 : a.records[0].logits.size();
  const size_t n_vocab_b = b.records.empty() ? 0 : b.records[0].logits.size();
  if (n_vocab != n_vocab_b) {
    invalid("the dumps have different vocab sizes: A '" + a.dir + "' has " + std::to_string(n_vocab) +
            " logits per token, B '" + b.dir + "' has " + std::to_string(n_vocab_b));
  }
  check_no_null(a, "A");
  check_no_null(b, "B");

  // Metadata differences: nested objects are compared key by key ("options.threads").
  diff_metadata(a.metadata, b.metadata, "", rep.meta_diffs);

  Overall& o = rep.overall;
  o.n_tokens = static_cast<int64_t>(a.records.size());
  o.n_vocab = static_cast<int64_t>(n_vocab);
  double sum_abs_all = 0.0, sum_sq_all = 0.0, sum_overlap = 0.0;
  std::vector<double> lp, lq;
  for (size_t r = 0; r < a.records.size(); ++r) {
    const auto& ra = a.records[r];
    const auto& rb = b.records[r];
    TokenStats t;
    t.token_idx = ra.token_idx;
    t.token_id_a = ra.token_id;
    t.token_id_b = rb.token_id;
    t.n = static_cast<int64_t>(n_vocab);
    double sum_abs = 0.0, sum_sq = 0.0, dot = 0.0, na = 0.0, nb = 0.0;
    for (size_t i = 0; i < n_vocab; ++i) {
      float fa = ra.logits[i], fb = rb.logits[i];
      double x = fa, y = fb;
      double d = std::abs(x - y);
      if (std::bit_cast<uint32_t>(fa) == std::bit_cast<uint32_t>(fb)) {
        t.bit_equal++;
        rep.hist.bit_equal++;
      } else if (d == 0.0) {
        rep.hist.zero_not_bit_equal++;
      } else {
        int k = static_cast<int>(std::floor(std::log10(d) * 2.0));
        if (k < kHistLo) {
          rep.hist.below++;
        } else if (k >= kHistHi) {
          rep.hist.above++;
        } else {
          rep.hist.bins[static_cast<size_t>(k - kHistLo)]++;
        }
        t.max_rel = std::max(t.max_rel, d / std::max(std::abs(x), std::abs(y)));
      }
      if (d > t.max_abs) {
        t.max_abs = d;
        t.max_abs_at = static_cast<int64_t>(i);
      }
      sum_abs += d;
      sum_sq += d * d;
      dot += x * y;
      na += x * x;
      nb += y * y;
    }
    t.mean_abs = n_vocab ? sum_abs / static_cast<double>(n_vocab) : 0.0;
    t.rms = n_vocab ? std::sqrt(sum_sq / static_cast<double>(n_vocab)) : 0.0;
    t.cosine = (na == 0.0 || nb == 0.0) ? (na == nb ? 1.0 : 0.0) : dot / std::sqrt(na * nb);
    log_softmax(ra.logits, lp);
    log_softmax(rb.logits, lq);
    t.kl_pq = kl(lp, lq);
    t.kl_qp = kl(lq, lp);
    t.top_a = top_k(ra.logits);
    t.top_b = top_k(rb.logits);
    t.top1_agree = t.top_a.ids[0] == t.top_b.ids[0];
    t.top5_overlap = 0;
    for (int32_t id : t.top_a.ids) {
      if (id >= 0 && std::find(t.top_b.ids.begin(), t.top_b.ids.end(), id) != t.top_b.ids.end()) t.top5_overlap++;
    }

    o.n += t.n;
    o.bit_equal += t.bit_equal;
    if (r == 0 || t.max_abs > o.max_abs) {
      o.max_abs = t.max_abs;
      o.worst_token_idx = t.token_idx;
    }
    o.max_rel = std::max(o.max_rel, t.max_rel);
    o.min_cosine = std::min(o.min_cosine, t.cosine);
    o.max_kl_pq = std::max(o.max_kl_pq, t.kl_pq);
    o.max_kl_qp = std::max(o.max_kl_qp, t.kl_qp);
    o.top1_agree += t.top1_agree ? 1 : 0;
    o.token_id_equal += t.token_id_a == t.token_id_b ? 1 : 0;
    sum_abs_all += sum_abs;
    sum_sq_all += sum_sq;
    sum_overlap += t.top5_overlap;
    rep.tokens.push_back(t);
  }
  if (o.n > 0) {
    o.mean_abs = sum_abs_all / static_cast<double>(o.n);
    o.rms = std::sqrt(sum_sq_all / static_cast<double>(o.n));
  }
  if (o.n_tokens > 0) o.mean_top5_overlap = sum_overlap / static_cast<double>(o.n_tokens);

  // The verdict.
  Verdict& v = rep.verdict;
  bool both_aligned = a.meta.kv_aligned == 1 && b.meta.kv_aligned == 1;
  bool tolerances_given = opt.atol_given || opt.max_kl_given;
  v.strict = opt.strict || (both_aligned && !tolerances_given);
  v.atol = opt.atol;
  v.max_kl = opt.max_kl;
  std::string id_diffs;
  for (const auto& t : rep.tokens) {
    if (t.token_id_a != t.token_id_b) {
      if (!id_diffs.empty()) id_diffs += ", ";
      id_diffs += "token_idx " + std::to_string(t.token_idx) + " (" + std::to_string(t.token_id_a) + " vs " +
                  std::to_string(t.token_id_b) + ")";
    }
  }
  auto worst = [&] {
    for (const auto& t : rep.tokens) {
      if (t.token_idx == o.worst_token_idx) return t;
    }
    return TokenStats{};
  }();
  std::string where = "max |d| " + fmt_g(o.max_abs) + " at token_idx " + std::to_string(worst.token_idx) +
                      ", logit " + std::to_string(worst.max_abs_at);
  if (v.strict) {
    v.basis = opt.strict ? "strict bit-equality (--strict)" : "strict bit-equality (both dumps kv_aligned 1)";
    v.equivalent = o.bit_equal == o.n && id_diffs.empty();
    if (v.equivalent) {
      v.reason = "all " + std::to_string(o.n) + " logits bit-equal, token ids equal";
    } else if (o.bit_equal != o.n) {
      v.reason = std::to_string(o.n - o.bit_equal) + " of " + std::to_string(o.n) + " logits differ (" + where + ")";
      if (!id_diffs.empty()) v.reason += "; token_id differs at " + id_diffs;
    } else {
      v.reason = "logits bit-equal but token_id differs at " + id_diffs;
    }
  } else {
    v.basis = std::string("tolerances (") + (both_aligned ? "given on the command line" : "not both kv_aligned 1") +
              "): max |d| <= " + fmt_g(v.atol) + ", KL <= " + fmt_g(v.max_kl);
    double max_kl = std::max(o.max_kl_pq, o.max_kl_qp);
    bool abs_ok = o.max_abs <= v.atol;
    bool kl_ok = max_kl <= v.max_kl;
    v.equivalent = abs_ok && kl_ok;
    v.reason = where + (abs_ok ? " <= " : " > ") + fmt_g(v.atol) + "; max KL " + fmt_g(max_kl) +
               (kl_ok ? " <= " : " > ") + fmt_g(v.max_kl) + "; " + std::to_string(o.bit_equal) + " of " +
               std::to_string(o.n) + " logits bit-equal";
    if (!id_diffs.empty()) rep.warnings.push_back("token_id differs at " + id_diffs);
  }
  // After a token_id difference the two runs continue from different tokens: later logits are
  // conditioned on different sequences and their drift is not numerical.
  for (size_t r = 0; r + 1 < rep.tokens.size(); ++r) {
    if (rep.tokens[r].token_id_a != rep.tokens[r].token_id_b) {
      rep.warnings.push_back("the sequences diverge after token_idx " + std::to_string(rep.tokens[r].token_idx) +
                             ": the logits of token_idx " + std::to_string(rep.tokens[r + 1].token_idx) +
                             " onwards are conditioned on different tokens");
      break;
    }
  }
  return rep;
}

}  // namespace greta::compare
