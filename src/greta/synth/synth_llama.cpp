#include "greta/synth/synth_llama.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <memory>
#include <thread>
#include <vector>

#include "greta/core/error.h"
#include "greta/core/thread_pool.h"
#include "greta/gguf/gguf_file.h"
#include "greta/gguf/gguf_writer.h"
#include "greta/quant/quant.h"

namespace greta {

namespace {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

int64_t max_block(TensorType type, std::optional<TensorType> output_type) {
  int64_t b = tensor_type_info(type).block_size;
  if (output_type) b = std::max(b, tensor_type_info(*output_type).block_size);
  return b;
}

// The built-in SentencePiece-style vocabulary: <unk>, <s>, </s>, the 256 byte tokens, then
// filler pieces ("a", "▁a", "b", "▁b", ..., "aa", "▁aa", ...) up to n.
struct Vocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
};

Vocab builtin_vocab(int64_t n) {
  Vocab v;
  v.tokens = {"<unk>", "<s>", "</s>"};
  v.scores = {0.0f, 0.0f, 0.0f};
  v.types = {2, 3, 3};  // UNKNOWN, CONTROL, CONTROL
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    v.tokens.push_back(buf);
    v.scores.push_back(0.0f);
    v.types.push_back(6);  // BYTE
  }
  for (int64_t k = 0; static_cast<int64_t>(v.tokens.size()) < n; ++k) {
    // Bijective base-26 spelling of k / 2; odd k gets the word-start marker.
    std::string word;
    for (int64_t q = k / 2 + 1; q > 0; q = (q - 1) / 26) word.insert(word.begin(), char('a' + (q - 1) % 26));
    v.tokens.push_back(k % 2 ? "\xE2\x96\x81" + word : word);
    v.scores.push_back(-static_cast<float>(k + 1));
    v.types.push_back(1);  // NORMAL
  }
  return v;
}

[[noreturn]] void usage_error(const std::string& msg) { fail(msg, kExitUsage); }

// What distinguishes the architectures in a synthetic file.
struct ArchSynth {
  const char* name;
  bool qkv_bias;        // attn_{q,k,v}.bias
  bool qk_norm;         // attn_{q,k}_norm.weight [head_dim]
  bool key_length;      // writes attention.key_length / value_length
  bool fused;           // attn_qkv (rows Q | K | V) and ffn_up (rows gate | up), no ffn_gate (phi3)
  float rope_base;
  float rms_eps;
};

constexpr ArchSynth kArchSynth[] = {
    {"llama", false, false, false, false, 10000.0f, 1e-5f},
    {"qwen2", true, false, false, false, 1000000.0f, 1e-6f},
    {"qwen3", false, true, true, false, 1000000.0f, 1e-6f},
    {"phi3", false, false, false, true, 10000.0f, 1e-5f},
};

const ArchSynth& arch_synth(const std::string& name) {
  for (const ArchSynth& a : kArchSynth) {
    if (name == a.name) return a;
  }
  usage_error("synth: unknown architecture '" + name + "' (expected " + synth_arch_names() + ")");
}

int64_t head_dim_of(const SynthShape& s) { return s.head_dim > 0 ? s.head_dim : s.dim / s.n_heads; }

void check_shape(const SynthOptions& o, const SynthShape& s) {
  // Bounds far above real models that keep every row buffer and u32 key small.
  auto in_range = [](int64_t v, int64_t hi, const char* what) {
    if (v <= 0 || v > hi) {
      usage_error(std::string("synth: ") + what + " " + std::to_string(v) + " is invalid (expected 1 to " +
                  std::to_string(hi) + ")");
    }
  };
  in_range(s.dim, int64_t(1) << 20, "dim");
  in_range(s.n_layers, 1000, "layers");
  in_range(s.n_heads, int64_t(1) << 20, "heads");
  in_range(s.n_kv_heads, int64_t(1) << 20, "kv_heads");
  in_range(s.ffn, int64_t(1) << 20, "ffn");
  in_range(s.context, int64_t(1) << 24, "context");
  if (s.head_dim < 0 || s.head_dim > 65536) {
    usage_error("synth: head_dim " + std::to_string(s.head_dim) + " is invalid (expected 1 to 65536, or 0: dim / heads)");
  }
  if (s.head_dim > 0 && !arch_synth(o.arch).key_length && s.head_dim * s.n_heads != s.dim) {
    usage_error("synth: head_dim " + std::to_string(s.head_dim) + " must be dim / heads for " + o.arch +
                " (only qwen3 decouples it)");
  }
  if (s.head_dim == 0 && s.dim % s.n_heads != 0) {
    usage_error("synth: dim " + std::to_string(s.dim) + " is not a multiple of heads " + std::to_string(s.n_heads));
  }
  if (s.n_heads % s.n_kv_heads != 0) {
    usage_error("synth: heads " + std::to_string(s.n_heads) + " is not a multiple of kv_heads " +
                std::to_string(s.n_kv_heads));
  }
  if (head_dim_of(s) % 2 != 0) {
    usage_error("synth: head size " + std::to_string(head_dim_of(s)) + " is odd (RoPE needs an even head size)");
  }
  for (TensorType t : {o.type, o.output_type.value_or(o.type)}) {
    const TensorTypeInfo& info = tensor_type_info(t);
    if (!info.is_storage_type) usage_error(std::string("synth: type ") + info.name + " cannot be stored");
    for (auto [v, what] : {std::pair{s.dim, "dim"}, std::pair{s.ffn, "ffn"}, std::pair{head_dim_of(s) * s.n_heads, "heads * head_dim"}}) {
      if (v % info.block_size != 0) {
        usage_error(std::string("synth: ") + what + " " + std::to_string(v) + " is not a multiple of the " + info.name +
                    " block size " + std::to_string(info.block_size));
      }
    }
  }
}

