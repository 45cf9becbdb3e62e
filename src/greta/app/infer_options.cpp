#include "greta/app/infer_options.h"

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include <CLI/CLI.hpp>

#include "greta/app/dump_metadata.h"
#include "greta/app/tool_cli.h"
#include "greta/core/build_info.h"
#include "greta/core/error.h"

namespace greta {

namespace {

// User text inside a one-line message: control bytes escaped (\xNN), long values shortened.
std::string printable(const std::string& text) {
  constexpr size_t kMaxShown = 80;
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == kMaxShown) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

[[noreturn]] void usage_error(const std::string& what, const std::string& expected,
                              const std::string& got) {
  fail(what + ": expected " + expected + ", got '" + printable(got) + "'", kExitUsage);
}

// Every flag as text, exactly as given; validated after parsing so that every message has the
// same shape and names the flag.
struct RawOptions {
  std::string model = kDefaultModelPath;
  std::string prompt;
  std::string prompt_file;
  std::string prompt_tokens;
  std::string max_tokens = std::to_string(kDefaultMaxTokens);
  bool no_display_prompt = false;
  std::string threads;
  std::string seed;
  std::string ctx_size = "0";
  std::string temp = "0.8";
  std::string top_k = "40";
  std::string top_p = "0.95";
  std::string min_p = "0.05";
  std::string dtype = "bf16";
  bool ignore_eos = false;
  std::string kv_aligned;
  std::string mode = "prefill";
  std::string backend = "cpu";
  std::string activations = "q8";
  std::string dump_logits;
  std::string dump_span;
  bool version = false;
};

struct FlagTable {
  CLI::App app{"greta_infer: generate text with a GGUF model (see docs/CLI.md)", "greta_infer"};
  CLI::Option* model = nullptr;
  CLI::Option* prompt = nullptr;
  CLI::Option* prompt_file = nullptr;
  CLI::Option* prompt_tokens = nullptr;
  CLI::Option* threads = nullptr;
  CLI::Option* seed = nullptr;
  CLI::Option* kv_aligned = nullptr;
  CLI::Option* dump_logits = nullptr;
  CLI::Option* dump_span = nullptr;
};

// THE flag table. Keep docs/CLI.md in step with it.
void define_flags(FlagTable& t, RawOptions& r) {
  CLI::App& app = t.app;
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.get_formatter()->column_width(34);
  t.model = app.add_option("-m,--model", r.model,
                           "GGUF model file (the default is searched in the current directory, "
                           "then above the binary)")
                ->type_name("FILE")
                ->default_str(kDefaultModelPath);
  t.prompt = app.add_option("-p,--prompt", r.prompt,
                            "prompt text; special-token text such as <s> is parsed as the special "
                            "token; empty: BOS only")
                 ->type_name("TEXT");
  t.prompt_file = app.add_option("-f,--prompt-file", r.prompt_file,
                                 "read the prompt from FILE (UTF-8; one trailing newline removed)")
                      ->type_name("FILE");
  t.prompt_tokens = app.add_option("--prompt-tokens", r.prompt_tokens,
                                   "the prompt as token ids, comma or space separated (as greta_tokenize "
                                   "prints them); no BOS is added; exclusive with -p and -f")
                        ->type_name("IDS");
  app.add_option("-n,--max-tokens", r.max_tokens,
                 "number of tokens to generate (0..1000000; -1: until end of text or a full context)")
      ->type_name("N")
      ->default_str(r.max_tokens);
  t.threads = app.add_option("-t,--threads", r.threads,
                              "CPU threads, 1..256 (default: the hardware threads, here " +
                                  std::to_string(default_thread_count()) + ")")
                  ->type_name("N");
  t.seed = app.add_option("-s,--seed", r.seed,
                          "PRNG seed, unsigned 64-bit (env GRETA_SEED; default: random, printed "
                          "and recorded)")
               ->type_name("N");
  app.add_option("-c,--ctx-size", r.ctx_size,
                 "context size in tokens (0 = the model's, capped at 4096)")
      ->type_name("N")
      ->default_str(r.ctx_size);
  app.add_option("--temp", r.temp, "sampling temperature, 0 = greedy (0..100)")
      ->type_name("F")
      ->default_str(r.temp);
  app.add_option("--top-k", r.top_k, "top-k sampling, 0 = disabled")
      ->type_name("N")
      ->default_str(r.top_k);
  app.add_option("--top-p", r.top_p, "top-p (nucleus) sampling, 1 = disabled (0..1)")
      ->type_name("F")
      ->default_str(r.top_p);
  app.add_option("--min-p", r.min_p, "min-p sampling, 0 = disabled (0..1)")
      ->type_name("F")
      ->default_str(r.min_p);
  app.add_option("--dtype", r.dtype, "KV-cache / activation storage type: f32, f16 or bf16")
      ->type_name("TYPE")
      ->default_str(r.dtype);
  app.add_flag("--ignore-eos", r.ignore_eos, "keep generating after end-of-generation tokens");
  app.add_flag("--no-display-prompt", r.no_display_prompt, "do not echo the prompt on stdout before the text");
  app.add_option("--activations", r.activations,
                 "matmul activations for Q8_0/Q4_0/Q4_K/Q6_K weights: q8 (8-bit, fast, as ggml) or f32 (exact)")
      ->type_name("q8|f32")
      ->default_str(r.activations);
  app.add_option("--backend", r.backend, "where the forward pass runs: cpu, or cuda in CUDA builds")
      ->type_name("NAME")
      ->default_str(r.backend);
  t.kv_aligned = app.add_option("--kv-aligned", r.kv_aligned,
                                "1: prefill == decode bit-exact mode (env GRETA_KV_ALIGNED)")
                     ->type_name("0|1")
                     ->default_str("0");
  app.add_option("--mode", r.mode,
                 "prefill: whole prompt in one batch; decode: last prompt token through the "
                 "single-token path")
      ->type_name("MODE")
      ->default_str(r.mode);
  t.dump_logits = app.add_option("--dump-logits", r.dump_logits,
                 "write metadata.json and logits.jsonl.gz to DIR (created if missing)")
      ->type_name("DIR");
  t.dump_span = app.add_option("--dump-span", r.dump_span,
                               "token indices to dump (default: prompt_len:1)")
                    ->type_name("START:COUNT");
  app.add_flag("--version", r.version, "print the version and exit");
}

std::string version_text() {
  return std::string("greta_infer ") + build::kVersion + " (" + build::kGitBranch + "@" +
         build::kGitCommit + ")\n";
}

}  // namespace

int default_thread_count() {
  const unsigned hw = std::thread::hardware_concurrency();
  if (hw == 0) return 1;
  return static_cast<int>(std::min<unsigned>(hw, kMaxThreads));
}

// Strict decimal integer: optional '-', digits only, the whole string, in [lo, hi].
int64_t parse_int_value(const std::string& text, const std::string& what, int64_t lo, int64_t hi) {
  const std::string expected = "an integer in " + std::to_string(lo) + ".." + std::to_string(hi);
  int64_t v = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end || v < lo || v > hi) {
    usage_error(what, expected, text);
  }
  return v;
}

