#include "greta/compare/compare_report.h"

#include <algorithm>
#include <cstdio>

namespace greta::compare {

namespace {

std::string g(double v, int prec = 3) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.*g", prec, v);
  return buf;
}

std::string pad(std::string s, size_t w) {
  if (s.size() < w) s.insert(0, w - s.size(), ' ');
  return s;
}

std::string meta_value(const nlohmann::json& v) {
  if (v.is_null()) return "(absent)";
  std::string s = v.dump();
  return s.size() > 100 ? s.substr(0, 97) + "..." : s;
}

}  // namespace

std::string render_text(const Report& r, size_t max_rows) {
  const Overall& o = r.overall;
  const Verdict& v = r.verdict;
  std::string s;
  s += std::string("verdict: ") + (v.equivalent ? "EQUIVALENT" : "NOT EQUIVALENT") + " by " + v.basis + ": " +
       v.reason + "\n";
  s += "A: " + r.dir_a + "\nB: " + r.dir_b + "\n";
  for (const auto& w : r.warnings) s += "warning: " + w + "\n";
  s += "\n";
  s += pad("token_idx", 10) + pad("id A", 8) + pad("id B", 8) + pad("bit-equal", 16) + pad("max|d|", 10) +
       pad("mean|d|", 10) + pad("maxrel|d|", 10) + pad("RMS d", 10) + pad("cosine", 12) + pad("KL(P|Q)", 10) +
       pad("KL(Q|P)", 10) + pad("top1", 6) + pad("top5", 6) + "\n";
  // When there are too many tokens, show the ones with the largest max |d| (in token order).
  std::vector<size_t> rows(r.tokens.size());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = i;
  if (rows.size() > max_rows) {
    std::stable_sort(rows.begin(), rows.end(),
                     [&](size_t x, size_t y) { return r.tokens[x].max_abs > r.tokens[y].max_abs; });
    rows.resize(max_rows);
    std::sort(rows.begin(), rows.end());
  }
  for (size_t i : rows) {
    const TokenStats& t = r.tokens[i];
    s += pad(std::to_string(t.token_idx), 10) + pad(std::to_string(t.token_id_a), 8) +
         pad(std::to_string(t.token_id_b) + (t.token_id_a == t.token_id_b ? "" : "*"), 8) +
         pad(std::to_string(t.bit_equal) + "/" + std::to_string(t.n), 16) + pad(g(t.max_abs), 10) +
         pad(g(t.mean_abs), 10) + pad(g(t.max_rel), 10) + pad(g(t.rms), 10) + pad(g(t.cosine, 9), 12) +
         pad(g(t.kl_pq), 10) + pad(g(t.kl_qp), 10) + pad(t.top1_agree ? "yes" : "NO", 6) +
         pad(std::to_string(t.top5_overlap) + "/5", 6) + "\n";
  }
  if (rows.size() < r.tokens.size()) {
    s += "  (" + std::to_string(r.tokens.size() - rows.size()) + " more tokens in the --json/--html report)\n";
  }
  s += pad("overall", 10) + pad("", 16) + pad(std::to_string(o.bit_equal) + "/" + std::to_string(o.n), 16) +
       pad(g(o.max_abs), 10) + pad(g(o.mean_abs), 10) + pad(g(o.max_rel), 10) + pad(g(o.rms), 10) +
       pad(g(o.min_cosine, 9), 12) + pad(g(o.max_kl_pq), 10) + pad(g(o.max_kl_qp), 10) +
       pad(std::to_string(o.top1_agree) + "/" + std::to_string(o.n_tokens), 6) + pad(g(o.mean_top5_overlap, 2), 6) +
       "\n";
  s += "  (" + std::to_string(o.n_tokens) + " tokens x " + std::to_string(o.n_vocab) + " logits; token ids equal in " +
       std::to_string(o.token_id_equal) + "/" + std::to_string(o.n_tokens) + "; overall cosine = min, KL = max)\n\n";
  s += "metadata differences:";
  if (r.meta_diffs.empty()) s += " none";
  s += "\n";
  for (const auto& d : r.meta_diffs) s += "  " + d.key + ": " + meta_value(d.a) + " | " + meta_value(d.b) + "\n";
  return s;
}

