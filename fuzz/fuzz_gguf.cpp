// libFuzzer target: the GGUF load path on an untrusted image, up to (not including) the forward pass.
//
// Parses the input with GgufFile::from_bytes, then does what a loader does with a file that
// validated: binds the model (hyperparameters + weights by name, dtype and shape), builds the
// tokenizer (when the tokenizer module is built), walks every tensor (touching every byte and
// dequantizing its first row), calls every typed metadata accessor on every key, and checks that
// the writer's re-serialization of the file parses back to the same metadata and tensor table.
// Any greta::Error is an accepted outcome; a crash, a sanitizer report, a leak, or an allocation
// above -malloc_limit_mb is a bug.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "greta/core/error.h"
#include "greta/gguf/gguf_file.h"
#include "greta/gguf/gguf_writer.h"
#include "greta/model/model.h"
#include "greta/quant/quant.h"
#if GRETA_FUZZ_HAVE_TOKENIZER
#include "greta/tokenizer/tokenizer.h"
#endif

namespace {

using greta::gguf::GgufFile;
using greta::gguf::ValueType;

volatile uint64_t g_sink = 0;

template <typename F>
void try_accessor(F&& f) {
  try {
    f();
  } catch (const greta::Error&) {
  }
}

void walk_metadata(const GgufFile& f) {
  for (const auto& kv : f.metadata()) {
    const auto key = kv.key;
    try_accessor([&] { g_sink += f.get_u32(key); });
    try_accessor([&] { g_sink += f.get_u64(key); });
    try_accessor([&] { g_sink += static_cast<uint64_t>(f.get_i64(key)); });
    try_accessor([&] { g_sink += static_cast<uint64_t>(f.get_f32(key) != 0.0f); });
    try_accessor([&] { g_sink += f.get_bool(key); });
    try_accessor([&] { g_sink += f.get_string(key).size(); });
    try_accessor([&] { g_sink += f.get_u32_or(key, 7) == 7; });
    for (int t = 0; t <= 12; ++t) {
      try_accessor([&] {
        const auto& arr = f.get_array(key, static_cast<ValueType>(t));
        // Read elements the way the tokenizer reads scores and token types.
        const uint64_t n = arr.size < 64 ? arr.size : 64;
        for (uint64_t i = 0; i < n; ++i) {
          if (arr.data != nullptr) {
            g_sink += static_cast<uint64_t>(arr.get_float(i) != 0.0);
            if (t != int(ValueType::F32) && t != int(ValueType::F64)) g_sink += static_cast<uint64_t>(arr.get_int(i));
          } else if (!arr.strings.empty()) {
            g_sink += arr.strings[i].size();
          } else if (!arr.arrays.empty()) {
            g_sink += arr.arrays[i].arr ? arr.arrays[i].arr->size : 0;
          }
        }
      });
    }
  }
  // Keys a llama loader asks for, present or not.
  for (const char* key : {"general.architecture", "llama.block_count", "llama.context_length",
                          "llama.embedding_length", "llama.attention.head_count", "tokenizer.ggml.model",
                          "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "general.alignment"}) {
    try_accessor([&] { g_sink += f.get_string_or(key, "x").size(); });
    try_accessor([&] { g_sink += f.get_u32_or(key, 1); });
    try_accessor([&] { g_sink += f.get_f32_or(key, 1.0f) != 0.0f; });
    try_accessor([&] { g_sink += f.get_bool_or(key, false); });
    try_accessor([&] { g_sink += f.find_array(key, ValueType::STRING) != nullptr; });
  }
}

void walk_tensors(const GgufFile& f) {
  std::vector<float> row;
  for (const auto& t : f.tensors()) {
    if (f.find_tensor(t.name) != &t) __builtin_trap();
    // Every byte of every tensor must lie inside the image (ASan checks the reads).
    uint64_t acc = 0;
    for (uint64_t i = 0; i < t.n_bytes; i += 61) acc += t.data[i];
    if (t.n_bytes > 0) acc += t.data[t.n_bytes - 1];
    g_sink += acc;
    if (t.row_bytes() * t.n_rows() != static_cast<int64_t>(t.n_bytes)) __builtin_trap();
    // Dequantize the first row (bounded so a huge ne[0] does not allocate gigabytes here).
    if (t.ne[0] <= (1 << 16)) {
      row.resize(static_cast<size_t>(t.ne[0]));
      greta::dequantize_row(t.type, t.data, row.data(), t.ne[0]);
      g_sink += row.empty() ? 0 : static_cast<uint64_t>(row[0] == row[0]);
    }
    g_sink += t.shape_string().size();
  }
}

// Writer round trip: every file the reader accepts, the writer reproduces (metadata and tensors).
void round_trip(const GgufFile& f) {
  if (f.file_size() > (1u << 20)) return;
  greta::gguf::GgufWriter w;
  try {
    if (f.has("general.alignment")) {
      w.set_alignment(static_cast<uint32_t>(f.alignment()));
    }
    for (const auto& kv : f.metadata()) {
      if (kv.key == "general.alignment") continue;
      w.add_value(kv.key, kv.value);
    }
    for (const auto& t : f.tensors()) {
      w.add_tensor(t.name, t.type, std::vector<int64_t>(t.ne.begin(), t.ne.begin() + t.n_dims), t.data);
    }
  } catch (const greta::Error&) {
    __builtin_trap();  // the writer refused something the reader accepted
  }
  const std::vector<uint8_t> bytes = w.to_bytes();
  auto g = GgufFile::from_bytes(bytes.data(), bytes.size(), "roundtrip.gguf");
  if (g->metadata().size() != f.metadata().size() || g->alignment() != f.alignment()) __builtin_trap();
  if (g->tensors().size() != f.tensors().size()) __builtin_trap();
  for (size_t i = 0; i < f.tensors().size(); ++i) {
    const auto& a = f.tensors()[i];
    const auto& b = g->tensors()[i];
    if (a.name != b.name || a.type != b.type || a.ne != b.ne || a.n_bytes != b.n_bytes) __builtin_trap();
    if (a.n_bytes != 0 && std::memcmp(a.data, b.data, a.n_bytes) != 0) __builtin_trap();
  }
  for (const auto& kv : f.metadata()) {
    const greta::gguf::Value* v = g->find(kv.key);
    if (v == nullptr || (v->type != kv.value.type && kv.key != "general.alignment")) __builtin_trap();
  }
}

void bind(const GgufFile& f) {
  try {
    auto m = greta::model::Model::load(f);
    g_sink += static_cast<uint64_t>(m->n_params() + m->weight_bytes_per_token());
  } catch (const greta::Error&) {
  }
#if GRETA_FUZZ_HAVE_TOKENIZER
  try {
    auto tok = greta::Tokenizer::from_gguf(f);
    const int32_t n = tok->vocab_size();
    for (greta::TokenId id = 0; id < n && id < 300; ++id) g_sink += tok->token_to_piece(id, true).size();
    g_sink += tok->encode("Hello world <s>", true, true).size();
  } catch (const greta::Error&) {
  }
#endif
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto f = GgufFile::from_bytes(data, size, "fuzz.gguf");
    bind(*f);
    walk_metadata(*f);
    walk_tensors(*f);
    round_trip(*f);
  } catch (const greta::Error&) {
  }
  return 0;
}