// Strict finite decimal float in [lo, hi].
float parse_float_value(const std::string& text, const std::string& what, float lo, float hi) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "a number in [%g, %g]", lo, hi);
  float v = 0.0f;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v, std::chars_format::general);
  if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(v) || v < lo || v > hi) {
    usage_error(what, buf, text);
  }
  return v;
}

// The shortest decimal that reads back to the same float, as a JSON number (0.8f -> 0.8).
nlohmann::json float_to_json(float v) {
  char buf[32];
  const auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  GRETA_ASSERT(ec == std::errc());
  return std::strtod(std::string(buf, ptr).c_str(), nullptr);
}

SamplerParams parse_sampling_values(const std::string& temp, const std::string& top_k, const std::string& top_p,
                                    const std::string& min_p) {
  SamplerParams p;
  p.temp = parse_float_value(temp, "--temp", 0.0f, 100.0f);
  p.top_k = static_cast<int32_t>(parse_int_value(top_k, "--top-k", 0, 1 << 30));
  p.top_p = parse_float_value(top_p, "--top-p", 0.0f, 1.0f);
  p.min_p = parse_float_value(min_p, "--min-p", 0.0f, 1.0f);
  return p;
}

KvDtype parse_kv_dtype_value(const std::string& text, const std::string& what) {
  if (text == "f32") return KvDtype::F32;
  if (text == "f16") return KvDtype::F16;
  if (text == "bf16") return KvDtype::BF16;
  usage_error(what, "f32, f16 or bf16", text);
}

