#pragma once
// The block allocator of the paged KV cache: n_blocks blocks of backend::kKvBlock positions,
// each with a reference count (a block shared by forked sequences has one reference per
// sequence). A block returns to the free list the moment its last reference goes. The storage
// itself is the backend's (Backend::kv_init); this class only hands out block ids.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace greta {

class KvPool {
 public:
  explicit KvPool(int32_t n_blocks);

  int32_t n_blocks() const { return static_cast<int32_t>(refs_.size()); }
  int32_t n_free() const { return static_cast<int32_t>(free_.size()); }
  int32_t n_used() const { return n_blocks() - n_free(); }
  int32_t refcount(int32_t block) const { return refs_[static_cast<size_t>(block)]; }

  // A free block with one reference; the lowest free id first (a deterministic layout).
  // PRECONDITIONS: n_free() > 0.
  int32_t alloc();
  void retain(int32_t block);
  void release(int32_t block);

 private:
  std::vector<int32_t> refs_;  // [n_blocks]
  std::vector<int32_t> free_;  // free ids, highest first (alloc pops the lowest)
};

}  // namespace greta
