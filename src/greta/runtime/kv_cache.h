#pragma once
// The KV cache of a session: per layer, K (tile-transposed) and V in the cache type (f32, f16 or
// bf16), padded to whole attention tiles, allocated once. Attention (ops/attention.h) reads it through
// ops::KvLayer views.

#include <cstdint>
#include <vector>

#include "greta/ops/attention.h"

namespace greta {

class KvCache {
 public:
  KvCache(int32_t n_layer, int32_t n_ctx, int32_t n_kv_head, int32_t head_dim, ops::KvType type);

  int32_t n_ctx() const { return n_ctx_; }
  ops::KvType type() const { return type_; }
  const std::vector<ops::KvLayer>& layers() const { return layers_; }
  int64_t bytes() const { return static_cast<int64_t>(storage_.size()); }

 private:
  int32_t n_ctx_;
  ops::KvType type_;
  std::vector<uint8_t> storage_;  // [n_layer, 2 (K, V), per-layer layouts of ops::KvLayer] in type_
  std::vector<ops::KvLayer> layers_;
};

}  // namespace greta
