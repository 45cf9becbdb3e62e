// greta_compare: the B3.67 analyzer. Compares two logits dumps (SPEC.md, "The guardrail").
//
//   greta_compare A B [--atol X] [--max-kl X] [--strict] [--json FILE] [--html FILE] [--model GGUF]
//   greta_compare --validate DIR [DIR...]
//
// Exit status: 0 equivalent (or valid, with --validate), 1 not equivalent, 2 invalid input
// (a dump that breaks the contract, dumps that cannot be compared, a bad flag, an unwritable
// report file).

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "greta/app/infer_options.h"
#include "greta/app/tool_cli.h"
#include "greta/compare/compare_report.h"
#include "greta/compare/compare_stats.h"
#include "greta/core/build_info.h"
#include "greta/core/error.h"
#include "greta/dump/logits_dump.h"
#include "greta/gguf/gguf_file.h"
#include "greta/tokenizer/tokenizer.h"

namespace {

using greta::Error;
using greta::kExitUsage;

void write_file(const std::string& path, const std::string& text, const char* what) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw Error(std::string("cannot write the ") + what + " '" + path + "'", kExitUsage);
  f << text;
  f.close();
  if (!f) throw Error(std::string("writing the ") + what + " '" + path + "' failed", kExitUsage);
}

// Printable text of a token piece: control bytes and invalid UTF-8 as \xNN.
std::string printable(const std::string& s) {
  std::string o;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok && len == 1 && (c < 0x20 || c == 0x7f)) ok = false;
    if (ok) {
      o.append(s, i, len);
      i += len;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02X", c);
      o += buf;
      ++i;
    }
  }
  return o;
}

// Token texts from a GGUF vocabulary, for the HTML report. Best effort: a missing or unreadable
// model only costs the texts (a note on stderr), never the comparison.
struct Vocab {
  std::unique_ptr<greta::gguf::GgufFile> file;
  std::unique_ptr<greta::Tokenizer> tok;
  int64_t n = 0;
};

std::unique_ptr<Vocab> load_vocab(const std::string& path, bool explicit_flag) {
  try {
    auto v = std::make_unique<Vocab>();
    v->file = greta::gguf::GgufFile::open(path);
    v->tok = greta::Tokenizer::from_gguf(*v->file);
    v->n = v->tok->vocab_size();
    return v;
  } catch (const Error& e) {
    if (explicit_flag) throw Error(std::string("--model: ") + e.what(), kExitUsage);
    std::fprintf(stderr, "greta_compare: note: no token texts (%s)\n", e.what());
    return nullptr;
  }
}

// The positional dumps are "[A B]" in the usage line (CLI11 would print "[dumps(0x)]").
class CompareFormatter : public CLI::Formatter {
 public:
  std::string make_option_usage(const CLI::Option* opt) const override {
    if (opt->get_name() == "dumps") return "[A B]";
    return CLI::Formatter::make_option_usage(opt);
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"greta_compare: compare two greta logits dumps (the B3.67 analyzer)", "greta_compare"};
  app.formatter(std::make_shared<CompareFormatter>());
  std::vector<std::string> dirs;
  std::vector<std::string> validate_dirs;
  greta::compare::CompareOptions opt;
  std::string json_path, html_path, model_path;
  int max_rows = 40;
  app.add_option("dumps", dirs, "the two dump directories A and B")->expected(0, 2);
  app.add_option("--validate", validate_dirs, "only validate these dumps against the contract (exit 0 or 2)")
      ->expected(1, -1);
  auto* atol = app.add_option("--atol", opt.atol, "tolerance mode: max |a-b| allowed (default 1e-2)")
                   ->check(CLI::NonNegativeNumber);
  auto* maxkl = app.add_option("--max-kl", opt.max_kl, "tolerance mode: max KL divergence, both ways (default 1e-3)")
                    ->check(CLI::NonNegativeNumber);
  app.add_flag("--strict", opt.strict, "require bit-equality whatever the dumps' kv_aligned");
  app.add_option("--json", json_path, "write the full report as JSON to FILE");
  auto* html = app.add_option("--html", html_path, "write a self-contained HTML report to FILE");
  // Token texts appear only in the HTML report, so --model without --html is a usage error
  // rather than a flag that is silently ignored.
  app.add_option("--model", model_path, "GGUF file whose vocabulary gives token texts in the HTML report (default: A's metadata 'model')")
      ->needs(html);
  app.add_option("--max-rows", max_rows, "per-token rows in the text summary (default 40)")->check(CLI::Range(1, 1000000));
  app.set_version_flag("--version", greta::version_text("greta_compare"), "print the version and exit");
  app.footer(
      "Verdict: strict bit-equality when both dumps have kv_aligned 1 (or --strict); otherwise\n"
      "max |a-b| <= --atol and KL(P||Q), KL(Q||P) <= --max-kl. Giving --atol or --max-kl selects the\n"
      "tolerance mode for kv_aligned 1 dumps too (unless --strict).\n"
      "Exit status: 0 equivalent, 1 not equivalent, 2 invalid input.");
  try {
    if (std::optional<std::string> text =
            greta::cli_parse(app, std::vector<std::string>(argv, argv + argc), "greta_compare")) {
      std::fputs(text->c_str(), stdout);
      return 0;
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "greta_compare: error: %s\n", e.what());
    return kExitUsage;
  }
  opt.atol_given = atol->count() > 0;
  opt.max_kl_given = maxkl->count() > 0;