namespace {
// The flag wins (the variable is then not read at all); an empty variable counts as unset; a
// malformed one is an error naming it.
std::optional<std::string> env_value(const EnvLookup& env, const char* name) {
  std::optional<std::string> v = env(name);
  if (v && v->empty()) return std::nullopt;
  return v;
}
}  // namespace

void resolve_kv_aligned(bool flag_given, const std::string& flag, const EnvLookup& env, bool& value,
                        std::string& source) {
  if (flag_given) {
    value = parse_kv_aligned_value(flag, "--kv-aligned");
    source = "flag";
  } else if (const auto v = env_value(env, "GRETA_KV_ALIGNED")) {
    value = parse_kv_aligned_value(*v, "GRETA_KV_ALIGNED");
    source = "env";
  } else {
    value = kDefaultKvAligned;
    source = "default";
  }
}

void resolve_seed(bool flag_given, const std::string& flag, const EnvLookup& env, uint64_t& value,
                  std::string& source) {
  if (flag_given) {
    value = parse_seed_value(flag, "--seed");
    source = "flag";
  } else if (const auto v = env_value(env, "GRETA_SEED")) {
    value = parse_seed_value(*v, "GRETA_SEED");
    source = "env";
  } else {
    std::random_device rd;
    value = (static_cast<uint64_t>(rd()) << 32) | static_cast<uint64_t>(rd());
    source = "random";
  }
}

const char* gen_mode_name(GenMode m) { return m == GenMode::Decode ? "decode" : "prefill"; }

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

uint64_t parse_seed_value(const std::string& text, const std::string& what) {
  const char* expected = "an unsigned 64-bit decimal integer (0..18446744073709551615)";
  uint64_t v = 0;
  const char* end = text.data() + text.size();
  // from_chars for unsigned rejects '-' and '+', and reports overflow as out of range.
  const auto [ptr, ec] = std::from_chars(text.data(), end, v, 10);
  if (text.empty() || ec != std::errc() || ptr != end) usage_error(what, expected, text);
  return v;
}

bool parse_kv_aligned_value(const std::string& text, const std::string& what) {
  if (text == "0") return false;
  if (text == "1") return true;
  usage_error(what, "0 or 1", text);
}

DumpSpan parse_dump_span(const std::string& text) {
  const char* expected = "START:COUNT, two decimal integers with START >= 1 and COUNT >= 1";
  const size_t colon = text.find(':');
  if (colon == std::string::npos) usage_error("--dump-span", expected, text);
  const std::string a = text.substr(0, colon), b = text.substr(colon + 1);
  int64_t start = 0, count = 0;
  const auto pa = std::from_chars(a.data(), a.data() + a.size(), start);
  const auto pb = std::from_chars(b.data(), b.data() + b.size(), count);
  if (a.empty() || b.empty() || pa.ec != std::errc() || pa.ptr != a.data() + a.size() ||
      pb.ec != std::errc() || pb.ptr != b.data() + b.size() || start < 1 || count < 1 ||
      start > (int64_t{1} << 40) || count > (int64_t{1} << 40)) {
    usage_error("--dump-span", expected, text);
  }
  return {start, count};
}

std::vector<std::string> infer_option_names() {
  FlagTable t;
  RawOptions r;
  define_flags(t, r);
  std::vector<std::string> names;
  for (const CLI::Option* opt : t.app.get_options()) {
    for (const std::string& n : opt->get_lnames()) names.push_back(n);
  }
  return names;
}

std::optional<std::string> cli_parse(CLI::App& app, const std::vector<std::string>& args, const char* program) {
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  if (argv.empty()) argv.push_back(program);
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp&) {
    return app.help();
  } catch (const CLI::CallForVersion& e) {  // set_version_flag: the text is version_text()'s
    return std::string(e.what());
  } catch (const CLI::ParseError& e) {
    fail(printable(e.what()) + " (see --help)", kExitUsage);
  }
  return std::nullopt;
}

