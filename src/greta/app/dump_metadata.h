#pragma once
// The metadata of a generation dump, shared by greta_infer and greta_batched so that both write
// exactly the same keys (docs/CLI.md, "Logits dump").

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "greta/backend/tensor.h"
#include "greta/dump/logits_dump.h"
#include "greta/runtime/loaded_model.h"
#include "greta/runtime/sampler.h"

namespace greta {

struct DumpRun {
  std::string model_path;
  const ModelStats* stats = nullptr;
  KvDtype dtype = KvDtype::BF16;
  bool kv_aligned = false;
  std::string kv_aligned_source;
  std::string mode;  // "prefill" | "decode"
  uint64_t seed = 0;
  std::string seed_source;
  SamplerParams sampling;
  std::string backend;
  std::string backend_device;
  std::string simd_target;
  int n_threads = 1;
  int64_t n_ctx = 0;
  int64_t span_start = 0;
  int64_t span_count = 0;
  std::vector<TokenId> prompt;
  std::vector<TokenId> generated;
  std::string stop_reason;
  nlohmann::json options;  // every flag with its effective value
};

dump::DumpMetadata dump_metadata(const DumpRun& run);

// The sampling flags as recorded in "options" (shortest round-trip floats).
void sampling_options_json(nlohmann::json& j, const SamplerParams& s);

// A CLI's main(): runs body, and turns an error into "<tool>: error: <message>" on stderr and
// its exit status (out of memory: exit 1).
int guarded_main(const char* tool, const std::function<int()>& body);

}  // namespace greta