  try {
    if (!validate_dirs.empty()) {
      if (!dirs.empty()) throw Error("--validate takes the dump directories itself; no A B with it", kExitUsage);
      for (const auto& d : validate_dirs) {
        greta::dump::Dump dump = greta::dump::read_dump(d);
        int64_t nulls = 0;
        for (const auto& r : dump.records) {
          for (bool b : r.is_null) nulls += b ? 1 : 0;
        }
        std::printf("%s: valid dump: %zu token%s x %zu logits, token_span {start %lld, count %lld}, mode %s, "
                    "kv_aligned %d, dtype %s%s\n",
                    d.c_str(), dump.records.size(), dump.records.size() == 1 ? "" : "s",
                    dump.records.empty() ? size_t{0} : dump.records[0].logits.size(),
                    static_cast<long long>(dump.meta.span_start), static_cast<long long>(dump.meta.span_count),
                    dump.meta.mode.c_str(), dump.meta.kv_aligned, dump.meta.dtype.c_str(),
                    nulls ? (", " + std::to_string(nulls) + " null logits").c_str() : "");
      }
      return 0;
    }
    if (dirs.size() != 2) throw Error("expected two dump directories A and B (see --help)", kExitUsage);
    if (opt.strict && (opt.atol_given || opt.max_kl_given)) {
      throw Error("--strict cannot be combined with --atol or --max-kl", kExitUsage);
    }
    greta::dump::Dump a, b;
    try {
      a = greta::dump::read_dump(dirs[0]);
    } catch (const Error& e) {
      greta::rethrow_with_context(e, "A");
    }
    try {
      b = greta::dump::read_dump(dirs[1]);
    } catch (const Error& e) {
      greta::rethrow_with_context(e, "B");
    }
    greta::compare::Report rep = greta::compare::compare_dumps(a, b, opt);
    std::fputs(greta::compare::render_text(rep, static_cast<size_t>(max_rows)).c_str(), stdout);
    std::fflush(stdout);
    if (!json_path.empty()) write_file(json_path, greta::compare::render_json(rep).dump(2) + "\n", "JSON report");
    if (!html_path.empty()) {
      std::unique_ptr<Vocab> vocab;
      if (!model_path.empty()) {
        vocab = load_vocab(model_path, true);
      } else if (a.metadata.contains("model") && a.metadata["model"].is_string() &&
                 std::filesystem::is_regular_file(a.metadata["model"].get<std::string>())) {
        vocab = load_vocab(a.metadata["model"].get<std::string>(), false);
      }
      greta::compare::TokenTextFn text;
      if (vocab) {
        const Vocab* v = vocab.get();
        text = [v](int32_t id) -> std::string {
          if (id < 0 || id >= v->n) return "";
          return printable(v->tok->token_to_piece(id, true));
        };
      }
      write_file(html_path, greta::compare::render_html(rep, text), "HTML report");
    }
    return rep.verdict.exit_code();
  } catch (const Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "greta_compare: error: %s\n", e.what());
    // Every failure here is about the input (dumps, flags, report paths): never 1, which means
    // "not equivalent".
    return e.exit_code() == 0 || e.exit_code() == 1 ? kExitUsage : e.exit_code();
  } catch (const std::bad_alloc&) {
    std::fflush(stdout);
    std::fprintf(stderr, "greta_compare: error: out of memory reading or comparing the dumps\n");
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "greta_compare: error: %s\n", e.what());
    return kExitUsage;
  }
}
