// The analyzer's HTML page: one self-contained file (inline CSS and SVG, no scripts, no external
// assets) that a person can open from a CI artifact and read top to bottom.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "greta/compare/compare_report.h"

namespace greta::compare {

namespace {

std::string esc(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string g(double v, int prec = 3) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.*g", prec, v);
  return buf;
}

std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

std::string pow10_label(int e) {
  if (e == 0) return "1";
  return "1e" + std::to_string(e);
}

const char* kCss = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1320px;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 12px}
h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.banner{padding:14px 18px;border-radius:8px;color:#fff;margin-bottom:8px}
.banner .v{font-size:26px;font-weight:700;letter-spacing:.5px}
.banner .b{font-size:14px;margin-top:4px;opacity:.95}
.ok{background:#1a7f37}.bad{background:#cf222e}
.dirs{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;color:#57606a}
table{border-collapse:collapse;font-size:12.5px}
th,td{border:1px solid #d0d7de;padding:3px 7px;text-align:right;vertical-align:top}
th{background:#f6f8fa;font-weight:600}
td.l,th.l{text-align:left}
td.mono{font-family:ui-monospace,Menlo,Consolas,monospace}
tr.diff td{background:#fff8c5}
tr.expected td{color:#57606a}
.miss{background:#ffebe9}
.note{font-size:12px;color:#57606a;margin:4px 0}
.grid{display:flex;flex-wrap:wrap;gap:16px}
.card{border:1px solid #d0d7de;border-radius:8px;padding:8px}
svg text{font-family:system-ui,sans-serif;font-size:11px;fill:#1f2328}
.tok{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:pre}
table.meta{table-layout:fixed;width:100%}
table.meta td{word-break:break-all;overflow-wrap:anywhere}
)";

// A log-scale line/point plot of per-position values (zeros drawn on the floor line, labelled).
struct Series {
  std::string name, color;
  std::vector<double> v;
};

std::string log_plot(const std::string& title, const std::vector<int64_t>& xs, const std::vector<Series>& series,
                     double threshold, const std::string& threshold_label) {
  const double W = 620, H = 260, L = 62, R = 14, T = 26, B = 40;
  double lo = INFINITY, hi = -INFINITY;
  bool any_zero = false;
  for (const auto& s : series) {
    for (double v : s.v) {
      if (v > 0) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      } else {
        any_zero = true;
      }
    }
  }
  if (threshold > 0) {
    lo = std::min(lo, threshold);
    hi = std::max(hi, threshold);
  }
  const double lo_seen = lo;  // +inf when every value is 0
  if (!std::isfinite(lo)) {
    lo = 1e-8;
    hi = 1e-6;
  }
  int elo = static_cast<int>(std::floor(std::log10(lo)));
  int ehi = static_cast<int>(std::ceil(std::log10(hi)));
  if (ehi <= elo) ehi = elo + 1;
  const double floor_y = H - B + 0;  // where zeros go (4 px above the x axis)
  const double y_top = T, y_bot = H - B - 26;
  auto ymap = [&](double v) {
    if (v <= 0) return floor_y - 4;
    double f = (std::log10(v) - elo) / (ehi - elo);
    return y_bot - f * (y_bot - y_top);
  };
  int64_t x0 = xs.empty() ? 0 : xs.front(), x1 = xs.empty() ? 1 : xs.back();
  auto xmap = [&](int64_t x) {
    if (x1 == x0) return L + (W - L - R) / 2;
    return L + (W - L - R) * static_cast<double>(x - x0) / static_cast<double>(x1 - x0);
  };
  std::string s = "<svg width=\"" + num(W) + "\" height=\"" + num(H) + "\" viewBox=\"0 0 " + num(W) + " " + num(H) +
                  "\" xmlns=\"http://www.w3.org/2000/svg\">";
  s += "<text x=\"" + num(L) + "\" y=\"16\" style=\"font-weight:600;font-size:13px\">" + esc(title) + "</text>";
  int step = (ehi - elo) > 8 ? 2 : 1;
  for (int e = elo; e <= ehi; e += step) {
    double y = ymap(std::pow(10.0, e));
    s += "<line x1=\"" + num(L) + "\" x2=\"" + num(W - R) + "\" y1=\"" + num(y) + "\" y2=\"" + num(y) +
         "\" stroke=\"#eaeef2\"/>";
    s += "<text x=\"" + num(L - 6) + "\" y=\"" + num(y + 4) + "\" text-anchor=\"end\">" + pow10_label(e) + "</text>";
  }
  if (any_zero) {
    s += "<line x1=\"" + num(L) + "\" x2=\"" + num(W - R) + "\" y1=\"" + num(floor_y - 4) + "\" y2=\"" +
         num(floor_y - 4) + "\" stroke=\"#8c959f\" stroke-dasharray=\"2,3\"/>";
    s += "<text x=\"" + num(L - 6) + "\" y=\"" + num(floor_y) + "\" text-anchor=\"end\">0</text>";
  }
  s += "<line x1=\"" + num(L) + "\" x2=\"" + num(L) + "\" y1=\"" + num(T) + "\" y2=\"" + num(H - B + 2) +
       "\" stroke=\"#57606a\"/>";
  if (!std::isfinite(lo_seen)) {
    s += "<text x=\"" + num(L + (W - L - R) / 2) + "\" y=\"" + num((y_top + y_bot) / 2) +
         "\" text-anchor=\"middle\" style=\"font-size:14px;fill:#1a7f37\">all 0 at every position</text>";
  }
  // x ticks: at most ~8 labels.
  size_t nx = xs.size();
  size_t xstep = std::max<size_t>(1, (nx + 7) / 8);
  for (size_t i = 0; i < nx; i += xstep) {
    double x = xmap(xs[i]);
    s += "<text x=\"" + num(x) + "\" y=\"" + num(H - B + 16) + "\" text-anchor=\"middle\">" + std::to_string(xs[i]) +
         "</text>";
  }
  s += "<text x=\"" + num(L + (W - L - R) / 2) + "\" y=\"" + num(H - 6) + "\" text-anchor=\"middle\">token_idx</text>";
  if (threshold > 0) {
    double y = ymap(threshold);
    s += "<line x1=\"" + num(L) + "\" x2=\"" + num(W - R) + "\" y1=\"" + num(y) + "\" y2=\"" + num(y) +
         "\" stroke=\"#cf222e\" stroke-dasharray=\"6,4\"/>";
    s += "<text x=\"" + num(W - R - 4) + "\" y=\"" + num(y - 4) + "\" text-anchor=\"end\" style=\"fill:#cf222e\">" +
         esc(threshold_label) + "</text>";
  }
  double lx = L + 8;
  for (size_t si = 0; si < series.size(); ++si) {
    const Series& se = series[si];
    // The first series hollow and larger, so an identical second series does not hide it.
    const std::string dot = si == 0 ? "\" r=\"4.5\" fill=\"none\" stroke-width=\"1.5\" stroke=\"" + se.color
                                    : "\" r=\"2.5\" fill=\"" + se.color;
    std::string pts;
    for (size_t i = 0; i < se.v.size() && i < nx; ++i) pts += num(xmap(xs[i])) + "," + num(ymap(se.v[i])) + " ";
    if (nx > 1) {
      s += "<polyline fill=\"none\" stroke=\"" + se.color + "\" stroke-width=\"1.5\" points=\"" + pts + "\"/>";
    }
    if (nx <= 200) {
      for (size_t i = 0; i < se.v.size() && i < nx; ++i) {
        s += "<circle cx=\"" + num(xmap(xs[i])) + "\" cy=\"" + num(ymap(se.v[i])) + dot + "\"><title>token_idx " + std::to_string(xs[i]) + ": " + g(se.v[i], 4) + "</title></circle>";
      }
    }
    if (series.size() > 1) {
      s += "<rect x=\"" + num(lx) + "\" y=\"" + num(T + 2) + "\" width=\"10\" height=\"10\" fill=\"" + se.color + "\"/>";
      s += "<text x=\"" + num(lx + 14) + "\" y=\"" + num(T + 11) + "\">" + esc(se.name) + "</text>";
      lx += 24 + 7.0 * static_cast<double>(se.name.size());
    }
  }
  s += "</svg>";
  return s;
}

std::string histogram_svg(const Histogram& h) {
  // Bars: bit-equal (set apart), 0 with different bits, < 1e-10, the half-decade bins, >= 1e3.
  struct Bar {
    std::string label;
    int64_t count;
    std::string color;
  };
  std::vector<Bar> bars;
  bars.push_back({"bit-equal", h.bit_equal, "#1a7f37"});
  bars.push_back({"\u00b10", h.zero_not_bit_equal, "#8250df"});
  bars.push_back({"<1e-10", h.below, "#0969da"});
  for (size_t k = 0; k < h.bins.size(); ++k) {
    int e = static_cast<int>(k) + kHistLo;
    bars.push_back({e % 2 == 0 ? pow10_label(e / 2) : "", h.bins[k], "#0969da"});
  }
  bars.push_back({"\u22651e3", h.above, "#cf222e"});
  const double W = 1280, H = 270, L = 58, R = 10, T = 26, B = 52;
  int64_t mx = 1;
  for (const auto& b : bars) mx = std::max(mx, b.count);
  double lmax = std::ceil(std::log10(static_cast<double>(mx) + 1.0));
  if (lmax < 1) lmax = 1;
  auto yh = [&](int64_t c) { return c <= 0 ? 0.0 : (H - T - B) * std::log10(static_cast<double>(c) + 1.0) / lmax; };
  const double gap = 18;   // between the bit-equal bar and the |d| bars
  const double gap2 = 34;  // between the special bars and the bins, so their labels do not collide
  double bw = (W - L - R - gap - gap2) / static_cast<double>(bars.size());
  std::string s = "<svg width=\"" + num(W) + "\" height=\"" + num(H) + "\" viewBox=\"0 0 " + num(W) + " " + num(H) +
                  "\" xmlns=\"http://www.w3.org/2000/svg\">";
  s += "<text x=\"" + num(L) + "\" y=\"16\" style=\"font-weight:600;font-size:13px\">|\u0394| per logit, all tokens "
       "(x: log scale, half-decade bins; y: count, log scale)</text>";
  for (int e = 0; e <= static_cast<int>(lmax); ++e) {
    double y = H - B - (H - T - B) * e / lmax;
    s += "<line x1=\"" + num(L) + "\" x2=\"" + num(W - R) + "\" y1=\"" + num(y) + "\" y2=\"" + num(y) +
         "\" stroke=\"#eaeef2\"/><text x=\"" + num(L - 6) + "\" y=\"" + num(y + 4) + "\" text-anchor=\"end\">" +
         (e == 0 ? std::string("0") : pow10_label(e)) + "</text>";
  }
  for (size_t i = 0; i < bars.size(); ++i) {
    double x = L + bw * static_cast<double>(i) + (i >= 1 ? gap : 0.0) + (i >= 3 ? gap2 : 0.0);
    double hgt = yh(bars[i].count);
    s += "<rect x=\"" + num(x + 1) + "\" y=\"" + num(H - B - hgt) + "\" width=\"" + num(bw - 2) + "\" height=\"" +
         num(hgt) + "\" fill=\"" + bars[i].color + "\"><title>" + esc(bars[i].label.empty() ? "bin" : bars[i].label) +
         ": " + std::to_string(bars[i].count) + "</title></rect>";
    if (bars[i].count > 0) {
      s += "<text x=\"" + num(x + bw / 2) + "\" y=\"" + num(H - B - hgt - 3) +
           "\" text-anchor=\"middle\" style=\"font-size:9.5px\">" + std::to_string(bars[i].count) + "</text>";
    }
    if (!bars[i].label.empty()) {
      // Bin labels sit on the bins' lower edges; the special bars are labelled at their centre.
      bool edge = i >= 3 && i + 1 < bars.size();
      double lx = edge ? x : x + bw / 2;
      s += "<text x=\"" + num(lx) + "\" y=\"" + num(H - B + 14) + "\" text-anchor=\"middle\">" + esc(bars[i].label) +
           "</text>";
      if (edge) {
        s += "<line x1=\"" + num(lx) + "\" x2=\"" + num(lx) + "\" y1=\"" + num(H - B) + "\" y2=\"" + num(H - B + 4) +
             "\" stroke=\"#57606a\"/>";
      }
    }
  }
  s += "<line x1=\"" + num(L) + "\" x2=\"" + num(W - R) + "\" y1=\"" + num(H - B) + "\" y2=\"" + num(H - B) +
       "\" stroke=\"#57606a\"/>";
  if (h.bit_equal == std::accumulate(bars.begin(), bars.end(), int64_t{0},
                                     [](int64_t acc, const Bar& b) { return acc + b.count; })) {
    s += "<text x=\"" + num(L + (W - L - R) / 2) + "\" y=\"" + num((T + H - B) / 2) +
         "\" text-anchor=\"middle\" style=\"font-size:15px;fill:#1a7f37\">every logit bit-equal: no |\u0394| to show</text>";
  }
  s += "<text x=\"" + num(L + (W - L - R) / 2) + "\" y=\"" + num(H - 12) +
       "\" text-anchor=\"middle\">|\u0394| = |a \u2212 b| (bit-equal logits counted apart, at the left)</text>";
  s += "</svg>";
  return s;
}

std::string top5_cell(const TopK& mine, const TopK& other, const TokenTextFn& text) {
  std::string s = "<table style=\"border:none\">";
  for (int k = 0; k < kTopK; ++k) {
    if (mine.ids[k] < 0) continue;
    bool shared = std::find(other.ids.begin(), other.ids.end(), mine.ids[k]) != other.ids.end();
    std::string t = text ? text(mine.ids[k]) : "";
    s += std::string("<tr") + (shared ? "" : " class=\"miss\"") + "><td style=\"border:none\">" + std::to_string(k + 1) +
         ".</td><td class=\"mono\" style=\"border:none\">" + std::to_string(mine.ids[k]) +
         "</td><td class=\"l tok\" style=\"border:none;min-width:90px\">" + (t.empty() ? "" : esc("\u2039" + t + "\u203a")) +
         "</td><td class=\"mono\" style=\"border:none\">" + g(mine.logits[k], 6) + "</td></tr>";
  }
  return s + "</table>";
}

}  // namespace

std::string render_html(const Report& r, const TokenTextFn& token_text) {
  const Overall& o = r.overall;
  const Verdict& v = r.verdict;
  std::string h;
  h += "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>greta_compare: ";
  h += v.equivalent ? "EQUIVALENT" : "NOT EQUIVALENT";
  h += "</title><style>" + std::string(kCss) + "</style></head><body>";
  h += "<h1>greta_compare \u2014 B3.67 equivalence report</h1>";
  h += std::string("<div class=\"banner ") + (v.equivalent ? "ok" : "bad") + "\"><div class=\"v\">" +
       (v.equivalent ? "\u2714 EQUIVALENT" : "\u2718 NOT EQUIVALENT") + "</div><div class=\"b\">by " + esc(v.basis) +
       "</div><div class=\"b\">" + esc(v.reason) + "</div></div>";
  h += "<div class=\"dirs\">A: " + esc(r.dir_a) + "<br>B: " + esc(r.dir_b) + "</div>";
  for (const auto& w : r.warnings) h += "<p class=\"note\" style=\"color:#9a6700\">warning: " + esc(w) + "</p>";

  // Summary.
  h += "<h2>Summary</h2><table><tr><th class=\"l\">tokens \u00d7 vocab</th><th>bit-equal logits</th><th>max |\u0394|</th>"
       "<th>mean |\u0394|</th><th>max rel |\u0394|</th><th>RMS \u0394</th><th>min cosine</th><th>max KL(P\u2016Q)</th>"
       "<th>max KL(Q\u2016P)</th><th>top-1 agree</th><th>mean top-5 overlap</th><th>token_id equal</th></tr>";
  h += "<tr><td class=\"l\">" + std::to_string(o.n_tokens) + " \u00d7 " + std::to_string(o.n_vocab) + "</td><td>" +
       std::to_string(o.bit_equal) + " / " + std::to_string(o.n) + " (" + g(o.n ? 100.0 * o.bit_equal / o.n : 100.0, 4) +
       "%)</td><td>" + g(o.max_abs) + "</td><td>" + g(o.mean_abs) + "</td><td>" + g(o.max_rel) + "</td><td>" + g(o.rms) +
       "</td><td>" + g(o.min_cosine, 9) + "</td><td>" + g(o.max_kl_pq) + "</td><td>" + g(o.max_kl_qp) + "</td><td>" +
       std::to_string(o.top1_agree) + " / " + std::to_string(o.n_tokens) + "</td><td>" + g(o.mean_top5_overlap, 3) +
       " / 5</td><td>" + std::to_string(o.token_id_equal) + " / " + std::to_string(o.n_tokens) + "</td></tr></table>";
  h += "<p class=\"note\">P = softmax(A), Q = softmax(B), computed in double. Strict mode requires every logit "
       "bit-equal (0.0 and \u22120.0 differ) and equal token ids; tolerance mode requires max |\u0394| \u2264 " +
       g(v.atol) + " and both KL \u2264 " + g(v.max_kl) + ".</p>";

  // Metadata side by side.
  h += "<h2>Metadata</h2><table class=\"meta\"><col style=\"width:16%\"><col style=\"width:42%\"><col style=\"width:42%\">"
       "<tr><th class=\"l\">key</th><th class=\"l\">A</th><th class=\"l\">B</th></tr>";
  std::vector<std::string> keys;
  for (auto it = r.meta_a.begin(); it != r.meta_a.end(); ++it) keys.push_back(it.key());
  for (auto it = r.meta_b.begin(); it != r.meta_b.end(); ++it) {
    if (!r.meta_a.contains(it.key())) keys.push_back(it.key());
  }
  for (const auto& k : keys) {
    nlohmann::json a = r.meta_a.contains(k) ? r.meta_a[k] : nlohmann::json();
    nlohmann::json b = r.meta_b.contains(k) ? r.meta_b[k] : nlohmann::json();
    bool expected = k == "timestamp" || k == "logits_file";
    std::string cls = a == b ? "" : expected ? " class=\"expected\"" : " class=\"diff\"";
    auto show = [](const nlohmann::json& j) {
      std::string s = j.is_null() ? "(absent)" : j.is_string() ? j.get<std::string>() : j.dump();
      if (s.size() > 300) s = s.substr(0, 297) + "...";
      return esc(s);
    };
    h += "<tr" + cls + "><td class=\"l mono\">" + esc(k) + "</td><td class=\"l mono\">" + show(a) +
         "</td><td class=\"l mono\">" + show(b) + "</td></tr>";
  }
  h += "</table><p class=\"note\">Highlighted: keys that differ (timestamp and logits_file always do).</p>";

  // Plots.
  std::vector<int64_t> xs;
  Series max_abs{"max |\u0394|", "#0969da", {}}, kl_pq{"KL(P\u2016Q)", "#0969da", {}}, kl_qp{"KL(Q\u2016P)", "#bf3989", {}};
  for (const auto& t : r.tokens) {
    xs.push_back(t.token_idx);
    max_abs.v.push_back(t.max_abs);
    kl_pq.v.push_back(t.kl_pq);
    kl_qp.v.push_back(t.kl_qp);
  }
  h += "<h2>Drift</h2>" + histogram_svg(r.hist);
  h += "<div class=\"grid\"><div class=\"card\">" +
       log_plot("max |\u0394| per position", xs, {max_abs}, v.strict ? 0.0 : v.atol, "atol " + g(v.atol)) +
       "</div><div class=\"card\">" +
       log_plot("KL divergence per position", xs, {kl_pq, kl_qp}, v.strict ? 0.0 : v.max_kl, "max KL " + g(v.max_kl)) +
       "</div></div>";
  h += "<p class=\"note\">Zeros (bit-equal positions) are drawn on the dotted floor line.</p>";

  // Top-5 side by side; with many positions, the 64 with the largest max |d|.
  std::vector<size_t> rows(r.tokens.size());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = i;
  const size_t kMaxTopRows = 64;
  if (rows.size() > kMaxTopRows) {
    std::stable_sort(rows.begin(), rows.end(), [&](size_t a, size_t b) { return r.tokens[a].max_abs > r.tokens[b].max_abs; });
    rows.resize(kMaxTopRows);
    std::sort(rows.begin(), rows.end());
  }
  h += "<h2>Top-5 tokens per position</h2>";
  if (rows.size() < r.tokens.size()) {
    h += "<p class=\"note\">The " + std::to_string(rows.size()) + " positions with the largest max |\u0394| of " +
         std::to_string(r.tokens.size()) + ".</p>";
  }
  h += "<table><tr><th>token_idx</th><th>token_id A / B</th><th class=\"l\">A: top-5 (id, text, logit)</th>"
       "<th class=\"l\">B: top-5 (id, text, logit)</th><th>overlap</th></tr>";
  for (size_t i : rows) {
    const TokenStats& t = r.tokens[i];
    std::string ta = token_text ? token_text(t.token_id_a) : "", tb = token_text ? token_text(t.token_id_b) : "";
    h += "<tr><td>" + std::to_string(t.token_idx) + "</td><td" +
         (t.token_id_a == t.token_id_b ? std::string("") : std::string(" class=\"miss\"")) + "><span class=\"mono\">" +
         std::to_string(t.token_id_a) + " / " + std::to_string(t.token_id_b) + "</span>" +
         (ta.empty() ? "" : "<br><span class=\"tok\">" + esc("\u2039" + ta + "\u203a") + "</span>") + "</td><td class=\"l\">" +
         top5_cell(t.top_a, t.top_b, token_text) + "</td><td class=\"l\">" + top5_cell(t.top_b, t.top_a, token_text) +
         "</td><td>" + std::to_string(t.top5_overlap) + "/5" + (t.top1_agree ? "" : "<br>top-1 differs") + "</td></tr>";
  }
  h += "</table><p class=\"note\">Red rows: a token in one top-5 and not in the other.</p>";

  // Per-token table.
  h += "<h2>Per position</h2><table><tr><th>token_idx</th><th>id A</th><th>id B</th><th>bit-equal</th><th>max |\u0394|</th>"
       "<th>at logit</th><th>mean |\u0394|</th><th>max rel |\u0394|</th><th>RMS \u0394</th><th>cosine</th>"
       "<th>KL(P\u2016Q)</th><th>KL(Q\u2016P)</th><th>top-1</th><th>top-5</th></tr>";
  size_t shown = 0;
  for (const auto& t : r.tokens) {
    if (++shown > 512) break;
    bool all_eq = t.bit_equal == t.n;
    h += std::string("<tr") + (all_eq ? "" : " class=\"diff\"") + "><td>" + std::to_string(t.token_idx) + "</td><td>" +
         std::to_string(t.token_id_a) + "</td><td" + (t.token_id_a == t.token_id_b ? "" : " class=\"miss\"") + ">" +
         std::to_string(t.token_id_b) + "</td><td>" + std::to_string(t.bit_equal) + " / " + std::to_string(t.n) +
         "</td><td>" + g(t.max_abs) + "</td><td>" + std::to_string(t.max_abs_at) + "</td><td>" + g(t.mean_abs) +
         "</td><td>" + g(t.max_rel) + "</td><td>" + g(t.rms) + "</td><td>" + g(t.cosine, 9) + "</td><td>" + g(t.kl_pq) +
         "</td><td>" + g(t.kl_qp) + "</td><td>" + (t.top1_agree ? "yes" : "<b>no</b>") + "</td><td>" +
         std::to_string(t.top5_overlap) + "/5</td></tr>";
  }
  h += "</table>";
  if (r.tokens.size() > 512) h += "<p class=\"note\">First 512 positions; all are in the --json report.</p>";
  h += "<p class=\"note\">Generated by greta_compare. Self-contained: no scripts, no external assets.</p></body></html>\n";
  return h;
}

}  // namespace greta::compare
