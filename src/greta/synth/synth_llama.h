#pragma once
// Synthetic GGUF models of every architecture greta runs (llama, qwen2, qwen3, phi3:
// synth_arch_names())
// with deterministic pseudo-random weights.
//
// These are what speed benchmarks and shape tests run on, so writing one is fast: rows are
// generated and quantized in parallel and streamed to the file, never held whole in memory.
//
// Weights: element k of tensor T is a function of (seed, T's name, k) only, through splitmix64
// (counter-based), so the file is byte-identical for a given seed whatever the thread count.
// Matrices are uniform with std 0.5 / sqrt(fan_in) (fan_in = ne[0], the row length), the token
// embedding is uniform in [-1, 1], norms are exactly 1: RMS-normalized inputs give projections
// with std <= 0.5, so activations stay bounded through any number of layers.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "greta/quant/types.h"

namespace greta {

struct SynthShape {
  int64_t dim = 0;         // n_embd
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t ffn = 0;         // feed_forward_length
  int64_t vocab = 0;       // ignored when a vocabulary is copied from a file
  int64_t context = 2048;  // <arch>.context_length
  int64_t head_dim = 0;    // <arch>.attention.key_length; 0: dim / heads
};

struct SynthOptions {
  std::string arch = "llama";  // general.architecture: one of synth_arch_names()
  std::string preset;     // for general.name; "" for a custom shape
  SynthShape shape;
  TensorType type = TensorType::Q8_0;      // every 2-D weight except output.weight
  std::optional<TensorType> output_type;   // output.weight; default: type
  std::string vocab_from;                  // copy tokenizer.* keys from this GGUF; "": built-in SPM vocab
  uint64_t seed = 0;
  std::string out;
  int n_threads = 0;                       // 0: std::thread::hardware_concurrency()
};

// Presets: "tiny" (2 layers, 4 heads, 2 KV heads, vocab 512, context 512; dim 64 / ffn 192, or
// dim 256 / ffn 512 when the type or output type has 256-element blocks), "tinyllama-1.1b"
// (2048/22/32/4/5632, vocab 32000, context 2048), "llama-7b" (4096/32/32/32/11008, vocab 32000,
// context 4096). Unknown name: greta::Error (usage).
SynthShape synth_preset(std::string_view name, TensorType type, std::optional<TensorType> output_type);

// The architectures synth_llama writes: "llama, qwen2, qwen3, phi3". Each gets its tensors and
// keys as llama.cpp names them: qwen2 adds Q/K/V biases (uniform, amplitude 0.1), rope base 1e6
// and RMSNorm eps 1e-6; qwen3 adds per-head Q/K norms (ones), rope base 1e6, eps 1e-6 and writes
// attention.key_length / value_length (head_dim may then differ from dim / heads); phi3 fuses
// Q, K, V into attn_qkv (rows Q | K | V) and gate, up into ffn_up (rows gate | up).
std::string synth_arch_names();

// Parses "dim,layers,heads,kv_heads,ffn,vocab". Malformed: greta::Error (usage).
SynthShape synth_parse_shape(std::string_view spec);

// llama.cpp's general.file_type (LLAMA_FTYPE_MOSTLY_*) for a weight type.
uint32_t synth_file_type(TensorType type);

// Writes the model atomically to options.out. Throws greta::Error for invalid options.
void synth_llama(const SynthOptions& options);

// The weight generator: element `index` of the tensor whose stream is `tensor_seed`, uniform in
// [-amplitude, amplitude). Exposed so tests can check values.
uint64_t synth_tensor_seed(uint64_t seed, std::string_view tensor_name);
float synth_uniform(uint64_t tensor_seed, uint64_t index, float amplitude);

}  // namespace greta
