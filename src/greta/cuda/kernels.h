#pragma once
// Launchers of the GPU backend's kernels (kernels.cu). Every pointer is device memory; shapes
// and dtypes are on each argument; every launch goes to the stream passed first. Row positions,
// block tables and token ids are read from device memory (DevBatch), so that a captured step
// replays unchanged for every batch of the same shape.
//
// Invariance contract (greta/backend/backend.h): each output element is computed by operations
// that depend only on the inputs it is a function of (its weight row, its activation row, its
// sequence's KV positions), never on how many rows are in the launch or where the row sits. So
// a row gives the same bits in a batch of 256 as alone, in any order.

#include <cstdint>

// Functions both the host and the kernels call.
#if defined(__CUDACC__) || defined(__HIPCC__)
#define GRETA_HOST_DEVICE __host__ __device__
#else
#define GRETA_HOST_DEVICE
#endif

namespace greta::cuda {

// A cudaStream_t (hipStream_t on HIP); nullptr is the default stream.
using Stream = void*;

// Storage of a weight matrix on the device: the 13 storage types of greta/quant, each kept in
// its own bits and dequantized in registers by the kernels.
enum class DevWeightType : int {
  F32 = 0, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K
};
// Storage of the KV cache.
enum class DevKvType : int { F32 = 0, F16 = 1, BF16 = 2 };

inline constexpr int kDevTile = 32;  // KV positions per attention tile and per cache block

// A block type's GGUF block, split losslessly into two planes so that the quants load as aligned
// 16-byte vectors: bytes [a_off, a_off + a_len) of every block (the quants, a_len a multiple of
// 16) go to plane A, the other block_bytes - a_len bytes (fp16 scales, packed sub-scales, high
// bits), in their order, to plane B. Same bytes, same total size as the file.
struct BlockSplit {
  int block_bytes = 0;
  int block_elems = 0;
  int a_off = 0;
  int a_len = 0;
  GRETA_HOST_DEVICE constexpr int b_len() const { return block_bytes - a_len; }
};
GRETA_HOST_DEVICE constexpr BlockSplit block_split(DevWeightType t) {
  switch (t) {
    case DevWeightType::Q8_0: return {34, 32, 2, 32};    // d | qs[32]
    case DevWeightType::Q4_0: return {18, 32, 2, 16};    // d | qs[16]
    case DevWeightType::Q4_1: return {20, 32, 4, 16};    // d m | qs[16]
    case DevWeightType::Q5_0: return {22, 32, 6, 16};    // d qh[4] | qs[16]
    case DevWeightType::Q5_1: return {24, 32, 8, 16};    // d m qh[4] | qs[16]
    case DevWeightType::Q2_K: return {84, 256, 0, 80};   // scales[16] qs[64] | d dmin
    case DevWeightType::Q3_K: return {110, 256, 0, 96};  // hmask[32] qs[64] | scales[12] d
    case DevWeightType::Q4_K: return {144, 256, 0, 144}; // d dmin scales[12] qs[128] (as is)
    case DevWeightType::Q5_K: return {176, 256, 0, 176}; // d dmin scales[12] qh[32] qs[128] (as is)
    case DevWeightType::Q6_K: return {210, 256, 0, 208}; // ql[128] qh[64] scales[16] | d
    default: return {};
  }
}
GRETA_HOST_DEVICE constexpr bool is_block_type(DevWeightType t) { return static_cast<int>(t) >= static_cast<int>(DevWeightType::Q8_0); }

// A weight matrix [rows N, cols K]. F32/F16/BF16: `data` is [N, ld] in that type, rows zero
// padded. Block types (K a multiple of the block size): `data` is plane A [N, K / block_elems,
// a_len] bytes and `aux` plane B [N, K / block_elems, b_len] bytes (block_split above).
struct DevMatrix {
  DevWeightType type = DevWeightType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t ld = 0;    // float types: elements per stored row (a multiple of 8)
  const void* data = nullptr;
  const uint8_t* aux = nullptr;
};

// The rows of the current micro-batch, in fixed device buffers (written by set_batch).
struct DevBatch {
  const int32_t* tokens = nullptr;        // [rows] token ids
  const int32_t* pos = nullptr;           // [rows] positions
  const int32_t* seq = nullptr;           // [rows] the row's block table
  const int32_t* fresh_row0 = nullptr;    // [rows] first batch row of the row's run (kv-aligned 0)
  const int32_t* out_rows = nullptr;      // [n_out] rows whose logits are wanted
  const int32_t* tables = nullptr;        // [n_tables, *table_stride] block ids
  const int32_t* table_stride = nullptr;  // [1]
};

// The paged KV cache: per layer l and block b, K [n_kv_head, head_dim, kDevTile] (tile-transposed)
// at k + ((l * n_blocks + b) * n_kv_head * head_dim * kDevTile) elements, and V
// [n_kv_head, kDevTile, head_dim] likewise in v; both in `type`.
struct DevKvPool {
  DevKvType type = DevKvType::F32;
  int32_t n_layer = 0;
  int32_t n_blocks = 0;
  int32_t n_kv_head = 0;
  int32_t head_dim = 0;
  void* k = nullptr;
  void* v = nullptr;
};

// y[m, n] (+)= sum_k W[n, k] x[m, k]. x: [m, w.cols] f32 stride ldx (16-byte aligned rows);
// y: [m, w.rows] stride ldy. Two kernels, chosen by (type, K) alone (matmul_tc.h):
//   - tensor cores (CUDA; F16/BF16 with K % 32 == 0 and every block type): x converted once
//     into `scratch` (f16/bf16, or 8-bit blocks of 32 with scales and sums), MMAs over four
//     fixed K slices folded in order (matmul_tc.cu states the arithmetic);
//   - FMA (F32, the rest, and every type on HIP or with GRETA_CUDA_MMA=0): one warp per
//     (n, group of R activation rows; R from m); lane l owns the 8-element groups l, l + 32, ...
//     of K in ascending order (block types dequantized in registers, bit-equal to
//     dequantize_row; float types then tail element 8 * (K / 8) + l) and takes
//     acc = fma(w_k, x_k, acc) for its elements in ascending k; a fixed xor-shuffle tree sums
//     the 32 partials.
// Either way a row's bits depend on its weight row, its activation row and K only.
// accumulate: y += (the sum). scratch: matmul_scratch_bytes(w, m) bytes of device memory.
void launch_matmul(Stream s, const DevMatrix& w, const float* x, int64_t ldx, int64_t m, float* y, int64_t ldy,
                   bool accumulate, void* scratch);
// Device scratch launch_matmul needs for m activation rows (0 when the FMA kernel runs w).
int64_t matmul_scratch_bytes(const DevMatrix& w, int64_t m);
// Several products of the same x in one launch (1..kMaxMulti outputs of one type and K); each
// output bit-identical to launch_matmul alone (the same warp code per row). Outputs whose types
// differ are launched one by one.
inline constexpr int kMaxMulti = 4;
struct DevMatmulOut {
  DevMatrix w;
  float* y = nullptr;
  int64_t ldy = 0;
};
void launch_matmul_multi(Stream s, const DevMatmulOut* outs, int n_outs, const float* x, int64_t ldx, int64_t m,
                         void* scratch);

// Reads `bytes` bytes of device memory `passes` times and returns the best pass's rate in GB/s
// (the device read bandwidth that bounds a decode step). Allocates and frees its buffer.
double measure_read_bandwidth_gb_s(int64_t bytes, int passes);

// out[r, :] = row tokens[r] of the table, converted to f32 exactly as dequantize_row does.
void launch_embed(Stream s, const DevMatrix& table, const DevBatch& b, int64_t n_rows, float* out, int64_t ldo);
// dst[i, :] = src[out_rows[i], :] for i < n_out (at most the batch's n_out); cols floats per row.
void launch_get_rows(Stream s, const DevBatch& b, int64_t n_out, const float* src, int64_t lds, int64_t cols,
                     float* dst, int64_t ldd);

// y[r, :] = x[r, :] * (1 / sqrt(mean(x[r, :]^2) + eps)) * w. x, y: [n_rows, n]; y may alias x.
void launch_rms_norm(Stream s, const float* x, int64_t ldx, const float* w, float* y, int64_t ldy, int64_t n_rows,
                     int64_t n, float eps);
// x[r, i] += y[r, i] over [n_rows, n].
void launch_add(Stream s, float* x, int64_t ldx, const float* y, int64_t ldy, int64_t n_rows, int64_t n);
// y[r, i] += b[i] over [n_rows, n].
void launch_add_bias(Stream s, float* y, int64_t ldy, const float* b, int64_t n_rows, int64_t n);
// out[r, i] = silu(g[r, i]) * u[r, i] over [n_rows, n]; out may alias g.
void launch_swiglu(Stream s, const float* g, int64_t ldg, const float* u, int64_t ldu, float* out, int64_t ldo,
                   int64_t n_rows, int64_t n);

// Rotates the heads of row r at position pos[r] in place. x: [n_rows, n_heads * head_dim] stride
// ldx; cos_t, sin_t: [n_pos, n_rot/2] f32 (the CPU's RopeTable, uploaded). neox: halves layout.
void launch_rope(Stream s, float* x, int64_t ldx, int64_t n_rows, int32_t n_heads, int32_t head_dim, int32_t n_rot,
                 bool neox, const float* cos_t, const float* sin_t, const DevBatch& b);

// Rounds K/V rows [n_rows, n_kv_head * head_dim] f32 to the cache type and stores row r in
// layer `layer` at block tables[seq[r]][pos[r] / 32], slot pos[r] % 32.
void launch_kv_store(Stream s, const DevKvPool& kv, int32_t layer, const float* k, int64_t ldk, const float* v,
                     int64_t ldv, const DevBatch& b, int64_t n_rows);

// The fresh f32 K/V of the batch (kv-aligned 0): row r reads positions [pos[fresh_row0[r]], pos[r]]
// from batch rows fresh_row0[r] + (p - pos[fresh_row0[r]]) instead of the cache.
struct DevFresh {
  bool on = false;
  const float* k = nullptr;  // [n_rows, n_kv_head * head_dim]
  int64_t ldk = 0;
  const float* v = nullptr;
  int64_t ldv = 0;
};

// Causal GQA attention of query rows r = 0..n-1 over their sequences' positions [0, pos[r]] of
// layer `layer`, per (row, head): chunks of 256 positions at fixed absolute boundaries
// [256c, 256c + 256), each an online softmax over its 32-position tiles in ascending order from
// the empty state, merged in ascending chunk order. The same procedure whatever n is, whether the
// chunks of a row run one after the other (one warp per (row, head)) or in parallel (`part`
// non-null, which the backend passes when a row is past position 1024, and n <= kAttnParallelRows: 8 warps per (row, head) store the chunk states in `part`,
// attention_part_floats floats, and a second kernel merges them). max_chunks: chunks of the
// longest sequence the block tables allow (table stride / 8, rounded up). q, out:
// [n, n_head * head_dim]. head_dim <= 256.
inline constexpr int64_t kAttnParallelRows = 16;
int64_t attention_part_floats(int64_t n, int32_t n_head, int32_t head_dim, int32_t max_chunks);
void launch_attention(Stream s, const DevKvPool& kv, int32_t layer, const float* q, int64_t ldq, int32_t n_head,
                      float scale, const DevFresh& fresh, const DevBatch& b, int64_t n, float* out, int64_t ldo,
                      float* part, int32_t max_chunks);

// Throws greta::Error if the last launch failed.
void check_last_launch(const char* what);

}  // namespace greta::cuda