nlohmann::json render_json(const Report& r) {
  using nlohmann::json;
  const Overall& o = r.overall;
  json j;
  j["verdict"] = {{"equivalent", r.verdict.equivalent},
                  {"mode", r.verdict.strict ? "strict" : "tolerance"},
                  {"basis", r.verdict.basis},
                  {"reason", r.verdict.reason},
                  {"atol", r.verdict.atol},
                  {"max_kl", r.verdict.max_kl},
                  {"exit_code", r.verdict.exit_code()}};
  j["a"] = {{"dir", r.dir_a}, {"metadata", r.meta_a}};
  j["b"] = {{"dir", r.dir_b}, {"metadata", r.meta_b}};
  j["metadata_differences"] = json::array();
  for (const auto& d : r.meta_diffs) j["metadata_differences"].push_back({{"key", d.key}, {"a", d.a}, {"b", d.b}});
  j["warnings"] = r.warnings;
  j["overall"] = {{"n_tokens", o.n_tokens},       {"n_vocab", o.n_vocab},
                  {"n_logits", o.n},              {"bit_equal", o.bit_equal},
                  {"max_abs_diff", o.max_abs},    {"mean_abs_diff", o.mean_abs},
                  {"max_rel_diff", o.max_rel},    {"rms_diff", o.rms},
                  {"min_cosine", o.min_cosine},   {"max_kl_pq", o.max_kl_pq},
                  {"max_kl_qp", o.max_kl_qp},     {"worst_token_idx", o.worst_token_idx},
                  {"top1_agree", o.top1_agree},   {"mean_top5_overlap", o.mean_top5_overlap},
                  {"token_id_equal", o.token_id_equal}};
  json toks = json::array();
  for (const auto& t : r.tokens) {
    json top_a = json::array(), top_b = json::array();
    for (int k = 0; k < kTopK; ++k) {
      top_a.push_back({{"id", t.top_a.ids[k]}, {"logit", t.top_a.logits[k]}});
      top_b.push_back({{"id", t.top_b.ids[k]}, {"logit", t.top_b.logits[k]}});
    }
    toks.push_back({{"token_idx", t.token_idx},   {"token_id_a", t.token_id_a},
                    {"token_id_b", t.token_id_b}, {"token_id_equal", t.token_id_a == t.token_id_b},
                    {"n", t.n},                   {"bit_equal", t.bit_equal},
                    {"max_abs_diff", t.max_abs},  {"max_abs_diff_at", t.max_abs_at},
                    {"mean_abs_diff", t.mean_abs}, {"max_rel_diff", t.max_rel},
                    {"rms_diff", t.rms},          {"cosine", t.cosine},
                    {"kl_pq", t.kl_pq},           {"kl_qp", t.kl_qp},
                    {"top1_agree", t.top1_agree}, {"top5_overlap", t.top5_overlap},
                    {"top5_a", top_a},            {"top5_b", top_b}});
  }
  j["tokens"] = toks;
  json bins = json::array();
  for (size_t k = 0; k < r.hist.bins.size(); ++k) {
    int e = static_cast<int>(k) + kHistLo;
    bins.push_back({{"lo", Histogram::edge(e)}, {"hi", Histogram::edge(e + 1)}, {"count", r.hist.bins[k]}});
  }
  j["abs_diff_histogram"] = {{"bit_equal", r.hist.bit_equal},
                             {"zero_not_bit_equal", r.hist.zero_not_bit_equal},
                             {"below_1e-10", r.hist.below},
                             {"at_least_1e3", r.hist.above},
                             {"bins", bins}};
  return j;
}

}  // namespace greta::compare
