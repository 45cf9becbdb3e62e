#include "greta/app/batched.h"

#include <csignal>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>

#include <CLI/CLI.hpp>

#include "greta/app/dump_metadata.h"
#include "greta/app/generate.h"
#include "greta/app/tool_cli.h"
#include "greta/core/build_info.h"
#include "greta/core/error.h"
#include "greta/dump/logits_dump.h"
#include "greta/runtime/backend_registry.h"
#include "greta/runtime/context.h"
#include "greta/runtime/generator.h"

namespace greta {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
double per_second(int64_t n, double ms) { return ms > 0.0 ? n * 1000.0 / ms : 0.0; }

struct Raw {
  std::string model = kDefaultModelPath, prompts, max_tokens = std::to_string(kDefaultMaxTokens), parallel = "4";
  std::string seed, temp = "0.8", top_k = "40", top_p = "0.95", min_p = "0.05", dtype = "bf16", kv_aligned;
  std::string threads, ctx_size = "0", activations = "q8", backend = "cpu", dump_logits, dump_span;
  bool ignore_eos = false, version = false;
};

// Non-empty lines of the prompts file (a trailing '\r' is dropped: files written on Windows).
std::vector<std::string> read_prompt_lines(const std::string& path) {
  const std::string text = read_prompt_file(path);
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(std::move(line));
    start = end + 1;
  }
  return lines;
}

nlohmann::json options_json(const BatchedOptions& o) {
  nlohmann::json j = nlohmann::json::object();
  j["model"] = utf8_sanitized(o.model_path);
  j["prompt-file"] = utf8_sanitized(o.prompts_file);
  j["max-tokens"] = o.max_tokens;
  j["parallel"] = o.parallel;
  j["threads"] = o.n_threads;
  j["seed"] = o.seed;
  j["ctx-size"] = o.ctx_size;
  sampling_options_json(j, o.sampling);
  j["dtype"] = kv_type_name(o.dtype);
  j["ignore-eos"] = o.ignore_eos;
  j["kv-aligned"] = o.kv_aligned ? 1 : 0;
  j["activations"] = o.f32_activations ? "f32" : "q8";
  j["backend"] = o.backend;
  j["dump-logits"] = utf8_sanitized(o.dump_dir);
  j["dump-span"] = o.dump_span ? nlohmann::json(std::to_string(o.dump_span->start) + ":" +
                                                std::to_string(o.dump_span->count))
                               : nlohmann::json(nullptr);
  return j;
}

}  // namespace

