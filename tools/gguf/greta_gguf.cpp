// greta_gguf: inspect GGUF files and write synthetic models of every architecture greta runs.
//
//   greta_gguf info FILE
//   greta_gguf synth [--arch llama|qwen2|qwen3|phi3] (--preset NAME | --shape dim,layers,heads,kv_heads,ffn,vocab)
//                    [--head-dim N] --type T [--output-type T] [--vocab-from VOCAB.gguf] [--seed N]
//                    [--threads N] --out FILE

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include "greta/app/dump_metadata.h"
#include "greta/app/infer_options.h"
#include "greta/app/tool_cli.h"
#include "greta/core/error.h"
#include "greta/gguf/gguf_file.h"
#include "greta/gguf/gguf_info.h"
#include "greta/synth/synth_llama.h"

namespace {

greta::TensorType parse_type(const std::string& name, const char* flag) {
  const auto t = greta::tensor_type_from_name(name);
  if (!t || !greta::tensor_type_info(*t).is_storage_type) {
    greta::fail(std::string(flag) + " '" + name +
                    "' is not a supported type (expected f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_K, q3_K, "
                    "q4_K, q5_K or q6_K)",
                greta::kExitUsage);
  }
  return *t;
}

int run(int argc, char** argv) {
  CLI::App app{"Inspect GGUF files and write synthetic models (llama, qwen2, qwen3, phi3).", "greta_gguf"};
  app.require_subcommand(1);

  std::string info_file;
  int max_elems = 6;
  CLI::App* info = app.add_subcommand("info", "Print a GGUF file's header, metadata and tensor table");
  info->add_option("file", info_file, "GGUF file")->required();
  info->add_option("--max-elems", max_elems, "Array elements shown per key")->check(CLI::NonNegativeNumber);

  std::string arch = "llama", preset, shape, type = "q8_0", output_type, vocab_from, out;
  uint64_t seed = 0;
  int threads = 0;
  int64_t context = 0, head_dim = 0;
  CLI::App* synth = app.add_subcommand("synth", "Write a synthetic model with deterministic weights");
  synth->add_option("--arch", arch, "Architecture: " + greta::synth_arch_names())->capture_default_str();
  auto* preset_opt = synth->add_option("--preset", preset, "tiny, tinyllama-1.1b or llama-7b");
  auto* shape_opt = synth->add_option("--shape", shape, "dim,layers,heads,kv_heads,ffn,vocab");
  preset_opt->excludes(shape_opt);
  synth->add_option("--head-dim", head_dim,
                    "attention.key_length (qwen3 only, where it may differ from dim / heads; default dim / heads)")
      ->check(CLI::PositiveNumber);
  synth->add_option("--type", type, "Weight type (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_K..q6_K)")
      ->capture_default_str();
  synth->add_option("--output-type", output_type, "Type of output.weight (default: --type)");
  synth->add_option("--vocab-from", vocab_from, "Copy the tokenizer.* keys (and vocab size) from this GGUF");
  synth->add_option("--seed", seed, "PRNG seed")->capture_default_str();
  synth->add_option("--context", context, "<arch>.context_length (default: the preset's, else 2048)")
      ->check(CLI::PositiveNumber);
  synth->add_option("--threads", threads, "Threads (0: all cores)")->check(CLI::Range(0, 1024));
  synth->add_option("--out", out, "Output file")->required();

  app.set_version_flag("--version", greta::version_text("greta_gguf"), "print the version and exit");
  if (std::optional<std::string> text = greta::cli_parse(app, std::vector<std::string>(argv, argv + argc), "greta_gguf")) {
    std::fputs(text->c_str(), stdout);
    return 0;
  }

  if (*info) {
    auto f = greta::gguf::GgufFile::open(info_file);
    greta::gguf::print_info(*f, std::cout, max_elems);
    return 0;
  }

  greta::SynthOptions o;
  o.type = parse_type(type, "--type");
  if (!output_type.empty()) o.output_type = parse_type(output_type, "--output-type");
  if (preset.empty() == shape.empty()) greta::fail("synth: give exactly one of --preset or --shape", greta::kExitUsage);
  if (!preset.empty()) {
    o.preset = preset;
    o.shape = greta::synth_preset(preset, o.type, o.output_type);
  } else {
    o.shape = greta::synth_parse_shape(shape);
  }
  if (context > 0) o.shape.context = context;
  o.shape.head_dim = head_dim;
  o.arch = arch;
  o.vocab_from = vocab_from;
  o.seed = seed;
  o.n_threads = threads;
  o.out = out;
  const auto t0 = std::chrono::steady_clock::now();
  greta::synth_llama(o);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "greta_gguf: wrote %s in %.2f s\n", out.c_str(), s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return greta::guarded_main("greta_gguf", [&] { return run(argc, argv); });
}
