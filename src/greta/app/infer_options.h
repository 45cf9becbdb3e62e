#pragma once
// greta_infer's option model. The flag table is defined once (with CLI11, in infer_options.cpp):
// --help, parsing and the options recorded in a dump's metadata all come from it. Every value is
// validated here, before any model is loaded; a malformed flag or environment variable throws
// greta::Error with exit status 2 (kExitUsage) and a one-line message naming the flag or variable
// and the accepted values. docs/CLI.md documents every flag.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "greta/runtime/sampler.h"
#include "greta/runtime/session.h"

namespace CLI { class App; }

namespace greta {

// Runs a CLI11 flag table on args (args[0] is the program name; `program` when args is empty).
// Returns the help text for --help, nullopt after a parse; a parse error throws greta::Error
// (kExitUsage) "<CLI11's message> (see --help)".
std::optional<std::string> cli_parse(CLI::App& app, const std::vector<std::string>& args, const char* program);

enum class GenMode { Prefill, Decode };
const char* gen_mode_name(GenMode m);  // "prefill", "decode"

// Token indices [start, start + count) of the full sequence whose logits are dumped.
struct DumpSpan {
  int64_t start = 0;
  int64_t count = 0;
};

inline constexpr const char* kDefaultModelPath = "models/stories260K.gguf";
inline constexpr int32_t kDefaultMaxTokens = 128;
inline constexpr int32_t kFinishWordTokens = 16;
inline constexpr int kMaxThreads = 256;

struct InferOptions {
  std::string model_path = kDefaultModelPath;
  bool model_given = false;        // false: the default, searched for (resolve_model_path)
  std::string prompt;              // -p (empty: BOS only)
  std::string prompt_file;         // -f (empty: none); exclusive with -p
  // --prompt-tokens: the whole prompt as token ids (no BOS added); exclusive with -p and -f.
  // Checked against the vocabulary once the model is loaded.
  std::optional<std::vector<int32_t>> prompt_tokens;
  int32_t max_tokens = kDefaultMaxTokens;  // -1: until end of text or a full context
  // -n not given: past max_tokens, the word being written is finished (at most kFinishWordTokens
  // more tokens, none when dumping), so the default run never stops mid-word.
  bool finish_word = false;
  int n_threads = 1;               // default: hardware threads, clamped to [1, kMaxThreads]
  uint64_t seed = 0;
  std::string seed_source;         // "flag", "env" (GRETA_SEED) or "random"
  int32_t ctx_size = 0;            // 0: the model's, capped at 4096
  SamplerParams sampling;
  KvDtype dtype = KvDtype::BF16;
  bool ignore_eos = false;
  bool display_prompt = true;      // echo the -p/-f text on stdout first (--no-display-prompt: off)
  bool kv_aligned = kDefaultKvAligned;
  std::string kv_aligned_source;   // "flag", "env" (GRETA_KV_ALIGNED) or "default"
  GenMode mode = GenMode::Prefill;
  bool f32_activations = false;    // --activations f32 (default q8: the fast int8 path)
  std::string backend = "cpu";    // a registered session backend: cpu, cuda (CUDA builds)
  std::string dump_dir;            // empty: no dump
  std::optional<DumpSpan> dump_span;  // unset: {prompt_len, 1}
};

// Looks up an environment variable; nullopt when unset. Tests pass a fake.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup process_env();

struct ParseResult {
  InferOptions options;
  bool exit_now = false;  // --help / --version: print `text` to stdout and exit 0
  std::string text;
  std::vector<std::string> notes;  // llama.cpp flags accepted with a note (print_notes)
};

// Parses argv (args[0] is the program name) and the environment. Throws greta::Error(kExitUsage)
// on any malformed flag or env var. When no seed is given, one is drawn from std::random_device.
ParseResult parse_infer_options(const std::vector<std::string>& args, const EnvLookup& env);

// The long names of every flag in the table ("model", "kv-aligned", ...), help and version
// included, in table order.
std::vector<std::string> infer_option_names();

// The effective value of every flag (help and version excluded), keyed by its long name: what a
// dump records, so the metadata cannot drift from the flag table.
nlohmann::json infer_options_to_json(const InferOptions& o);

// Strict parsers used for flags and env vars (exposed for tests). `what` names the flag or
// variable in the error message.
uint64_t parse_seed_value(const std::string& text, const std::string& what);
bool parse_kv_aligned_value(const std::string& text, const std::string& what);
DumpSpan parse_dump_span(const std::string& text);
// --prompt-tokens: decimal ids in 0..2147483647 separated by commas and/or whitespace (a comma
// between two ids at most; leading and trailing whitespace allowed), at least one id.
std::vector<int32_t> parse_prompt_tokens(const std::string& text);
// Throws greta::Error(kExitUsage) naming the first id >= n_vocab and the vocabulary size.
void check_prompt_tokens(const std::vector<int32_t>& ids, int32_t n_vocab);
// Strict decimal integer in [lo, hi] / finite decimal float in [lo, hi]; `what` names the flag.
int64_t parse_int_value(const std::string& text, const std::string& what, int64_t lo, int64_t hi);
float parse_float_value(const std::string& text, const std::string& what, float lo, float hi);
// The shortest decimal that reads back to the same float, as a JSON number (0.8f -> 0.8).
nlohmann::json float_to_json(float v);
// --temp, --top-k, --top-p, --min-p and --dtype values, checked.
SamplerParams parse_sampling_values(const std::string& temp, const std::string& top_k, const std::string& top_p,
                                    const std::string& min_p);
KvDtype parse_kv_dtype_value(const std::string& text, const std::string& what);
// --kv-aligned / GRETA_KV_ALIGNED / the default, and --seed / GRETA_SEED / random: the flag wins
// (the variable is then not read), an empty variable counts as unset, a malformed one is an
// error naming it. source: "flag", "env", "default" or "random".
void resolve_kv_aligned(bool flag_given, const std::string& flag, const EnvLookup& env, bool& value,
                        std::string& source);
void resolve_seed(bool flag_given, const std::string& flag, const EnvLookup& env, uint64_t& value,
                  std::string& source);
// The hardware threads, clamped to [1, kMaxThreads]: the default of -t.
int default_thread_count();
// The prompt file's text (UTF-8 checked; as llama.cpp, one trailing newline removed).
std::string read_prompt_file(const std::string& path);

// Byte offset of the first invalid UTF-8 sequence in `s` (strict: no overlongs, surrogates or
// code points past U+10FFFF), or npos if it is all valid.
size_t utf8_first_invalid(const std::string& s);
// `s` with every invalid byte replaced by U+FFFD: user text (paths are bytes on Linux) that must
// go into JSON.
std::string utf8_sanitized(const std::string& s);

// The default model is looked for relative to the current directory, then relative to the
// directories above the running binary (so `greta_infer` works from the repository root and from
// any build directory). An explicit --model is used as given.
std::string resolve_model_path(const InferOptions& o);

}  // namespace greta
