#include "greta/app/generate.h"

#include <csignal>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <sstream>
#include <vector>

#include "greta/app/dump_metadata.h"
#include "greta/core/build_info.h"
#include "greta/core/error.h"
#include "greta/dump/logits_dump.h"
#include "greta/model/model.h"
#include "greta/runtime/sampler.h"
#include "greta/runtime/backend_registry.h"
#include "greta/runtime/session.h"

namespace greta {

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int sig) {
  g_stop_signal = sig;
  // SA_RESETHAND restored the default action: a second signal ends the process at once.
}

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double per_second(int64_t n, double ms) { return ms > 0.0 ? n * 1000.0 / ms : 0.0; }

// Writes and flushes one piece of generated text. A closed or failing stdout (EPIPE with SIGPIPE
// ignored, a full disk) stops the run with an error, so the dump's temporaries are cleaned up.
void write_out(std::FILE* out, const std::string& s) {
  if (s.empty()) return;
  const size_t n = std::fwrite(s.data(), 1, s.size(), out);
  if (n != s.size() || std::fflush(out) != 0) {
    const int err = errno;
    std::clearerr(out);
    fail(std::string("writing the generated text to stdout: ") + std::strerror(err));
  }
}

}  // namespace

std::string read_prompt_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    fail("prompt file '" + path + "' is a directory, expected a text file");
  }
  if (!in) fail("cannot read prompt file '" + path + "': " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail("cannot read prompt file '" + path + "': read error");
  std::string text = ss.str();
  const size_t bad = utf8_first_invalid(text);
  if (bad != std::string::npos) {
    fail("prompt file '" + path + "' is not valid UTF-8 (first invalid byte at offset " +
         std::to_string(bad) + "); expected UTF-8 text");
  }
  // As llama.cpp does for -f: one trailing newline is the file's, not the prompt's.
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

void install_stop_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // A file-size limit (RLIMIT_FSIZE) must surface as a write error (EFBIG) that the dump writer
  // reports and cleans up after, not as a SIGXFSZ that kills the process mid-file.
  std::signal(SIGXFSZ, SIG_IGN);
  // Likewise a closed stdout is a write error (EPIPE), handled like any other failure.
  std::signal(SIGPIPE, SIG_IGN);
}

int stop_signal_received() { return g_stop_signal; }

