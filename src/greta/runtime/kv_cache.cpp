#include "greta/runtime/kv_cache.h"

#include "greta/core/error.h"

namespace greta {

KvCache::KvCache(int32_t n_layer, int32_t n_ctx, int32_t n_kv_head, int32_t head_dim, ops::KvType type)
    : n_ctx_(n_ctx), type_(type) {
  GRETA_ASSERT(n_layer > 0 && n_ctx > 0 && n_kv_head > 0 && head_dim > 0);
  // Padded to whole attention tiles (see ops::KvLayer for the layouts).
  const size_t per_tensor = static_cast<size_t>(ops::KvLayer::bytes_per_tensor(type, n_ctx, n_kv_head, head_dim));
  // Zero-filled: positions beyond n_past are never read, but a defined content keeps tools such
  // as valgrind quiet and costs nothing on fresh pages.
  storage_.assign(per_tensor * 2 * n_layer, 0);
  layers_.resize(n_layer);
  for (int32_t il = 0; il < n_layer; ++il) {
    ops::KvLayer& l = layers_[il];
    l.type = type;
    l.n_ctx = n_ctx;
    l.n_kv_head = n_kv_head;
    l.head_dim = head_dim;
    l.k = storage_.data() + per_tensor * (2 * static_cast<size_t>(il));
    l.v = storage_.data() + per_tensor * (2 * static_cast<size_t>(il) + 1);
  }
}

}  // namespace greta
