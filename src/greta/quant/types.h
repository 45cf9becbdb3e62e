#pragma once
// Tensor element types as stored in GGUF (ids equal ggml's `enum ggml_type`), with their block
// layouts. A "block" holds block_size() elements in type_size() bytes; a row of n elements
// (n a multiple of block_size) takes n / block_size * type_size bytes.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace greta {

enum class TensorType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  // Types greta knows by name and layout only (not storage types here), so errors can name them.
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

struct TensorTypeInfo {
  TensorType type;
  const char* name;      // lowercase ggml name: "f32", "q4_K", ...
  int64_t block_size;    // elements per block
  int64_t type_size;     // bytes per block
  bool is_storage_type;  // may appear in a GGUF file and be dequantized (Q8_K/Q8_1: no)
};

// Info for a raw ggml type id, or nullopt for an id greta does not know.
std::optional<TensorTypeInfo> tensor_type_info(uint32_t raw_type);
const TensorTypeInfo& tensor_type_info(TensorType type);

inline const char* tensor_type_name(TensorType t) { return tensor_type_info(t).name; }

// Parses "f32", "F16", "q8_0", "Q4_K", "bf16", ... (case-insensitive); nullopt if unknown.
std::optional<TensorType> tensor_type_from_name(std::string_view name);

// Bytes of a row of n elements. PRECONDITIONS: n % block_size == 0.
inline int64_t tensor_row_bytes(TensorType t, int64_t n) {
  const auto& info = tensor_type_info(t);
  return n / info.block_size * info.type_size;
}

}  // namespace greta
