#pragma once
// greta_batched: many prompts, one per line of a file, generated together with continuous
// batching (at most --parallel at once) over one context. Each completion is printed prefixed
// by its index; per-sequence and aggregate speed go to stderr; --dump-logits writes one dump per
// sequence in DIR/seq-<index>/ in greta_infer's dump format. docs/CLI.md describes the flags.

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "greta/app/infer_options.h"

namespace greta {

struct BatchedOptions {
  std::string model_path = kDefaultModelPath;
  bool model_given = false;
  std::string prompts_file;        // -f: one prompt per non-empty line
  int32_t max_tokens = kDefaultMaxTokens;
  bool ignore_eos = false;
  int32_t parallel = 4;            // sequences running at once
  uint64_t seed = 0;
  std::string seed_source;         // "flag", "env" or "random"
  SamplerParams sampling;
  KvDtype dtype = KvDtype::BF16;
  bool kv_aligned = kDefaultKvAligned;
  std::string kv_aligned_source;   // "flag", "env" or "default"
  int n_threads = 1;
  int32_t ctx_size = 0;            // positions per sequence; 0: the model's, capped at 4096
  bool f32_activations = false;
  std::string backend = "cpu";
  std::string dump_dir;
  std::optional<DumpSpan> dump_span;
};

struct BatchedParse {
  BatchedOptions options;
  bool exit_now = false;  // --help / --version
  std::string text;
  std::vector<std::string> notes;  // llama.cpp flags accepted with a note (print_notes)
};

// Throws greta::Error(kExitUsage) on a malformed flag or environment variable.
BatchedParse parse_batched_options(const std::vector<std::string>& args, const EnvLookup& env);

// The seed of sequence `index`'s sampler: a function of --seed and the index only, so a
// sequence's text does not depend on --parallel or on the other prompts.
uint64_t sequence_seed(uint64_t seed, int64_t index);

// Runs one greta_batched invocation; returns the exit status (0, 1 when a sequence's dump could
// not be completed, 128 + signal when interrupted).
int run_batched(const BatchedOptions& options, std::FILE* out = stdout, std::FILE* err = stderr);

}  // namespace greta