// Streams the rows of one [ne0, n_rows] tensor: generated, converted to `type`, written in
// chunks of whole rows; rows are split over the pool in fixed groups.
class TensorGenerator {
 public:
  TensorGenerator(ThreadPool& pool, TensorType type, int64_t ne0, int64_t n_rows, uint64_t tensor_seed, float amplitude,
                  bool ones)
      : pool_(pool), type_(type), ne0_(ne0), n_rows_(n_rows), seed_(tensor_seed), amplitude_(amplitude), ones_(ones) {}

  void operator()(gguf::ByteSink& out) const {
    const int64_t row_bytes = tensor_row_bytes(type_, ne0_);
    constexpr int64_t kChunkBytes = int64_t(16) << 20;
    constexpr int64_t kRowsPerTask = 4;
    const int64_t rows_per_chunk = std::max<int64_t>(1, kChunkBytes / row_bytes);
    std::vector<uint8_t> chunk(static_cast<size_t>(std::min(rows_per_chunk, n_rows_) * row_bytes));
    std::vector<std::vector<float>> scratch(pool_.n_threads(), std::vector<float>(static_cast<size_t>(ne0_)));
    for (int64_t r0 = 0; r0 < n_rows_; r0 += rows_per_chunk) {
      const int64_t nr = std::min(rows_per_chunk, n_rows_ - r0);
      const int64_t n_tasks = (nr + kRowsPerTask - 1) / kRowsPerTask;
      pool_.run(n_tasks, [&](int64_t task, int thread) {
        float* row = scratch[thread].data();  // [ne0] f32
        const int64_t end = std::min(nr, (task + 1) * kRowsPerTask);
        for (int64_t r = task * kRowsPerTask; r < end; ++r) {
          const uint64_t base = static_cast<uint64_t>(r0 + r) * static_cast<uint64_t>(ne0_);
          for (int64_t i = 0; i < ne0_; ++i) row[i] = ones_ ? 1.0f : synth_uniform(seed_, base + i, amplitude_);
          quantize_row(type_, row, chunk.data() + r * row_bytes, ne0_);
        }
      });
      out.write(chunk.data(), static_cast<size_t>(nr * row_bytes));
    }
  }

 private:
  ThreadPool& pool_;
  TensorType type_;
  int64_t ne0_, n_rows_;
  uint64_t seed_;
  float amplitude_;
  bool ones_;
};

}  // namespace

uint64_t synth_tensor_seed(uint64_t seed, std::string_view tensor_name) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (char c : tensor_name) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  return mix64(seed ^ mix64(h));
}

float synth_uniform(uint64_t tensor_seed, uint64_t index, float amplitude) {
  const uint64_t x = mix64(tensor_seed + (index + 1) * kGolden);
  const float u = static_cast<float>(x >> 40) * 0x1p-24f;  // [0, 1), exact
  return (2.0f * u - 1.0f) * amplitude;
}

SynthShape synth_preset(std::string_view name, TensorType type, std::optional<TensorType> output_type) {
  SynthShape s;
  if (name == "tiny") {
    const bool k_quant = max_block(type, output_type) > 32;
    s = SynthShape{k_quant ? 256 : 64, 2, 4, 2, k_quant ? 512 : 192, 512, 512};
  } else if (name == "tinyllama-1.1b") {
    s = SynthShape{2048, 22, 32, 4, 5632, 32000, 2048};
  } else if (name == "llama-7b") {
    s = SynthShape{4096, 32, 32, 32, 11008, 32000, 4096};
  } else {
    usage_error("synth: unknown preset '" + std::string(name) + "' (expected tiny, tinyllama-1.1b or llama-7b)");
  }
  return s;
}