ParseResult parse_infer_options(const std::vector<std::string>& args, const EnvLookup& env) {
  FlagTable t;
  RawOptions r;
  define_flags(t, r);

  // llama.cpp's flags (-ngl, -fa, -cnv, ...) translated, or rejected naming the flag.
  const Habits habits = llama_habits(args, HabitTool::Infer, option_takes_value(t.app));
  std::vector<const char*> argv;
  for (const std::string& a : habits.args) argv.push_back(a.c_str());
  if (argv.empty()) argv.push_back("greta_infer");
  ParseResult result;
  result.notes = habits.notes;
  try {
    t.app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp&) {
    result.exit_now = true;
    result.text = t.app.help();
    return result;
  } catch (const CLI::ParseError& e) {
    fail(printable(e.what()) + " (see --help)", kExitUsage);
  }
  if (r.version) {
    result.exit_now = true;
    result.text = version_text();
    return result;
  }

  InferOptions& o = result.options;
  o.model_path = r.model;
  o.model_given = t.model->count() > 0;
  if (o.model_path.empty()) usage_error("--model", "a file path", r.model);
  if (t.prompt->count() > 0 && t.prompt_file->count() > 0) {
    fail("--prompt and --prompt-file are exclusive: give one of them", kExitUsage);
  }
  if (t.prompt_tokens->count() > 0 && (t.prompt->count() > 0 || t.prompt_file->count() > 0)) {
    fail("--prompt-tokens is exclusive with --prompt and --prompt-file: give one of them", kExitUsage);
  }
  o.prompt = r.prompt;
  o.prompt_file = r.prompt_file;
  if (t.prompt_tokens->count() > 0) o.prompt_tokens = parse_prompt_tokens(r.prompt_tokens);
  if (t.prompt_file->count() > 0 && o.prompt_file.empty()) {
    usage_error("--prompt-file", "a file path", r.prompt_file);
  }
  o.max_tokens = static_cast<int32_t>(parse_int_value(r.max_tokens, "--max-tokens", -1, 1000000));
  o.n_threads = t.threads->count() > 0
                    ? static_cast<int>(parse_int_value(r.threads, "--threads", 1, kMaxThreads))
                    : default_thread_count();
  o.ctx_size = static_cast<int32_t>(parse_int_value(r.ctx_size, "--ctx-size", 0, 1 << 20));
  o.sampling = parse_sampling_values(r.temp, r.top_k, r.top_p, r.min_p);
  o.dtype = parse_kv_dtype_value(r.dtype, "--dtype");
  o.ignore_eos = r.ignore_eos;
  o.finish_word = t.app.get_option("--max-tokens")->count() == 0;
  o.display_prompt = !r.no_display_prompt;
  if (r.backend != "cpu" && r.backend != "cuda") usage_error("--backend", "cpu or cuda", r.backend);
  o.backend = r.backend;
  if (r.activations != "q8" && r.activations != "f32") usage_error("--activations", "q8 or f32", r.activations);
  o.f32_activations = r.activations == "f32";
  if (r.mode == "prefill") {
    o.mode = GenMode::Prefill;
  } else if (r.mode == "decode") {
    o.mode = GenMode::Decode;
  } else {
    usage_error("--mode", "prefill or decode", r.mode);
  }
  o.dump_dir = r.dump_logits;
  if (t.dump_span->count() > 0) {
    o.dump_span = parse_dump_span(r.dump_span);
    if (o.dump_dir.empty()) fail("--dump-span needs --dump-logits DIR", kExitUsage);
  }
  if (t.dump_logits->count() > 0 && o.dump_dir.empty()) {
    usage_error("--dump-logits", "a directory path", r.dump_logits);
  }

  resolve_kv_aligned(t.kv_aligned->count() > 0, r.kv_aligned, env, o.kv_aligned, o.kv_aligned_source);
  resolve_seed(t.seed->count() > 0, r.seed, env, o.seed, o.seed_source);
  return result;
}

