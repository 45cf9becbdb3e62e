#pragma once
// The vocabulary shared by the model code and every backend: weight views (type, shape, bytes in
// the mapped GGUF file), the one KV cache dtype enum, and the handles through which the graph
// names backend memory. Nothing here depends on a backend.

#include <cstdint>

#include "greta/quant/types.h"

namespace greta {

// The element type of the KV cache. The one enum for it: CLIs, sessions, dumps and backends.
enum class KvType { F32, F16, BF16 };
int64_t kv_type_size(KvType t);         // bytes per element: 4 or 2
const char* kv_type_name(KvType t);     // "f32", "f16", "bf16"
using KvDtype = KvType;                 // the name the session options and CLIs use

// One tensor as stored in the GGUF file, in place in the mapping (no copy). A matrix is
// [rows, cols] (GGUF shape [cols, rows]: ne0 = cols is the row length); a vector is [1, cols].
struct WeightView {
  TensorType type = TensorType::F32;
  int64_t rows = 0;       // N (output features); 1 for a vector
  int64_t cols = 0;       // K (input features); a multiple of the type's block size
  int64_t row_bytes = 0;  // bytes of one row
  const uint8_t* data = nullptr;

  bool present() const { return data != nullptr; }
  int64_t elements() const { return rows * cols; }
  int64_t bytes() const { return rows * row_bytes; }
  // For f32 vectors (norm weights, biases, frequency factors).
  const float* f32() const { return reinterpret_cast<const float*>(data); }
};

namespace backend {

// A weight as the graph names it: the host view, and the backend's own copy or description of
// it (`dev`: nullptr for the CPU backend, which computes from the mapping; a device structure
// for a GPU backend). Filled by Backend::upload.
struct Weight {
  WeightView host;
  const void* dev = nullptr;

  bool present() const { return host.present(); }
};

// An f32 activation buffer [rows, cols] with row stride ld, in the backend's memory (host or
// device). The graph never dereferences `data`; it only passes tensors to backend ops.
struct Tensor {
  float* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t ld = 0;

  // The first n rows (the rows of the current micro-batch).
  Tensor first(int64_t n) const { return Tensor{data, n, cols, ld}; }
  // Rows [r0, r0 + n).
  Tensor slice(int64_t r0, int64_t n) const { return Tensor{data + r0 * ld, n, cols, ld}; }
};

}  // namespace backend
}  // namespace greta