SynthShape synth_parse_shape(std::string_view spec) {
  int64_t v[6];
  size_t pos = 0;
  for (int k = 0; k < 6; ++k) {
    const size_t comma = k < 5 ? spec.find(',', pos) : spec.size();
    const std::string_view part = spec.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    const auto r = std::from_chars(part.data(), part.data() + part.size(), v[k]);
    if (comma == std::string_view::npos || part.empty() || r.ec != std::errc() || r.ptr != part.data() + part.size() ||
        v[k] <= 0) {
      usage_error("synth: --shape '" + std::string(spec) +
                  "' is invalid (expected dim,layers,heads,kv_heads,ffn,vocab: six positive integers)");
    }
    pos = comma + 1;
  }
  return SynthShape{v[0], v[1], v[2], v[3], v[4], v[5], 2048};
}

std::string synth_arch_names() {
  std::string names;
  for (const ArchSynth& a : kArchSynth) names += (names.empty() ? "" : ", ") + std::string(a.name);
  return names;
}

uint32_t synth_file_type(TensorType type) {
  switch (type) {
    case TensorType::F32: return 0;
    case TensorType::F16: return 1;
    case TensorType::Q4_0: return 2;
    case TensorType::Q4_1: return 3;
    case TensorType::Q8_0: return 7;
    case TensorType::Q5_0: return 8;
    case TensorType::Q5_1: return 9;
    case TensorType::Q2_K: return 10;
    case TensorType::Q3_K: return 11;  // Q3_K_S
    case TensorType::Q4_K: return 14;  // Q4_K_S
    case TensorType::Q5_K: return 16;  // Q5_K_S
    case TensorType::Q6_K: return 18;
    case TensorType::BF16: return 32;
    default: break;
  }
  usage_error(std::string("synth: type ") + tensor_type_name(type) + " has no llama file type");
}