int run_generation(const InferOptions& o, const GenerateStreams& io) {
  // Everything that can fail on user input without the model is checked first.
  std::string prompt = o.prompt;
  if (!o.prompt_file.empty()) {
    prompt = read_prompt_file(o.prompt_file);
  } else if (const size_t bad = utf8_first_invalid(prompt); bad != std::string::npos) {
    fail("--prompt: expected UTF-8 text, got an invalid byte at offset " + std::to_string(bad),
         kExitUsage);
  }
  install_stop_signal_handlers();

  // The writer checks (and creates) the directory now, so an unwritable destination fails
  // before the model is loaded.
  std::unique_ptr<dump::DumpWriter> dump;
  if (!o.dump_dir.empty()) dump = std::make_unique<dump::DumpWriter>(o.dump_dir);

  const std::string model_path = resolve_model_path(o);
  const auto t_load = Clock::now();
  std::unique_ptr<LoadedModel> lm = load_model(model_path);
  const double load_ms = ms_since(t_load);
  const Tokenizer& tok = *lm->tokenizer;

  // The prompt goes through the tokenizer with the model's special tokens (BOS) and with
  // special-token text parsed, as llama.cpp's CLI does; --prompt-tokens gives the ids as they
  // are (no BOS added), checked against the model's vocabulary before anything runs.
  std::vector<TokenId> prompt_ids;
  if (o.prompt_tokens) {
    check_prompt_tokens(*o.prompt_tokens, lm->model->hparams().n_vocab);
    prompt_ids.assign(o.prompt_tokens->begin(), o.prompt_tokens->end());
  } else {
    prompt_ids = tok.encode(prompt, /*add_special=*/true, /*parse_special=*/true);
  }
  const int64_t n_prompt = static_cast<int64_t>(prompt_ids.size());
  if (n_prompt == 0) {
    fail("the prompt is empty and the model '" + model_path +
         "' adds no BOS token: give a non-empty prompt (-p or -f)");
  }
  // llama.cpp's warning: the model adds a BOS and the prompt text starts with one too ("<s>...").
  if (!o.prompt_tokens && tok.add_bos() && n_prompt >= 2 && prompt_ids[0] == tok.bos() &&
      prompt_ids[1] == tok.bos()) {
    std::fprintf(io.err,
                 "greta_infer: warning: the prompt starts with two BOS tokens: the model adds one and the "
                 "prompt text begins with '%s'; remove it from the prompt\n",
                 tok.token_to_piece(tok.bos(), /*special=*/true).c_str());
  }
  const model::HParams& hp = lm->model->hparams();
  if (o.ctx_size > 0 && hp.n_ctx_train > 0 && o.ctx_size > hp.n_ctx_train) {
    std::fprintf(io.err,
                 "greta_infer: warning: -c %d is above the model's trained context (%d tokens): positions "
                 "past %d were never trained and the text degrades there\n",
                 o.ctx_size, hp.n_ctx_train, hp.n_ctx_train);
  }

  if (find_backend(o.backend) == nullptr) {
    fail("this greta_infer was built without the '" + o.backend +
             "' backend (configure with -DGRETA_CUDA=ON for cuda)",
         kExitUsage);
  }
  std::unique_ptr<Session> session_ptr;
  try {
    session_ptr = std::make_unique<Session>(*lm, SessionOptions{.n_ctx = o.ctx_size,
                                                                .kv_dtype = o.dtype,
                                                                .kv_aligned = o.kv_aligned,
                                                                .n_threads = o.n_threads,
                                                                .f32_activations = o.f32_activations,
                                                                .backend = o.backend});
  } catch (const std::bad_alloc&) {
    // The KV cache is what grows with -c: 2 (K, V) x layers x positions x KV width x element.
    const int64_t ctx = o.ctx_size > 0 ? o.ctx_size : std::min<int64_t>(hp.n_ctx_train > 0 ? hp.n_ctx_train : 4096, 4096);
    const int64_t elem = o.dtype == KvDtype::F32 ? 4 : 2;
    const double kv_bytes = 2.0 * hp.n_layer * static_cast<double>(ctx) * hp.n_embd_kv() * static_cast<double>(elem);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f GiB", kv_bytes / (1024.0 * 1024.0 * 1024.0));
    fail(std::string("out of memory creating a context of ") + std::to_string(ctx) + " tokens (its " +
         kv_type_name(o.dtype) + " KV cache alone needs " + buf + "): lower -c/--ctx-size" +
         (o.dtype == KvDtype::F32 ? " or use --dtype bf16" : ""));
  }
  Session& session = *session_ptr;
  const int64_t n_ctx = session.n_ctx();
  // The seed line only where sampling draws from it (greedy never does), and only once the model
  // is loaded (a loading error is the only line then).
  if (o.seed_source == "random" && o.sampling.temp > 0.0f) {
    std::fprintf(io.err, "greta_infer: seed %llu (random; pass --seed %llu to repeat this run)\n",
                 static_cast<unsigned long long>(o.seed), static_cast<unsigned long long>(o.seed));
  }
  const int32_t n_vocab = session.n_vocab();
  if (n_prompt > n_ctx) {
    fail("the prompt is " + std::to_string(n_prompt) + " tokens, longer than the context (" +
         std::to_string(n_ctx) + " tokens): raise -c/--ctx-size or shorten the prompt");
  }

  // -n -1 (llama.cpp's "no limit"): until an end-of-generation token or a full context, which
  // stops at most n_ctx - n_prompt + 1 tokens; one more than that lets the context-full stop fire.
  const int64_t max_tokens = o.max_tokens < 0 ? n_ctx - n_prompt + 2 : int64_t{o.max_tokens};
  // Token index k's logits are computed at position k - 1; the run computes positions
  // [0, n_prompt + max_tokens) at most, and the context holds n_ctx positions.
  const DumpSpan span = o.dump_span.value_or(DumpSpan{n_prompt, 1});
  const int64_t span_end = span.start + span.count;  // exclusive
  if (dump) {
    const int64_t last_computable = std::min<int64_t>(n_prompt + max_tokens, n_ctx);
    if (span.start < 1 || span_end - 1 > last_computable) {
      fail("--dump-span " + std::to_string(span.start) + ":" + std::to_string(span.count) +
               ": token indices " + std::to_string(span.start) + ".." +
               std::to_string(span_end - 1) + " are outside what this run computes (1.." +
               std::to_string(last_computable) + " for prompt_len " + std::to_string(n_prompt) +
               ", --max-tokens " + std::to_string(o.max_tokens) + ", context " +
               std::to_string(n_ctx) + ")",
           kExitUsage);
    }
  }
  const auto in_span = [&](int64_t idx) { return dump && idx >= span.start && idx < span_end; };
  // At most n_ctx - n_prompt + 1 tokens fit: the last one is sampled but never decoded.
  if (o.max_tokens >= 0 && o.max_tokens > n_ctx - n_prompt + 1) {
    std::fprintf(io.err,
                 "greta_infer: note: prompt (%lld tokens) + --max-tokens %d exceed the context "
                 "(%lld tokens); generation stops when the context is full\n",
                 static_cast<long long>(n_prompt), o.max_tokens, static_cast<long long>(n_ctx));
  }

  // The prompt text is echoed first, as llama.cpp does, so stdout reads as the whole text
  // (--no-display-prompt: the generated text only). --prompt-tokens ids are not text: not echoed.
  if (o.display_prompt && !o.prompt_tokens) write_out(io.out, prompt);

  // ---- Prompt: [0, n_prompt) ----
  // The token at index idx is sampled on the backend by the call that computes its logits (at
  // position idx - 1); only the id comes back, and the logits too when the dump span wants them.
  Sampler sampler(o.sampling, o.seed);
  std::vector<TokenId> generated;
  // Whether the token at idx is sampled (while generating, or to complete the dump span).
  const auto samples_at = [&](int64_t idx) {
    return static_cast<int64_t>(generated.size()) < max_tokens || in_span(idx);
  };
  const auto t_prompt = Clock::now();
  Session::Sampled next;  // the token at idx and, when dumped, its logits [n_vocab] f32
  {
    const bool decode_last = o.mode == GenMode::Decode;
    const int64_t n_batch = decode_last ? n_prompt - 1 : n_prompt;
    Sampler* const first = samples_at(n_prompt) ? &sampler : nullptr;
    if (n_batch > 0) {
      // Rows for prompt positions are needed only when the span covers a prompt token.
      const bool all_logits = dump && span.start <= n_prompt - 1;
      const Session::Sampled p =  // logits: [all_logits ? n_batch : 1, n_vocab] f32, or none
          session.prefill_sample(std::span<const TokenId>(prompt_ids.data(), n_batch), all_logits,
                                 !decode_last && in_span(n_prompt), decode_last ? nullptr : first);
      if (all_logits) {
        for (int64_t pos = 0; pos < n_batch && pos + 1 < n_prompt; ++pos) {
          if (in_span(pos + 1)) {
            dump->add(pos + 1, prompt_ids[pos + 1], p.logits + pos * int64_t{n_vocab}, n_vocab);
          }
        }
      }
      next = p;
      if (all_logits && p.logits != nullptr) next.logits = p.logits + (n_batch - 1) * int64_t{n_vocab};
    }
    if (decode_last) next = session.decode_sample(prompt_ids[n_prompt - 1], in_span(n_prompt), first);
  }
  const double prompt_ms = ms_since(t_prompt);

  // ---- Generation: decode steps, identical in both modes ----
  Utf8Streamer streamer;
  std::string stop_reason = "max-tokens";
  int64_t idx = n_prompt;  // index of the token `next` holds
  // Without -n (and without a dump), the default count is followed by the rest of the word being
  // written: generation stops before the first token that begins a new word (a piece starting with
  // a space or a newline, or a special token), at most kFinishWordTokens later.
  const bool finish_word = o.finish_word && !dump && o.max_tokens >= 0;
  const int64_t soft_end = finish_word ? max_tokens + kFinishWordTokens : max_tokens;
  const auto t_gen = Clock::now();
  while (true) {
    if (stop_signal_received() != 0) {
      stop_reason = "signal";
      break;
    }
    const TokenId id = next.token;
    bool generating = static_cast<int64_t>(generated.size()) < max_tokens;
    if (!generating && finish_word && static_cast<int64_t>(generated.size()) < soft_end) {
      const std::string piece = tok.token_to_piece(id, /*special=*/false);
      generating = !piece.empty() && piece[0] != ' ' && piece[0] != '\n' && !tok.is_eog(id);
    }
    if (!generating && !in_span(idx)) break;
    // Past --max-tokens the token is sampled only to complete the dump span; it is recorded as
    // the token that would come next, not generated.
    if (in_span(idx)) dump->add(idx, id, next.logits, n_vocab);
    if (!generating) break;
    generated.push_back(id);
    if (!o.ignore_eos && tok.is_eog(id)) {
      stop_reason = "end-of-generation";
      break;
    }
    write_out(io.out, streamer.push(tok.token_to_piece(id, /*special=*/false)));
    const bool more = static_cast<int64_t>(generated.size()) < soft_end || in_span(idx + 1);
    if (!more) break;
    if (idx >= n_ctx) {
      stop_reason = "context-full";
      std::fprintf(io.err, "\ngreta_infer: context full (%lld tokens): stopped after %zu generated tokens\n",
                   static_cast<long long>(n_ctx), generated.size());
      break;
    }
    // `more` holds, so the token at idx + 1 is sampled (samples_at(idx + 1)).
    next = session.decode_sample(id, in_span(idx + 1), &sampler);
    ++idx;
  }
  const double gen_ms = ms_since(t_gen);
  write_out(io.out, streamer.flush());
  std::fflush(io.out);

  if (const int sig = stop_signal_received(); sig != 0) {
    if (dump) dump->abort();
    std::fprintf(io.err, "\ngreta_infer: interrupted by %s after %zu generated tokens; no dump written\n",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT", generated.size());
    return 128 + sig;
  }

  if (dump) {
    const int64_t dumped_end = std::min<int64_t>(span_end, idx + 1);
    if (dumped_end < span_end) {
      fail("generation stopped (" + stop_reason + ") at token index " + std::to_string(idx) +
           ", before the end of the dump span (" + std::to_string(span_end - 1) +
           "): no dump written; use --ignore-eos or a shorter --dump-span");
    }
    DumpRun run;
    run.model_path = model_path;
    run.stats = &lm->stats;
    run.dtype = o.dtype;
    run.kv_aligned = o.kv_aligned;
    run.kv_aligned_source = o.kv_aligned_source;
    run.mode = gen_mode_name(o.mode);
    run.seed = o.seed;
    run.seed_source = o.seed_source;
    run.sampling = o.sampling;
    run.backend = o.backend;
    run.backend_device = session.backend_description();
    run.simd_target = session.backend_simd_target();
    run.n_threads = o.n_threads;
    run.n_ctx = n_ctx;
    run.span_start = span.start;
    run.span_count = span.count;
    run.prompt = prompt_ids;
    run.generated = generated;
    run.stop_reason = stop_reason;
    run.options = infer_options_to_json(o);
    const dump::DumpMetadata meta = dump_metadata(run);
    dump->finish(meta);
  }

  const int64_t n_gen = static_cast<int64_t>(generated.size());
  std::fprintf(io.err, "\n");
  std::fprintf(io.err, "greta_infer: model %s (%s, %s, vocab %d) loaded in %.1f ms\n",
               model_path.c_str(), lm->stats.arch.c_str(), lm->stats.weights_type.c_str(),
               n_vocab, load_ms);
  std::fprintf(io.err, "greta_infer: prompt     %6lld tokens in %9.1f ms (%.1f tokens/s, %s)\n",
               static_cast<long long>(n_prompt), prompt_ms, per_second(n_prompt, prompt_ms),
               gen_mode_name(o.mode));
  std::fprintf(io.err, "greta_infer: generation %6lld tokens in %9.1f ms (%.1f tokens/s, stop: %s)\n",
               static_cast<long long>(n_gen), gen_ms, per_second(n_gen, gen_ms),
               stop_reason.c_str());
  std::fprintf(io.err,
               "greta_infer: seed %llu, threads %d, ctx %lld, dtype %s, kv-aligned %d%s%s\n",
               static_cast<unsigned long long>(o.seed), o.n_threads,
               static_cast<long long>(n_ctx), kv_type_name(o.dtype), o.kv_aligned ? 1 : 0,
               dump ? ", dump " : "", dump ? o.dump_dir.c_str() : "");
  return 0;
}

}  // namespace greta
