#pragma once
// Rotary position embedding (RoPE), normal (GPT-J: adjacent pairs) and NeoX (halves) layouts.
//
// For pair i in [0, n_rot/2): theta = pos * freq_scale * base^(-2i/n_rot) / freq_factors[i]
// (freq_factors: Llama 3.1's `rope_freqs` tensor, or none). Dimensions >= n_rot pass through.

#include <cstdint>
#include <vector>

#include "greta/backend/backend.h"

namespace greta { class ThreadPool; }

namespace greta::ops {

using RopeType = backend::RopeType;
using RopeParams = backend::RopeParams;

// cos/sin of every (position, pair), computed once per session in f64 and rounded to f32.
class RopeTable {
 public:
  RopeTable() = default;
  RopeTable(const RopeParams& params, int32_t n_pos);
  const RopeParams& params() const { return params_; }
  int32_t n_pos() const { return n_pos_; }
  const float* cos_row(int32_t pos) const { return cos_.data() + static_cast<int64_t>(pos) * (params_.n_rot / 2); }
  const float* sin_row(int32_t pos) const { return sin_.data() + static_cast<int64_t>(pos) * (params_.n_rot / 2); }

 private:
  RopeParams params_;
  int32_t n_pos_ = 0;
  std::vector<float> cos_;  // [n_pos, n_rot/2]
  std::vector<float> sin_;  // [n_pos, n_rot/2]
};

// Rotates one token's heads in place: x [n_heads, head_dim] f32 at position pos.
void rope_row(const RopeTable& table, float* x, int32_t n_heads, int32_t head_dim, int32_t pos);

// Optimised batch: row r at position pos[r]; x row stride ld; rows threaded.
void rope(const RopeTable& table, float* x, int64_t ld, int64_t n_rows, int32_t n_heads, int32_t head_dim,
          const int32_t* pos, ThreadPool& pool);

// Scalar reference: computes every angle directly (no table).
void rope_reference(const RopeParams& params, float* x, int32_t n_heads, int32_t head_dim, int32_t pos);

}  // namespace greta::ops