void synth_llama(const SynthOptions& o) {
  if (o.out.empty()) usage_error("synth: no output file given");
  const ArchSynth& arch = arch_synth(o.arch);
  SynthShape s = o.shape;
  check_shape(o, s);

  // The vocabulary: copied tokenizer.* keys, or the built-in one.
  std::unique_ptr<gguf::GgufFile> vocab_file;
  if (!o.vocab_from.empty()) {
    vocab_file = gguf::GgufFile::open(o.vocab_from);
    s.vocab = static_cast<int64_t>(vocab_file->get_array("tokenizer.ggml.tokens", gguf::ValueType::STRING).size);
    if (s.vocab == 0) fail(o.vocab_from + ": tokenizer.ggml.tokens is empty");
  } else if (s.vocab < 259) {
    usage_error("synth: vocab " + std::to_string(s.vocab) + " is too small for the built-in vocabulary (expected at least 259)");
  }
  if (s.vocab > int64_t(1) << 24) usage_error("synth: vocab " + std::to_string(s.vocab) + " is invalid (expected at most 16777216)");

  const TensorType out_type = o.output_type.value_or(o.type);
  const int64_t head_dim = head_dim_of(s);
  const int64_t q_dim = head_dim * s.n_heads;
  const int64_t kv_dim = head_dim * s.n_kv_heads;
  const std::string k = std::string(arch.name) + ".";  // metadata key prefix

  gguf::GgufWriter w;
  w.add_string("general.architecture", arch.name);
  w.add_string("general.name", "greta-synth" + (o.preset.empty() ? std::string() : "-" + o.preset));
  w.add_u32("general.file_type", synth_file_type(o.type));
  w.add_u64("greta.synth.seed", o.seed);
  w.add_u32(k + "context_length", static_cast<uint32_t>(s.context));
  w.add_u32(k + "embedding_length", static_cast<uint32_t>(s.dim));
  w.add_u32(k + "block_count", static_cast<uint32_t>(s.n_layers));
  w.add_u32(k + "feed_forward_length", static_cast<uint32_t>(s.ffn));
  w.add_u32(k + "attention.head_count", static_cast<uint32_t>(s.n_heads));
  w.add_u32(k + "attention.head_count_kv", static_cast<uint32_t>(s.n_kv_heads));
  if (arch.key_length) {
    w.add_u32(k + "attention.key_length", static_cast<uint32_t>(head_dim));
    w.add_u32(k + "attention.value_length", static_cast<uint32_t>(head_dim));
  }
  w.add_f32(k + "attention.layer_norm_rms_epsilon", arch.rms_eps);
  w.add_f32(k + "rope.freq_base", arch.rope_base);
  w.add_u32(k + "rope.dimension_count", static_cast<uint32_t>(head_dim));
  w.add_u32(k + "vocab_size", static_cast<uint32_t>(s.vocab));
  if (vocab_file) {
    for (const gguf::KeyValue& kv : vocab_file->metadata()) {
      if (kv.key.substr(0, 10) == "tokenizer.") w.add_value(kv.key, kv.value);
    }
  } else {
    const Vocab v = builtin_vocab(s.vocab);
    w.add_string("tokenizer.ggml.model", "llama");
    w.add_string_array("tokenizer.ggml.tokens", v.tokens);
    w.add_array_f32("tokenizer.ggml.scores", v.scores);
    w.add_array_i32("tokenizer.ggml.token_type", v.types);
    w.add_u32("tokenizer.ggml.bos_token_id", 1);
    w.add_u32("tokenizer.ggml.eos_token_id", 2);
    w.add_u32("tokenizer.ggml.unknown_token_id", 0);
    w.add_bool("tokenizer.ggml.add_bos_token", true);
    w.add_bool("tokenizer.ggml.add_eos_token", false);
  }

  const int n_threads = o.n_threads > 0 ? o.n_threads : std::max(1u, std::thread::hardware_concurrency());
  ThreadPool pool(n_threads);
  auto add = [&](const std::string& name, TensorType type, int64_t ne0, int64_t ne1, float amplitude, bool ones) {
    std::vector<int64_t> shape = ne1 > 0 ? std::vector<int64_t>{ne0, ne1} : std::vector<int64_t>{ne0};
    w.add_tensor(name, type, shape,
                 TensorGenerator(pool, type, ne0, std::max<int64_t>(ne1, 1), synth_tensor_seed(o.seed, name), amplitude, ones));
  };
  // Uniform on [-a, a] has std a / sqrt(3); matrices get std 0.5 / sqrt(fan_in).
  auto amp = [](int64_t fan_in) { return static_cast<float>(0.5 * std::sqrt(3.0) / std::sqrt(double(fan_in))); };
  add("token_embd.weight", o.type, s.dim, s.vocab, 1.0f, false);  // [dim, vocab]
  for (int64_t l = 0; l < s.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", TensorType::F32, s.dim, 0, 0.0f, true);  // [dim]
    if (arch.fused) {
      add(p + "attn_qkv.weight", o.type, s.dim, q_dim + 2 * kv_dim, amp(s.dim), false);  // [dim, q | k | v]
    } else {
      add(p + "attn_q.weight", o.type, s.dim, q_dim, amp(s.dim), false);     // [dim, heads * head_dim]
      add(p + "attn_k.weight", o.type, s.dim, kv_dim, amp(s.dim), false);    // [dim, kv_dim]
      add(p + "attn_v.weight", o.type, s.dim, kv_dim, amp(s.dim), false);    // [dim, kv_dim]
    }
    if (arch.qkv_bias) {
      add(p + "attn_q.bias", TensorType::F32, q_dim, 0, 0.1f, false);     // [heads * head_dim]
      add(p + "attn_k.bias", TensorType::F32, kv_dim, 0, 0.1f, false);    // [kv_dim]
      add(p + "attn_v.bias", TensorType::F32, kv_dim, 0, 0.1f, false);    // [kv_dim]
    }
    if (arch.qk_norm) {
      add(p + "attn_q_norm.weight", TensorType::F32, head_dim, 0, 0.0f, true);  // [head_dim]
      add(p + "attn_k_norm.weight", TensorType::F32, head_dim, 0, 0.0f, true);  // [head_dim]
    }
    add(p + "attn_output.weight", o.type, q_dim, s.dim, amp(q_dim), false);  // [heads * head_dim, dim]
    add(p + "ffn_norm.weight", TensorType::F32, s.dim, 0, 0.0f, true);   // [dim]
    if (arch.fused) {
      add(p + "ffn_up.weight", o.type, s.dim, 2 * s.ffn, amp(s.dim), false);  // [dim, gate | up]
    } else {
      add(p + "ffn_gate.weight", o.type, s.dim, s.ffn, amp(s.dim), false);    // [dim, ffn]
      add(p + "ffn_up.weight", o.type, s.dim, s.ffn, amp(s.dim), false);      // [dim, ffn]
    }
    add(p + "ffn_down.weight", o.type, s.ffn, s.dim, amp(s.ffn), false);    // [ffn, dim]
  }
  add("output_norm.weight", TensorType::F32, s.dim, 0, 0.0f, true);      // [dim]
  add("output.weight", out_type, s.dim, s.vocab, amp(s.dim), false);     // [dim, vocab]
  w.write_file(o.out);
}

}  // namespace greta
