// libFuzzer target: greta_infer's option parser (flags and environment variables).
//
// Input layout: NUL-separated words. A word starting with '\x01' is an environment entry
// "NAME=VALUE" (GRETA_SEED, GRETA_KV_ALIGNED, ...), the others are argv[1..]. Parsing must either
// succeed with every value inside its documented range, or throw greta::Error with exit status 2
// (usage); the metadata serialisation of a parsed result must not throw. The strict value parsers
// are fed the first word too.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "greta/core/error.h"
#include "greta/app/infer_options.h"

namespace {
volatile size_t g_sink = 0;

template <typename F>
void expect_usage_error_or_ok(F&& f) {
  try {
    f();
  } catch (const greta::Error& e) {
    if (e.exit_code() != greta::kExitUsage) __builtin_trap();
    if (std::string_view(e.what()).find('\n') != std::string_view::npos) __builtin_trap();  // one line
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> args{"greta_infer"};
  std::map<std::string, std::string> env;
  size_t pos = 0;
  while (pos <= in.size() && args.size() < 64) {
    const size_t nul = in.find('\0', pos);
    std::string word(in.substr(pos, nul == std::string_view::npos ? std::string_view::npos : nul - pos));
    if (!word.empty() && word[0] == '\x01') {
      const size_t eq = word.find('=');
      if (eq != std::string::npos) env[word.substr(1, eq - 1)] = word.substr(eq + 1);
    } else {
      args.push_back(std::move(word));
    }
    if (nul == std::string_view::npos) break;
    pos = nul + 1;
  }
  const greta::EnvLookup lookup = [&env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };

  expect_usage_error_or_ok([&] {
    greta::ParseResult r = greta::parse_infer_options(args, lookup);
    if (r.exit_now) {
      g_sink += r.text.size();
      return;
    }
    const greta::InferOptions& o = r.options;
    if (o.n_threads < 1 || o.n_threads > greta::kMaxThreads) __builtin_trap();
    if (o.max_tokens < 0 || o.ctx_size < 0) __builtin_trap();
    if (o.dump_span && (o.dump_span->start < 0 || o.dump_span->count < 1)) __builtin_trap();
    g_sink += greta::infer_options_to_json(o).dump().size();
  });
  if (args.size() > 1) {
    const std::string& w = args[1];
    expect_usage_error_or_ok([&] { g_sink += greta::parse_seed_value(w, "--seed"); });
    expect_usage_error_or_ok([&] { g_sink += greta::parse_kv_aligned_value(w, "--kv-aligned"); });
    expect_usage_error_or_ok([&] {
      const greta::DumpSpan s = greta::parse_dump_span(w);
      if (s.start < 0 || s.count < 1) __builtin_trap();
    });
  }
  return 0;
}
