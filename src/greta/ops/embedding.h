#pragma once
// Embedding lookup: out[r] = table row ids[r], dequantized to f32.

#include <cstdint>

#include "greta/cpu/matmul.h"

namespace greta::ops {

// table: [n_vocab, n_embd] in any storage type (the token_embd tensor, in place in the mapping).
// out: [n, n_embd] f32, row stride ld. PRECONDITIONS: every id in [0, table.rows).
void embedding_lookup(const cpu::WeightMatrix& table, const int32_t* ids, int64_t n, float* out, int64_t ld,
                      ThreadPool& pool);

// Scalar reference (one row).
void embedding_reference(const cpu::WeightMatrix& table, int32_t id, float* out);

}  // namespace greta::ops
