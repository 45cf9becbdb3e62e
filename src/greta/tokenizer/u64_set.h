#pragma once
// A small open-addressing hash set/map of 64-bit keys for the tokenizers' hot loops, where
// std::unordered_map's node chasing dominated the profile. Internal to greta_tokenizer.

#include <cstdint>
#include <vector>

namespace greta {

// Maps 64-bit keys to V. Insert-only; the first insertion of a key wins.
template <typename V>
class U64Map {
 public:
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    if (cap > slots_.size()) rehash(cap);
  }
  // Returns false (and keeps the old value) if the key is present.
  bool insert(uint64_t key, const V& value) {
    if (2 * (size_ + 1) > slots_.size()) rehash(slots_.empty() ? 16 : 2 * slots_.size());
    size_t i = index(key);
    while (slots_[i].used) {
      if (slots_[i].key == key) return false;
      i = (i + 1) & (slots_.size() - 1);
    }
    slots_[i] = {key, value, true};
    ++size_;
    return true;
  }
  const V* find(uint64_t key) const {
    if (slots_.empty()) return nullptr;
    size_t i = index(key);
    while (slots_[i].used) {
      if (slots_[i].key == key) return &slots_[i].value;
      i = (i + 1) & (slots_.size() - 1);
    }
    return nullptr;
  }
  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t key = 0;
    V value{};
    bool used = false;
  };
  size_t index(uint64_t key) const {
    // Fibonacci hashing: a multiply spreads the packed ids/bytes over the high bits.
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 32) & (slots_.size() - 1);
  }
  void rehash(size_t cap) {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(cap, Slot{});
    size_ = 0;
    for (const Slot& s : old) {
      if (s.used) insert(s.key, s.value);
    }
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
};

class U64Set {
 public:
  void insert(uint64_t key) { map_.insert(key, 1); }
  bool contains(uint64_t key) const { return map_.find(key) != nullptr; }

 private:
  U64Map<uint8_t> map_;
};

}  // namespace greta