std::vector<int32_t> parse_prompt_tokens(const std::string& text) {
  const std::string expected = "token ids (decimal, 0..2147483647) separated by commas or spaces";
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  std::vector<int32_t> ids;
  size_t i = 0;
  const size_t n = text.size();
  while (i < n && space(text[i])) ++i;
  while (i < n) {
    // One id.
    const size_t start = i;
    uint64_t v = 0;
    while (i < n && text[i] >= '0' && text[i] <= '9') {
      v = v * 10 + static_cast<uint64_t>(text[i] - '0');
      if (v > 2147483647u) usage_error("--prompt-tokens", expected, text);
      ++i;
    }
    if (i == start) usage_error("--prompt-tokens", expected, text);
    ids.push_back(static_cast<int32_t>(v));
    // A separator: whitespace, at most one comma, whitespace; or the end.
    bool comma = false;
    const size_t sep = i;
    while (i < n && (space(text[i]) || text[i] == ',')) {
      if (text[i] == ',') {
        if (comma) usage_error("--prompt-tokens", expected, text);
        comma = true;
      }
      ++i;
    }
    if (i < n && i == sep) usage_error("--prompt-tokens", expected, text);  // "12x"
    if (i == n && comma) usage_error("--prompt-tokens", expected, text);   // trailing comma
  }
  if (ids.empty()) usage_error("--prompt-tokens", expected, text);
  return ids;
}

void check_prompt_tokens(const std::vector<int32_t>& ids, int32_t n_vocab) {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= n_vocab) {
      fail("--prompt-tokens: token id " + std::to_string(ids[i]) + " (at index " + std::to_string(i) +
               ") is outside the vocabulary of " + std::to_string(n_vocab) + " tokens (ids 0.." +
               std::to_string(n_vocab - 1) + ")",
           kExitUsage);
    }
  }
}

size_t utf8_first_invalid(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3, cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4, cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are invalid.
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return i;
    }
    i += len;
  }
  return std::string::npos;
}

std::string utf8_sanitized(const std::string& s) {
  std::string out;
  size_t pos = 0;
  while (pos < s.size()) {
    const std::string rest = s.substr(pos);
    const size_t bad = utf8_first_invalid(rest);
    if (bad == std::string::npos) {
      out += rest;
      break;
    }
    out += rest.substr(0, bad);
    out += "\xEF\xBF\xBD";  // U+FFFD
    pos += bad + 1;
  }
  return out;
}

nlohmann::json infer_options_to_json(const InferOptions& o) {
  nlohmann::json j = nlohmann::json::object();
  j["model"] = utf8_sanitized(o.model_path);
  j["prompt"] = utf8_sanitized(o.prompt);
  j["prompt-file"] = utf8_sanitized(o.prompt_file);
  if (o.prompt_tokens) {
    j["prompt-tokens"] = *o.prompt_tokens;
  } else {
    j["prompt-tokens"] = nullptr;
  }
  j["max-tokens"] = o.max_tokens;
  j["threads"] = o.n_threads;
  j["seed"] = o.seed;
  j["ctx-size"] = o.ctx_size;
  sampling_options_json(j, o.sampling);
  j["dtype"] = o.dtype == KvDtype::F32 ? "f32" : o.dtype == KvDtype::F16 ? "f16" : "bf16";
  j["ignore-eos"] = o.ignore_eos;
  j["no-display-prompt"] = !o.display_prompt;
  j["kv-aligned"] = o.kv_aligned ? 1 : 0;
  j["mode"] = gen_mode_name(o.mode);
  j["activations"] = o.f32_activations ? "f32" : "q8";
  j["backend"] = o.backend;
  j["dump-logits"] = utf8_sanitized(o.dump_dir);
  j["dump-span"] = o.dump_span ? nlohmann::json(std::to_string(o.dump_span->start) + ":" +
                                                std::to_string(o.dump_span->count))
                               : nlohmann::json(nullptr);
  return j;
}

std::string resolve_model_path(const InferOptions& o) {
  namespace fs = std::filesystem;
  if (o.model_given) return o.model_path;
  std::error_code ec;
  if (fs::exists(o.model_path, ec)) return o.model_path;
  // Walk up from the binary's directory: build-*/greta_infer and tools/inference/build/greta_infer
  // both sit below the repository root that holds models/.
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path dir = exe.parent_path();
    for (int up = 0; up < 5 && !dir.empty(); ++up) {
      const fs::path candidate = dir / o.model_path;
      if (fs::exists(candidate, ec)) return candidate.string();
      if (dir == dir.parent_path()) break;
      dir = dir.parent_path();
    }
  }
  return o.model_path;  // not found: loading reports the path the user would expect
}

}  // namespace greta
