#pragma once
// Launchers of the GPU backend's kernels (kernels.cu). Every pointer is device memory; shapes
// and dtypes are on each argument. Launches go, in call order, to the stream last given to
// launch_set_stream on the calling thread (the default stream if none). Positions are read
// from device memory (`pos0`: one int32), so that a captured decode graph can be replayed at
// every position.
//
// Equivalence contract: each output element is computed by operations that depend only on the
// inputs it is a function of (its weight row, its activation row, its position's KV range),
// never on how many rows are in the launch. So a row gives the same bits in a batch of 256 as
// alone, which is what makes prefill == decode on the GPU.

#include <cstdint>

namespace greta::cuda {

// A cudaStream_t (nullptr: the default stream), for this thread's later launches.
void launch_set_stream(void* stream);

// Storage of a weight matrix on the device.
enum class DevWeightType : int { F32 = 0, F16 = 1, BF16 = 2, Q8_0 = 3, Q4_0 = 4 };
// Storage of the KV cache.
enum class DevKvType : int { F32 = 0, F16 = 1, BF16 = 2 };

inline constexpr int kDevTile = 32;  // KV positions per attention tile (absolute boundaries)

// A weight matrix [rows N, cols K]. F32/F16/BF16: `data` is [N, ld] in that type. Q8_0: `data`
// is the int8 quants [N, K] and `scales` [N, K/32] f32 (the fp16 block scales, widened). Q4_0:
// `data` is [N, K/32, 16] bytes (ggml's nibble order) and `scales` [N, K/32] f32.
struct DevMatrix {
  DevWeightType type = DevWeightType::F32;
  int64_t rows = 0;
  int64_t cols = 0;  // float types: a multiple of 4; Q8_0/Q4_0: a multiple of 32
  int64_t ld = 0;    // float types: elements per stored row (cols rounded up to 8, zero padded)
  const void* data = nullptr;
  const float* scales = nullptr;
};

// y[m, n] = sum_k W[n, k] x[m, k]. x: [m, w.cols] f32 stride ldx; y: [m, w.rows] stride ldy.
// One block of 128 threads per (n, group of 8 rows, or 1 row for m == 1); thread t owns the
// 8-element groups t, t+128, ... of K in ascending order (then, for float types with
// K % 8 == 4, tail element 8 * (K / 8) + t); a fixed xor-shuffle tree per warp and a fixed
// (w0 + w1) + (w2 + w3) merge sum the 128 partials.
// accumulate: y[m, n] += (the sum) instead of = (the residual add, fused).
void launch_matmul(const DevMatrix& w, const float* x, int64_t ldx, int64_t m, float* y, int64_t ldy,
                   bool accumulate = false);

// y[r, :] = x[r, :] * (1 / sqrt(mean(x[r, :]^2) + eps)) * w. x, y: [n_rows, n] stride ld.
void launch_rms_norm(const float* x, const float* w, float* y, int64_t n_rows, int64_t n, int64_t ld, float eps);

// y[r, i] += b[i] over [n_rows, n] (row stride n).
void launch_add_bias(float* y, const float* b, int64_t n_rows, int64_t n);
// x[i] += y[i] over n elements.
void launch_add(float* x, const float* y, int64_t n);
// g[i] = silu(g[i]) * u[i] over n elements.
void launch_swiglu(float* g, const float* u, int64_t n);

// Rotates rows r = 0..n_rows-1 at positions pos0 + r in place. x: [n_rows, n_heads * head_dim];
// cos_t, sin_t: [n_ctx, n_rot/2] f32 (the CPU's RopeTable, uploaded). neox: halves layout.
void launch_rope(float* x, int64_t n_rows, int32_t n_heads, int32_t head_dim, int32_t n_rot, bool neox,
                 const float* cos_t, const float* sin_t, const int32_t* pos0);

// One layer's cache. K: [n_kv_head, n_tiles, head_dim, kDevTile] (tile-transposed: a tile's
// scores read consecutive lanes), V: [n_kv_head, n_tiles * kDevTile, head_dim]; both in `type`.
struct DevKvLayer {
  DevKvType type = DevKvType::F32;
  int32_t n_tiles = 0;
  int32_t n_kv_head = 0;
  int32_t head_dim = 0;
  void* k = nullptr;
  void* v = nullptr;
};

// Rounds K/V rows [n_rows, n_kv_head * head_dim] f32 to the cache type and stores them at
// positions pos0 .. pos0 + n_rows - 1.
void launch_kv_store(const DevKvLayer& kv, const float* k, const float* v, const int32_t* pos0, int64_t n_rows);

// Causal GQA attention of query rows r = 0..n-1 (positions pos0 + r) over the cache [0, pos].
// One warp per (row, head): an online softmax over the tiles [32t, 32t + 32) in ascending order,
// the same procedure whatever n is. q, out: [n, n_head * head_dim]. head_dim <= 256.
void launch_attention(const DevKvLayer& kv, const float* q, int32_t n_head, float scale, const int32_t* pos0,
                      int64_t n, float* out);

// Throws greta::Error if the last launch failed.
void check_last_launch(const char* what);

}  // namespace greta::cuda
