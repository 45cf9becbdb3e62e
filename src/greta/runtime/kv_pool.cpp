#include "greta/runtime/kv_pool.h"

#include <algorithm>
#include <functional>

#include "greta/core/error.h"

namespace greta {

KvPool::KvPool(int32_t n_blocks) : refs_(static_cast<size_t>(n_blocks), 0) {
  GRETA_ASSERT(n_blocks > 0);
  free_.reserve(static_cast<size_t>(n_blocks));
  for (int32_t b = n_blocks - 1; b >= 0; --b) free_.push_back(b);
}

int32_t KvPool::alloc() {
  GRETA_ASSERT(!free_.empty());
  const int32_t b = free_.back();
  free_.pop_back();
  refs_[static_cast<size_t>(b)] = 1;
  return b;
}

void KvPool::retain(int32_t block) {
  GRETA_ASSERT(refs_[static_cast<size_t>(block)] > 0);
  refs_[static_cast<size_t>(block)] += 1;
}

void KvPool::release(int32_t block) {
  int32_t& r = refs_[static_cast<size_t>(block)];
  GRETA_ASSERT(r > 0);
  if (--r == 0) {
    // Keep the free list sorted (highest first) so that alloc() always takes the lowest id.
    free_.insert(std::upper_bound(free_.begin(), free_.end(), block, std::greater<int32_t>()), block);
  }
}

}  // namespace greta