uint64_t sequence_seed(uint64_t seed, int64_t index) {
  // splitmix64 of (seed, index): a fixed function, the same on every platform.
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(index + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

BatchedParse parse_batched_options(const std::vector<std::string>& args, const EnvLookup& env) {
  Raw r;
  CLI::App app{"greta_batched: generate from many prompts at once with continuous batching (see docs/CLI.md)",
               "greta_batched"};
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.get_formatter()->column_width(34);
  CLI::Option* model = app.add_option("-m,--model", r.model, "GGUF model file")->type_name("FILE")->default_str(r.model);
  app.add_option("-f,--prompt-file", r.prompts, "prompts, one per non-empty line (UTF-8)")->type_name("FILE")->required();
  app.add_option("-n,--max-tokens", r.max_tokens, "tokens to generate per sequence (0..1000000)")
      ->type_name("N")->default_str(r.max_tokens);
  app.add_flag("--ignore-eos", r.ignore_eos, "keep generating after end-of-generation tokens");
  app.add_option("--parallel", r.parallel, "sequences running at once (1..256)")->type_name("P")->default_str(r.parallel);
  CLI::Option* seed = app.add_option("-s,--seed", r.seed,
                                     "PRNG seed; sequence i samples with a seed made from it and i only "
                                     "(env GRETA_SEED; default: random)")->type_name("N");
  app.add_option("--temp", r.temp, "sampling temperature, 0 = greedy (0..100)")->type_name("F")->default_str(r.temp);
  app.add_option("--top-k", r.top_k, "top-k sampling, 0 = disabled")->type_name("N")->default_str(r.top_k);
  app.add_option("--top-p", r.top_p, "top-p (nucleus) sampling, 1 = disabled (0..1)")->type_name("F")->default_str(r.top_p);
  app.add_option("--min-p", r.min_p, "min-p sampling, 0 = disabled (0..1)")->type_name("F")->default_str(r.min_p);
  app.add_option("--dtype", r.dtype, "KV-cache storage type: f32, f16 or bf16")->type_name("TYPE")->default_str(r.dtype);
  CLI::Option* kv = app.add_option("--kv-aligned", r.kv_aligned,
                                   "1: bit-exact mode (prefill == decode, batch invariance; env GRETA_KV_ALIGNED)")
                        ->type_name("0|1")->default_str(kDefaultKvAligned ? "1" : "0");
  CLI::Option* threads = app.add_option("-t,--threads", r.threads, "CPU threads, 1..256 (default: the hardware threads)")
                             ->type_name("N");
  app.add_option("-c,--ctx-size", r.ctx_size, "context positions per sequence (0 = the model's, capped at 4096)")
      ->type_name("N")->default_str(r.ctx_size);
  app.add_option("--activations", r.activations, "matmul activations: q8 (8-bit, fast, as ggml) or f32 (exact)")
      ->type_name("q8|f32")->default_str(r.activations);
  app.add_option("--backend", r.backend, "where the forward pass runs: cpu, or cuda in CUDA builds")
      ->type_name("NAME")->default_str(r.backend);
  CLI::Option* dump = app.add_option("--dump-logits", r.dump_logits,
                                     "write one dump per sequence to DIR/seq-<index>/ (greta_infer's format)")
                          ->type_name("DIR");
  CLI::Option* span = app.add_option("--dump-span", r.dump_span, "token indices to dump (default: prompt_len:1)")
                          ->type_name("START:COUNT");
  // Handled while parsing, before the required -f is asked for.
  app.set_version_flag("--version", version_text("greta_batched"), "print the version and exit");

  // llama.cpp's flags (-ngl, -fa, -np, ...) translated, or rejected naming the flag.
  const Habits habits = llama_habits(args, HabitTool::Batched, option_takes_value(app));
  BatchedParse result;
  result.notes = habits.notes;
  if (std::optional<std::string> text = cli_parse(app, habits.args, "greta_batched")) {
    result.exit_now = true;
    result.text = std::move(*text);
    return result;
  }
  BatchedOptions& o = result.options;
  o.model_path = r.model;
  o.model_given = model->count() > 0;
  o.prompts_file = r.prompts;
  if (o.prompts_file.empty()) fail("--prompt-file: expected a file path, got ''", kExitUsage);
  o.max_tokens = static_cast<int32_t>(parse_int_value(r.max_tokens, "--max-tokens", 0, 1000000));
  o.parallel = static_cast<int32_t>(parse_int_value(r.parallel, "--parallel", 1, 256));
  o.ignore_eos = r.ignore_eos;
  o.sampling = parse_sampling_values(r.temp, r.top_k, r.top_p, r.min_p);
  o.dtype = parse_kv_dtype_value(r.dtype, "--dtype");
  o.n_threads = threads->count() > 0 ? static_cast<int>(parse_int_value(r.threads, "--threads", 1, kMaxThreads))
                                     : default_thread_count();
  o.ctx_size = static_cast<int32_t>(parse_int_value(r.ctx_size, "--ctx-size", 0, 1 << 20));
  if (r.activations != "q8" && r.activations != "f32") {
    fail("--activations: expected q8 or f32, got '" + r.activations + "'", kExitUsage);
  }
  o.f32_activations = r.activations == "f32";
  if (r.backend != "cpu" && r.backend != "cuda") fail("--backend: expected cpu or cuda, got '" + r.backend + "'", kExitUsage);
  o.backend = r.backend;
  o.dump_dir = r.dump_logits;
  if (dump->count() > 0 && o.dump_dir.empty()) fail("--dump-logits: expected a directory path, got ''", kExitUsage);
  if (span->count() > 0) {
    o.dump_span = parse_dump_span(r.dump_span);
    if (o.dump_dir.empty()) fail("--dump-span needs --dump-logits DIR", kExitUsage);
  }
  resolve_kv_aligned(kv->count() > 0, r.kv_aligned, env, o.kv_aligned, o.kv_aligned_source);
  resolve_seed(seed->count() > 0, r.seed, env, o.seed, o.seed_source);
  return result;
}

int run_batched(const BatchedOptions& o, std::FILE* out, std::FILE* err) {
  const std::vector<std::string> prompts = read_prompt_lines(o.prompts_file);
  if (prompts.empty()) fail("prompt file '" + o.prompts_file + "' has no non-empty line", kExitUsage);
  if (find_backend(o.backend) == nullptr) {
    fail("--backend " + o.backend + ": this greta_batched was built without it (configure with -DGRETA_CUDA=ON for cuda)",
         kExitUsage);
  }
  install_stop_signal_handlers();
  namespace fs = std::filesystem;
  if (!o.dump_dir.empty()) {
    std::error_code ec;
    fs::create_directories(o.dump_dir, ec);
    if (ec || !fs::is_directory(o.dump_dir)) {
      fail("--dump-logits: cannot create directory '" + o.dump_dir + "'" + (ec ? ": " + ec.message() : ""));
    }
  }
  if (o.seed_source == "random" && o.sampling.temp > 0.0f) {
    std::fprintf(err, "greta_batched: seed %llu (random; pass --seed %llu to repeat this run)\n",
                 static_cast<unsigned long long>(o.seed), static_cast<unsigned long long>(o.seed));
  }

  InferOptions where;
  where.model_path = o.model_path;
  where.model_given = o.model_given;
  const std::string model_path = resolve_model_path(where);
  const auto t_load = Clock::now();
  const std::unique_ptr<LoadedModel> lm = load_model(model_path);
  const double load_ms = ms_between(t_load, Clock::now());
  const Tokenizer& tok = *lm->tokenizer;

  ContextOptions co;
  co.backend = o.backend;
  co.n_ctx = o.ctx_size;
  co.n_seq_max = o.parallel;
  co.kv_dtype = o.dtype;
  co.kv_aligned = o.kv_aligned;
  co.n_threads = o.n_threads;
  co.f32_activations = o.f32_activations;
  Context ctx(*lm, co);
  const int64_t n_ctx = ctx.n_ctx();
  const int32_t n_vocab = ctx.n_vocab();

  // Every prompt is tokenized and checked before anything runs.
  struct Seq {
    std::vector<TokenId> prompt;
    DumpSpan span;
    std::vector<TokenId> generated;
    Utf8Streamer streamer;
    std::string text;
    std::unique_ptr<dump::DumpWriter> dump;
    Clock::time_point t_start, t_end;
    std::string stop_reason;
    bool failed = false;
  };
  std::vector<Seq> seqs(prompts.size());
  Generator gen(ctx, tok, o.parallel);
  for (size_t i = 0; i < prompts.size(); ++i) {
    Seq& s = seqs[i];
    s.prompt = tok.encode(prompts[i], /*add_special=*/true, /*parse_special=*/true);
    const int64_t n_prompt = static_cast<int64_t>(s.prompt.size());
    const std::string which = "prompt " + std::to_string(i) + " (line " + std::to_string(i + 1) + " of the non-empty lines)";
    if (n_prompt > n_ctx) {
      fail(which + " is " + std::to_string(n_prompt) + " tokens, longer than the context (" + std::to_string(n_ctx) +
           " tokens): raise -c/--ctx-size or shorten it");
    }
    s.span = o.dump_span.value_or(DumpSpan{n_prompt, 1});
    if (!o.dump_dir.empty()) {
      const int64_t last = std::min<int64_t>(n_prompt + o.max_tokens, n_ctx);
      if (s.span.start < 1 || s.span.start + s.span.count - 1 > last) {
        fail("--dump-span " + std::to_string(s.span.start) + ":" + std::to_string(s.span.count) + ": token indices " +
                 std::to_string(s.span.start) + ".." + std::to_string(s.span.start + s.span.count - 1) +
                 " are outside what " + which + " computes (1.." + std::to_string(last) + ")",
             kExitUsage);
      }
    }
    GenerationRequest req;
    req.prompt = s.prompt;
    req.max_tokens = o.max_tokens;
    req.sampling = o.sampling;
    req.seed = sequence_seed(o.seed, static_cast<int64_t>(i));
    req.ignore_eos = o.ignore_eos;
    if (!o.dump_dir.empty()) {
      req.logits_start = s.span.start;
      req.logits_count = s.span.count;
    }
    gen.submit(std::move(req));  // request id == index
  }

  const auto t_run = Clock::now();
  int32_t peak_blocks = 0;
  int exit_code = 0;
  while (!gen.idle()) {
    if (stop_signal_received() != 0) break;
    gen.step([&](const GenerationEvent& e) {
      Seq& s = seqs[static_cast<size_t>(e.request)];
      switch (e.kind) {
        case GenerationEvent::Kind::Started:
          s.t_start = Clock::now();
          if (!o.dump_dir.empty()) {
            s.dump = std::make_unique<dump::DumpWriter>((fs::path(o.dump_dir) / ("seq-" + std::to_string(e.request))).string());
          }
          break;
        case GenerationEvent::Kind::Logits:
          if (s.dump) s.dump->add(e.token_idx, e.token, e.logits, n_vocab);
          break;
        case GenerationEvent::Kind::Token:
          s.generated.push_back(e.token);
          if (o.ignore_eos || !tok.is_eog(e.token)) s.text += s.streamer.push(tok.token_to_piece(e.token, false));
          break;
        case GenerationEvent::Kind::Done: {
          s.t_end = Clock::now();
          s.stop_reason = e.stop_reason;
          s.text += s.streamer.flush();
          std::fprintf(out, "[%lld] %s\n", static_cast<long long>(e.request), s.text.c_str());
          std::fflush(out);
          const int64_t n_prompt = static_cast<int64_t>(s.prompt.size());
          const double ms = ms_between(s.t_start, s.t_end);
          std::fprintf(err, "greta_batched: [%lld] prompt %lld tokens, %zu generated in %.1f ms (%.1f tokens/s), stop: %s\n",
                       static_cast<long long>(e.request), static_cast<long long>(n_prompt), s.generated.size(), ms,
                       per_second(static_cast<int64_t>(s.generated.size()), ms), s.stop_reason.c_str());
          if (!s.dump) break;
          const int64_t span_end = s.span.start + s.span.count;
          if (std::min<int64_t>(span_end, e.token_idx + 1) < span_end) {
            std::fprintf(err, "greta_batched: error: [%lld] generation stopped (%s) at token index %lld, before the end "
                         "of the dump span (%lld): no dump written; use --ignore-eos or a shorter --dump-span\n",
                         static_cast<long long>(e.request), s.stop_reason.c_str(), static_cast<long long>(e.token_idx),
                         static_cast<long long>(span_end - 1));
            s.dump->abort();
            s.dump.reset();
            exit_code = kExitFailure;
            break;
          }
          DumpRun run;
          run.model_path = model_path;
          run.stats = &lm->stats;
          run.dtype = o.dtype;
          run.kv_aligned = o.kv_aligned;
          run.kv_aligned_source = o.kv_aligned_source;
          run.mode = "prefill";
          run.seed = o.seed;
          run.seed_source = o.seed_source;
          run.sampling = o.sampling;
          run.backend = o.backend;
          run.backend_device = ctx.backend_description();
          run.simd_target = ctx.backend_simd_target();
          run.n_threads = o.n_threads;
          run.n_ctx = n_ctx;
          run.span_start = s.span.start;
          run.span_count = s.span.count;
          run.prompt = s.prompt;
          run.generated = s.generated;
          run.stop_reason = s.stop_reason;
          run.options = options_json(o);
          dump::DumpMetadata meta = dump_metadata(run);
          nlohmann::json& x = meta.extra;
          x["sequence_seed"] = sequence_seed(o.seed, e.request);
          x["sequence_index"] = e.request;
          x["parallel"] = o.parallel;
          s.dump->finish(meta);
          s.dump.reset();
          break;
        }
      }
    });
    peak_blocks = std::max(peak_blocks, ctx.kv_stats().blocks_used);
  }
  const double run_ms = ms_between(t_run, Clock::now());
  if (const int sig = stop_signal_received(); sig != 0) {
    for (Seq& s : seqs) {
      if (s.dump) s.dump->abort();
    }
    std::fprintf(err, "greta_batched: interrupted by %s; unfinished sequences have no dump\n",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT");
    return 128 + sig;
  }
  int64_t n_gen = 0, n_prompt = 0;
  for (const Seq& s : seqs) {
    n_gen += static_cast<int64_t>(s.generated.size());
    n_prompt += static_cast<int64_t>(s.prompt.size());
  }
  const KvStats kv = ctx.kv_stats();
  std::fprintf(err, "greta_batched: model %s (%s, %s) loaded in %.1f ms; %s\n", model_path.c_str(), lm->stats.arch.c_str(),
               lm->stats.weights_type.c_str(), load_ms, ctx.backend_description().c_str());
  std::fprintf(err, "greta_batched: %zu sequences, parallel %d: %lld prompt + %lld generated tokens in %.1f ms "
               "(%.1f generated tokens/s aggregate)\n",
               seqs.size(), o.parallel, static_cast<long long>(n_prompt), static_cast<long long>(n_gen), run_ms,
               per_second(n_gen, run_ms));
  std::fprintf(err, "greta_batched: KV pool %d blocks of %d positions (%.1f KiB each): peak %d used, %d in use at exit; "
               "seed %llu, ctx %lld, dtype %s, kv-aligned %d\n",
               kv.blocks_total, kv.block_size, kv.bytes_per_block / 1024.0, peak_blocks, kv.blocks_used,
               static_cast<unsigned long long>(o.seed), static_cast<long long>(n_ctx), kv_type_name(o.dtype),
               o.kv_aligned ? 1 : 0);
  return exit_code;
}

}  // namespace greta
