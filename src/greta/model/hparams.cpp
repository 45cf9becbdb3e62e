#include "greta/model/hparams.h"

#include <string>

#include "greta/core/error.h"
#include "greta/gguf/gguf_file.h"
#include "greta/model/arch/arch.h"

namespace greta::model {

const char* HParams::arch_name() const { return arch != nullptr ? arch->name : "?"; }

HParams hparams_from_gguf(const gguf::GgufFile& file) {
  HParams hp;
  const std::string arch(file.get_string_or("general.architecture", ""));
  hp.arch = find_arch(arch);
  if (hp.arch == nullptr) {
    fail("unsupported architecture '" + (arch.empty() ? std::string("<missing general.architecture>") : arch) +
         "' (supported: " + supported_arch_names() + ")");
  }
  hp.rope_type = hp.arch->rope_type;
  const std::string p = arch + ".";
  auto positive = [&](const std::string& key, uint32_t v) {
    if (v == 0 || v > (1u << 30)) fail("key '" + key + "' = " + std::to_string(v) + ", expected a positive size");
    return static_cast<int32_t>(v);
  };
  hp.n_ctx_train = positive(p + "context_length", file.get_u32(p + "context_length"));
  hp.n_embd = positive(p + "embedding_length", file.get_u32(p + "embedding_length"));
  hp.n_layer = positive(p + "block_count", file.get_u32(p + "block_count"));
  hp.n_ff = positive(p + "feed_forward_length", file.get_u32(p + "feed_forward_length"));
  hp.n_head = positive(p + "attention.head_count", file.get_u32(p + "attention.head_count"));
  hp.n_head_kv = positive(p + "attention.head_count_kv",
                          file.get_u32_or(p + "attention.head_count_kv", static_cast<uint32_t>(hp.n_head)));
  if (hp.n_head % hp.n_head_kv != 0) {
    fail("key '" + p + "attention.head_count_kv' = " + std::to_string(hp.n_head_kv) +
         " must divide attention.head_count = " + std::to_string(hp.n_head));
  }
  if (!file.has(p + "attention.key_length") && hp.n_embd % hp.n_head != 0) {
    fail("embedding_length " + std::to_string(hp.n_embd) + " is not a multiple of head_count " +
         std::to_string(hp.n_head) + " and attention.key_length is absent");
  }
  hp.head_dim = positive(p + "attention.key_length",
                         file.get_u32_or(p + "attention.key_length", static_cast<uint32_t>(hp.n_embd / hp.n_head)));
  const uint32_t v_len = file.get_u32_or(p + "attention.value_length", static_cast<uint32_t>(hp.head_dim));
  if (static_cast<int32_t>(v_len) != hp.head_dim) {
    fail("key '" + p + "attention.value_length' = " + std::to_string(v_len) + ", expected key_length " +
         std::to_string(hp.head_dim));
  }
  hp.rms_eps = file.get_f32_or(p + "attention.layer_norm_rms_epsilon", 1e-5f);
  if (!(hp.rms_eps > 0.0f)) fail("key '" + p + "attention.layer_norm_rms_epsilon' must be > 0");
  hp.n_rot = positive(p + "rope.dimension_count",
                      file.get_u32_or(p + "rope.dimension_count", static_cast<uint32_t>(hp.head_dim)));
  if (hp.n_rot % 2 != 0 || hp.n_rot > hp.head_dim) {
    fail("key '" + p + "rope.dimension_count' = " + std::to_string(hp.n_rot) + ", expected an even number <= head dim " +
         std::to_string(hp.head_dim));
  }
  hp.rope_freq_base = file.get_f32_or(p + "rope.freq_base", 10000.0f);
  if (!(hp.rope_freq_base > 0.0f)) fail("key '" + p + "rope.freq_base' must be > 0");

  // Frequency scaling: `rope.scaling.type` (none | linear) with `rope.scaling.factor`, or the
  // older `rope.scale_linear`.
  const std::string scaling(file.get_string_or(p + "rope.scaling.type", "none"));
  float factor = 1.0f;
  if (scaling == "linear") {
    factor = file.get_f32_or(p + "rope.scaling.factor", 1.0f);
  } else if (scaling == "none") {
    factor = file.get_f32_or(p + "rope.scale_linear", 1.0f);
  } else {
    fail("key '" + p + "rope.scaling.type' = '" + scaling + "' is not supported (supported: none, linear)");
  }
  if (factor == 0.0f) factor = 1.0f;  // llama.cpp treats 0 as "not set"
  if (!(factor > 0.0f)) fail("rope scaling factor must be > 0, got " + std::to_string(factor));
  hp.rope_freq_scale = 1.0f / factor;
  return hp;
}

}  // namespace greta::model
