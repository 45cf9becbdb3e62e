#pragma once
// GGUF reader: a validated, memory-mapped view of a GGUF v2/v3 file.
//
// The parser is a security boundary (GGUF files come from the internet). Every count, length,
// dimension, offset and size is checked with overflow-safe arithmetic against the file size
// before it is used; nothing is read outside the mapping; metadata allocations are bounded
// (docs/ARCHITECTURE.md, "GGUF validation bounds"). Any malformed file raises greta::Error with a specific message.
//
// Nothing is copied: strings are views into the mapping, tensor data are pointers into it.
// The GgufFile must outlive every view handed out.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "greta/quant/types.h"

namespace greta::gguf {

// Validation bounds (docs/ARCHITECTURE.md, "GGUF validation bounds").
inline constexpr uint64_t kMaxKeyBytes = 65535;        // metadata key length
inline constexpr uint64_t kMaxTensorNameBytes = 63;    // as ggml's GGML_MAX_NAME - 1
inline constexpr int kMaxDims = 4;                      // n_dims in [1, 4]
inline constexpr int kMaxArrayDepth = 8;                // an array nested in 7 more arrays at most
inline constexpr uint64_t kMaxNestedArrays = 1u << 16;  // inner arrays (elements of arrays of arrays) per file
// general.alignment: a power of two from 8 (the GGUF spec asks for a multiple of 8; it keeps
// tensor data 8-byte aligned in the mapping) to 1 MiB.
inline constexpr uint64_t kMinAlignment = 8;
inline constexpr uint64_t kMaxAlignment = 1u << 20;
inline constexpr uint64_t kDefaultAlignment = 32;

enum class ValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};
const char* value_type_name(ValueType t);  // "u32", "string", "array", ...

struct Value;

// The elements of a string array, read in place from the mapping. Memory is bounded by the file:
// one byte offset is kept for every kStride-th element (never one object per element, so an
// array of millions of empty strings costs n / kStride * 8 bytes, not 16 bytes each), and
// element i is found by walking at most kStride - 1 length prefixes from its checkpoint.
// Sequential iteration is O(1) per element.
class StringList {
 public:
  static constexpr uint64_t kStride = 64;

  uint64_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  std::string_view operator[](uint64_t i) const;  // PRECONDITIONS: i < size()

  class iterator {
   public:
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    std::string_view operator*() const;
    iterator& operator++();
    bool operator==(const iterator& o) const { return i_ == o.i_; }
    bool operator!=(const iterator& o) const { return i_ != o.i_; }

   private:
    friend class StringList;
    const uint8_t* p_ = nullptr;  // the current element's u64 length prefix
    uint64_t i_ = 0;
  };
  iterator begin() const;
  iterator end() const;

  bool operator==(const StringList& o) const;

  // Parser side: elements are appended in file order; `prefix` points at the element's u64
  // length prefix, already validated to lie inside the mapping with its bytes.
  void append(const uint8_t* prefix);

 private:
  const uint8_t* first_ = nullptr;
  uint64_t n_ = 0;
  std::vector<uint64_t> checkpoints_;  // byte offset from first_ of elements 0, kStride, 2*kStride, ...
};

// An array value. Numeric/bool elements stay in the mapping (little-endian, possibly unaligned)
// and are read through get<T>(); string elements are views; nested arrays are parsed Values.
struct ArrayValue {
  ValueType elem_type = ValueType::U8;
  uint64_t size = 0;
  const uint8_t* data = nullptr;          // numeric/bool elements: size * elem_size bytes
  StringList strings;                     // elem_type == STRING
  std::vector<Value> arrays;              // elem_type == ARRAY

  // Element i converted to T (numeric or bool arrays). PRECONDITIONS: i < size.
  int64_t get_int(uint64_t i) const;   // integer/bool element types
  double get_float(uint64_t i) const;  // any numeric element type
};

struct Value {
  ValueType type = ValueType::U8;
  uint64_t u = 0;        // U8/U16/U32/U64 and BOOL
  int64_t i = 0;         // I8/I16/I32/I64
  double f = 0.0;        // F32/F64
  std::string_view str;  // STRING
  std::shared_ptr<ArrayValue> arr;  // ARRAY
};

struct KeyValue {
  std::string_view key;
  Value value;
};

struct TensorInfo {
  std::string_view name;
  TensorType type = TensorType::F32;
  int n_dims = 0;
  std::array<int64_t, 4> ne{1, 1, 1, 1};  // ne[0] is the contiguous (row) dimension
  uint64_t offset = 0;                    // relative to the data section
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;          // into the mapping

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
  int64_t row_bytes() const { return tensor_row_bytes(type, ne[0]); }
  std::string shape_string() const;  // "[64, 512]"
};

class GgufFile {
 public:
  // Maps and validates `path`. Throws greta::Error naming the file and the problem.
  static std::unique_ptr<GgufFile> open(const std::string& path);
  // Validates an in-memory image (copied). Used by tests and fuzzers.
  static std::unique_ptr<GgufFile> from_bytes(const uint8_t* bytes, size_t size, std::string name = "<memory>");

  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return size_; }

  const std::vector<KeyValue>& metadata() const { return kv_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }

  const Value* find(std::string_view key) const;         // nullptr if absent
  const TensorInfo* find_tensor(std::string_view name) const;  // nullptr if absent
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Typed accessors. Integers accept any integer type whose value fits the requested type.
  // Errors: "key 'llama.block_count' missing", "key 'x' has type string, expected u32",
  // "key 'x' value -1 out of range for u32".
  uint32_t get_u32(std::string_view key) const;
  uint32_t get_u32_or(std::string_view key, uint32_t fallback) const;
  uint64_t get_u64(std::string_view key) const;
  int64_t get_i64(std::string_view key) const;
  float get_f32(std::string_view key) const;  // F32 or F64
  float get_f32_or(std::string_view key, float fallback) const;
  bool get_bool(std::string_view key) const;
  bool get_bool_or(std::string_view key, bool fallback) const;
  std::string_view get_string(std::string_view key) const;
  std::string_view get_string_or(std::string_view key, std::string_view fallback) const;
  // The array under key; expected_elem names the element type the caller needs (error otherwise).
  const ArrayValue& get_array(std::string_view key, ValueType expected_elem) const;
  const ArrayValue* find_array(std::string_view key, ValueType expected_elem) const;  // nullptr if absent

 private:
  GgufFile() = default;
  void parse();

  std::string path_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  void* mapping_ = nullptr;      // mmap'd region (open) or nullptr
  std::vector<uint8_t> owned_;   // from_bytes copy
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<KeyValue> kv_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string_view, size_t> kv_index_;
  std::unordered_map<std::string_view, size_t> tensor_index_;
};

}  // namespace greta::gguf
