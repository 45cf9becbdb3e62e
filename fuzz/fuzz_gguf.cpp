// libFuzzer target: the GGUF load path on an untrusted image.
//
// Parses the input with GgufFile::from_bytes, then does what a loader does with a file that
// validated: walks every tensor (touching every byte and dequantizing its first row), and calls
// every typed metadata accessor on every key, the way model binding and the tokenizer read them.
// Any greta::Error is an accepted outcome; a crash, a sanitizer report, a leak, or an allocation
// above -malloc_limit_mb is a bug.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "greta/core/error.h"
#include "greta/gguf/gguf_file.h"
#include "greta/quant/quant.h"

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto f = GgufFile::from_bytes(data, size, "fuzz.gguf");
    walk_metadata(*f);
    walk_tensors(*f);
  } catch (const greta::Error&) {
  }
  return 0;
}
