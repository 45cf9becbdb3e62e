#pragma once
// Overflow-safe arithmetic for untrusted sizes (GGUF counts, offsets, dims).
// Each returns false on overflow and leaves *out unspecified.

#include <cstdint>

namespace greta {

inline bool checked_add(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_add_overflow(a, b, out); }
inline bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }

}  // namespace greta
