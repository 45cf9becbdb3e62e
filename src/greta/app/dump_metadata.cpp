#include "greta/app/dump_metadata.h"

#include <cstdio>
#include <exception>
#include <new>

#include "greta/app/infer_options.h"
#include "greta/core/build_info.h"
#include "greta/core/error.h"

namespace greta {

void sampling_options_json(nlohmann::json& j, const SamplerParams& s) {
  j["temp"] = float_to_json(s.temp);
  j["top-k"] = s.top_k;
  j["top-p"] = float_to_json(s.top_p);
  j["min-p"] = float_to_json(s.min_p);
}

dump::DumpMetadata dump_metadata(const DumpRun& r) {
  dump::DumpMetadata meta;
  meta.dtype = kv_type_name(r.dtype);
  meta.prompt_len = static_cast<int64_t>(r.prompt.size());
  meta.gen_len = static_cast<int64_t>(r.generated.size());
  meta.seed = r.seed;
  meta.kv_aligned = r.kv_aligned ? 1 : 0;
  meta.mode = r.mode;
  meta.span_start = r.span_start;
  meta.span_count = r.span_count;
  meta.repo_branch = build::kGitBranch;
  nlohmann::json& x = meta.extra;
  x["model"] = utf8_sanitized(r.model_path);
  x["arch"] = r.stats->arch;
  x["vocab_size"] = r.stats->n_vocab;
  x["weights_type"] = r.stats->weights_type;
  x["backend"] = r.backend;
  x["backend_device"] = r.backend_device;
  x["simd_target"] = r.simd_target;
  x["threads"] = r.n_threads;
  x["n_ctx"] = r.n_ctx;
  x["version"] = build::kVersion;
  x["commit"] = build::kGitCommit;
  x["seed_source"] = r.seed_source;
  x["kv_aligned_source"] = r.kv_aligned_source;
  x["prompt_token_ids"] = r.prompt;
  x["generated_token_ids"] = r.generated;
  x["stop_reason"] = r.stop_reason;
  x["sampling"] = {{"temp", float_to_json(r.sampling.temp)},
                   {"top_k", r.sampling.top_k},
                   {"top_p", float_to_json(r.sampling.top_p)},
                   {"min_p", float_to_json(r.sampling.min_p)},
                   {"chain", "top_k,top_p,min_p,temperature,dist"}};
  x["options"] = r.options;
  // docs/ARCHITECTURE.md, "Batch invariance": the logits do not depend on how the tokens were
  // batched (nor, in a batch of many sequences, on the others) with kv-aligned 1, and with an f32
  // cache, where kv-aligned 0 is the same computation.
  x["batch_invariant"] = r.kv_aligned || r.dtype == KvDtype::F32;
  return meta;
}

int guarded_main(const char* tool, const std::function<int()>& body) {
  try {
    return body();
  } catch (const Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error: %s\n", tool, e.what());
    return e.exit_code();
  } catch (const std::bad_alloc&) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error: out of memory\n", tool);
    return kExitFailure;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error: %s\n", tool, e.what());
    return kExitFailure;
  }
}

}  // namespace greta
