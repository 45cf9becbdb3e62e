#pragma once
// GGUF v3 writer.
//
// Metadata is serialized as it is added; tensors are declared with name, type and shape, and
// their bytes are produced at write time by a callback that streams them into a ByteSink, so a
// multi-gigabyte model never needs an in-memory copy. write_file() is atomic: it writes
// "<path>.tmp.<pid>", fsyncs it and renames it over `path`; on any error the temporary file is
// removed and greta::Error is thrown, so no partial file is ever left at `path`.
//
// The writer refuses what the reader would reject (duplicate keys or tensor names, n_dims
// outside [1, 4], a row length that is not a multiple of the type's block size, ...), with the
// same bounds (gguf_file.h).

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "greta/gguf/gguf_file.h"

namespace greta::gguf {

// Destination of serialized bytes (a file, or a vector in tests).
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual void write(const void* data, size_t n) = 0;
};

// Streams exactly the tensor's n_bytes into `out`, in order.
using TensorDataFn = std::function<void(ByteSink& out)>;

class GgufWriter {
 public:
  GgufWriter() = default;

  // Sets the data alignment (power of two in [kMinAlignment, kMaxAlignment]) and writes it as general.alignment (u32).
  void set_alignment(uint32_t alignment);
  uint64_t alignment() const { return alignment_; }

  void add_u8(std::string_view key, uint8_t v);
  void add_i8(std::string_view key, int8_t v);
  void add_u16(std::string_view key, uint16_t v);
  void add_i16(std::string_view key, int16_t v);
  void add_u32(std::string_view key, uint32_t v);
  void add_i32(std::string_view key, int32_t v);
  void add_u64(std::string_view key, uint64_t v);
  void add_i64(std::string_view key, int64_t v);
  void add_f32(std::string_view key, float v);
  void add_f64(std::string_view key, double v);
  void add_bool(std::string_view key, bool v);
  void add_string(std::string_view key, std::string_view v);
  // A numeric/bool array: n elements of elem (little-endian, elem's size each) at data.
  void add_array(std::string_view key, ValueType elem, const void* data, uint64_t n);
  void add_string_array(std::string_view key, const std::vector<std::string>& v);
  void add_array_f32(std::string_view key, const std::vector<float>& v) {
    add_array(key, ValueType::F32, v.data(), v.size());
  }
  void add_array_i32(std::string_view key, const std::vector<int32_t>& v) {
    add_array(key, ValueType::I32, v.data(), v.size());
  }
  // Any parsed value, nested arrays included (copies metadata from another file).
  void add_value(std::string_view key, const Value& v);

  // Declares a tensor; `shape` is ne[0..n_dims) (ne[0] contiguous); `fill` runs during write.
  void add_tensor(std::string_view name, TensorType type, const std::vector<int64_t>& shape, TensorDataFn fill);
  // Declares a tensor whose n_bytes bytes are at `data`. PRECONDITIONS: data outlives the write.
  void add_tensor(std::string_view name, TensorType type, const std::vector<int64_t>& shape, const void* data);

  size_t n_kv() const { return n_kv_; }
  size_t n_tensors() const { return tensors_.size(); }

  // Serializes the whole file into `out`.
  void write_to(ByteSink& out) const;
  // Atomically writes the file at `path` (see above).
  void write_file(const std::string& path) const;
  // The whole file in memory (tests, small files).
  std::vector<uint8_t> to_bytes() const;

 private:
  struct PendingTensor {
    std::string name;
    TensorType type;
    std::vector<int64_t> shape;
    uint64_t n_bytes = 0;
    uint64_t offset = 0;
    TensorDataFn fill;
  };
  void begin_key(std::string_view key, ValueType type);
  void put_value_payload(const Value& v);
  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    kv_bytes_.insert(kv_bytes_.end(), p, p + sizeof(T));
  }
  void put_string(std::string_view s);

  uint64_t alignment_ = kDefaultAlignment;
  std::vector<uint8_t> kv_bytes_;  // serialized key/value pairs
  size_t n_kv_ = 0;
  std::unordered_set<std::string> keys_;
  std::unordered_set<std::string> tensor_names_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace greta::gguf
