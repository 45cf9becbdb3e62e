// The GPU backend's kernels. Built with -fmad=false: every fused multiply-add is an explicit
// __fmaf_rn, every other a*b+c is a multiply and an add, in every kernel alike.

#include "greta/cuda/kernels.h"

#include <math.h>
#include <stdint.h>

#include <string>

#include "greta/core/error.h"
#include "greta/cuda/gpu_compat.h"

namespace greta::cuda {
namespace {

constexpr int kWarp = 32;           // logical warp (gpu_compat.h)
constexpr int kBlock = 128;         // threads per block for warp-per-task kernels
constexpr int kRowsPerWarp = 8;     // activation rows sharing one read of a weight row
constexpr int kMaxHeadDim = 256;    // attention: head_dim / 32 accumulators per lane

__device__ __forceinline__ float bf16_bits_to_f32(uint16_t b) { return __uint_as_float(uint32_t{b} << 16); }
__device__ __forceinline__ float f16_bits_to_f32(uint16_t b) { return __half2float(__ushort_as_half(b)); }

// Round to nearest even, NaN kept quiet (the CPU's fp32_to_bf16).
__device__ __forceinline__ uint16_t f32_to_bf16_bits(float f) {
  const uint32_t u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
// The CPU's fp32_to_fp16: round to nearest even; NaN becomes the canonical quiet NaN, sign kept.
__device__ __forceinline__ uint16_t f32_to_f16_bits(float f) {
  const uint32_t u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>(((u >> 16) & 0x8000u) | 0x7e00u);
  return __half_as_ushort(__float2half_rn(f));
}
// The CPU's fp16_to_fp32, NaN payloads included (the embedding's exact copy).
__device__ __forceinline__ float f16_bits_to_f32_exact(uint16_t b) {
  if ((b & 0x7c00u) == 0x7c00u) {
    return __uint_as_float((uint32_t{b} & 0x8000u) << 16 | 0x7f800000u | (uint32_t{b} & 0x3ffu) << 13);
  }
  return f16_bits_to_f32(b);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int off = 16; off >= 1; off >>= 1) v += GRETA_SHFL_XOR(v, off);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int off = 16; off >= 1; off >>= 1) v = fmaxf(v, GRETA_SHFL_XOR(v, off));
  return v;
}

// ---- matmul ----

// Decodes the 8 weights of group g (elements 8g .. 8g+7) of row n. Returns the block scale for
// quantized types (1 for float types, whose w are the values themselves).
template <int T>
__device__ __forceinline__ float load_group(const void* data, const float* scales, int64_t n, int64_t K, int64_t ld,
                                            int64_t g, float w[8]) {
  if constexpr (T == static_cast<int>(DevWeightType::F32)) {
    const float4* p = reinterpret_cast<const float4*>(static_cast<const float*>(data) + n * ld) + 2 * g;
    const float4 a = p[0], b = p[1];
    w[0] = a.x; w[1] = a.y; w[2] = a.z; w[3] = a.w; w[4] = b.x; w[5] = b.y; w[6] = b.z; w[7] = b.w;
    return 1.0f;
  } else if constexpr (T == static_cast<int>(DevWeightType::F16) || T == static_cast<int>(DevWeightType::BF16)) {
    const uint4 u = reinterpret_cast<const uint4*>(static_cast<const uint16_t*>(data) + n * ld)[g];
    const uint32_t parts[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const uint16_t lo = static_cast<uint16_t>(parts[i] & 0xffffu), hi = static_cast<uint16_t>(parts[i] >> 16);
      if constexpr (T == static_cast<int>(DevWeightType::F16)) {
        w[2 * i] = f16_bits_to_f32(lo);
        w[2 * i + 1] = f16_bits_to_f32(hi);
      } else {
        w[2 * i] = bf16_bits_to_f32(lo);
        w[2 * i + 1] = bf16_bits_to_f32(hi);
      }
    }
    return 1.0f;
  } else if constexpr (T == static_cast<int>(DevWeightType::Q8_0)) {
    const uint2 u = reinterpret_cast<const uint2*>(static_cast<const int8_t*>(data) + n * K)[g];
    const uint32_t parts[2] = {u.x, u.y};
#pragma unroll
    for (int i = 0; i < 8; ++i) w[i] = static_cast<float>(static_cast<int8_t>((parts[i / 4] >> (8 * (i % 4))) & 0xffu));
    return scales[n * (K / 32) + g / 4];
  } else {  // Q4_0: group g is sub-group (g % 4) of block g / 4
    const int64_t b = g / 4;
    const int sub = static_cast<int>(g % 4);
    const uint8_t* blk = static_cast<const uint8_t*>(data) + (n * (K / 32) + b) * 16;
    const uint2 u = *reinterpret_cast<const uint2*>(blk + (sub & 1) * 8);
    const uint32_t parts[2] = {u.x, u.y};
    const int shift = (sub >> 1) * 4;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int q = static_cast<int>((parts[i / 4] >> (8 * (i % 4) + shift)) & 0xfu);
      w[i] = static_cast<float>(q - 8);
    }
    return scales[n * (K / 32) + b];
  }
}

// R: activation rows per warp (8 for batches, 1 for decode). R only decides which rows share a
// read of the weight row; the operations producing y[m, n] are the same for every R.
template <int T, int R>
__global__ void __launch_bounds__(kBlock) matmul_kernel(const void* data, const float* scales, int64_t N, int64_t K, int64_t ld, const float* x,
                              int64_t ldx, int64_t M, float* y, int64_t ldy, bool accumulate) {
  __shared__ float warp_part[kBlock / kWarp][R];
  const int t = threadIdx.x, lane = t % kWarp, warp = t / kWarp;
  const int64_t n = blockIdx.x;  // one output feature per block
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * R;
  const int mr = static_cast<int>(M - m0 < R ? M - m0 : R);
  constexpr bool kQuant = T == static_cast<int>(DevWeightType::Q8_0) || T == static_cast<int>(DevWeightType::Q4_0);
  float acc[R];
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = 0.0f;
  const int64_t n_groups = K / 8;
  // Thread t owns groups t, t + kBlock, ... Unrolled so that several weight loads are in flight;
  // the order of the fused multiply-adds into acc[r] stays g ascending.
#pragma unroll 4
  for (int64_t g = t; g < n_groups; g += kBlock) {
    float w[8];
    const float d = load_group<T>(data, scales, n, K, ld, g, w);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (r < mr) {
        const float4* xp = reinterpret_cast<const float4*>(x + (m0 + r) * ldx) + 2 * g;
        const float4 a = xp[0], b = xp[1];
        const float xv[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
        if constexpr (kQuant) {
          // Block partial over the 8 integer weights, then scaled into the row's accumulator.
          float p = w[0] * xv[0];
#pragma unroll
          for (int i = 1; i < 8; ++i) p = __fmaf_rn(w[i], xv[i], p);
          acc[r] = __fmaf_rn(d, p, acc[r]);
        } else {
#pragma unroll
          for (int i = 0; i < 8; ++i) acc[r] = __fmaf_rn(w[i], xv[i], acc[r]);
        }
      }
    }
  }
  if constexpr (!kQuant) {
    // Float types allow K % 8 == 4: thread t < 4 takes tail element 8 * (K / 8) + t last.
    const int64_t k = n_groups * 8 + t;
    if (k < K) {
      float wk;
      if constexpr (T == static_cast<int>(DevWeightType::F32)) wk = static_cast<const float*>(data)[n * ld + k];
      else if constexpr (T == static_cast<int>(DevWeightType::F16)) wk = f16_bits_to_f32(static_cast<const uint16_t*>(data)[n * ld + k]);
      else wk = bf16_bits_to_f32(static_cast<const uint16_t*>(data)[n * ld + k]);
#pragma unroll
      for (int r = 0; r < R; ++r) {
        if (r < mr) acc[r] = __fmaf_rn(wk, x[(m0 + r) * ldx + k], acc[r]);
      }
    }
  }
  // Fixed reduction: a shuffle tree per warp, then the 4 warp sums as (w0 + w1) + (w2 + w3).
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const float s = warp_sum(acc[r]);
    if (lane == 0) warp_part[warp][r] = s;
  }
  __syncthreads();
  static_assert(kBlock / kWarp == 4, "the final tree below sums 4 warps");
  if (t < mr) {
    const float s = (warp_part[0][t] + warp_part[1][t]) + (warp_part[2][t] + warp_part[3][t]);
    float* out = y + (m0 + t) * ldy + n;
    *out = accumulate ? *out + s : s;  // the residual add, fused: the same one addition
  }
}

// ---- embedding and row gathers ----

// One thread per output element: the conversion of dequantize_row, element by element (the
// products are single f32 multiplications, as on the CPU; -fmad=false keeps them unfused).
__global__ void embed_kernel(DevMatrix t, DevBatch b, int64_t n_rows, float* out, int64_t ldo) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_rows * t.cols) return;
  const int64_t r = i / t.cols, c = i % t.cols;
  const int64_t tok = b.tokens[r];
  float f;
  switch (t.type) {
    case DevWeightType::F32: f = static_cast<const float*>(t.data)[tok * t.ld + c]; break;
    case DevWeightType::F16: f = f16_bits_to_f32_exact(static_cast<const uint16_t*>(t.data)[tok * t.ld + c]); break;
    case DevWeightType::BF16: f = bf16_bits_to_f32(static_cast<const uint16_t*>(t.data)[tok * t.ld + c]); break;
    case DevWeightType::Q8_0:
      f = static_cast<float>(static_cast<const int8_t*>(t.data)[tok * t.cols + c]) * t.scales[tok * (t.cols / 32) + c / 32];
      break;
    default: {  // Q4_0: element j of a block is the low nibble of byte j, element j + 16 the high one
      const int64_t blk = tok * (t.cols / 32) + c / 32;
      const int j = static_cast<int>(c % 32);
      const uint8_t q = static_cast<const uint8_t*>(t.data)[blk * 16 + (j % 16)];
      const int x = (j < 16 ? (q & 0x0f) : (q >> 4)) - 8;
      f = static_cast<float>(x) * t.scales[blk];
      break;
    }
  }
  out[r * ldo + c] = f;
}

__global__ void get_rows_kernel(DevBatch b, int64_t n_out, const float* src, int64_t lds, int64_t cols, float* dst,
                                int64_t ldd) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_out * cols) return;
  const int64_t r = i / cols, c = i % cols;
  dst[r * ldd + c] = src[static_cast<int64_t>(b.out_rows[r]) * lds + c];
}

// ---- elementwise and per-row kernels ----

// One block of kNormThreads per row: thread t sums elements t, t + kNormThreads, ... in
// ascending order; each warp's 32 sums go through the shuffle tree, then warp 0 sums the 8 warp
// sums through a tree of its own -- the same order for every row of length n.
constexpr int kNormThreads = 256;
__global__ void __launch_bounds__(kNormThreads) rms_norm_kernel(const float* x, int64_t ldx, const float* w, float* y,
                                                                int64_t ldy, int64_t n, float eps) {
  __shared__ float warp_sums[kNormThreads / kWarp];
  __shared__ float row_scale;
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int64_t r = blockIdx.x;
  const float* xr = x + r * ldx;
  float s = 0.0f;
#pragma unroll 4
  for (int64_t i = threadIdx.x; i < n; i += kNormThreads) s = __fmaf_rn(xr[i], xr[i], s);
  s = warp_sum(s);
  if (lane == 0) warp_sums[warp] = s;
  __syncthreads();
  if (warp == 0) {
    float t = lane < kNormThreads / kWarp ? warp_sums[lane] : 0.0f;
#pragma unroll
    for (int off = (kNormThreads / kWarp) / 2; off >= 1; off >>= 1) t += GRETA_SHFL_XOR(t, off);
    if (lane == 0) row_scale = 1.0f / sqrtf(t / static_cast<float>(n) + eps);
  }
  __syncthreads();
  const float scale = row_scale;
  float* yr = y + r * ldy;
  // Each element is read and written by the same thread, after the sums: y may alias x.
  for (int64_t i = threadIdx.x; i < n; i += kNormThreads) yr[i] = xr[i] * scale * w[i];
}

__global__ void add_kernel(float* x, int64_t ldx, const float* y, int64_t ldy, int64_t n_rows, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_rows * n) return;
  const int64_t r = i / n, c = i % n;
  x[r * ldx + c] += y[r * ldy + c];
}

__global__ void add_bias_kernel(float* y, int64_t ldy, const float* b, int64_t n_rows, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_rows * n) return;
  const int64_t r = i / n, c = i % n;
  y[r * ldy + c] += b[c];
}

__global__ void swiglu_kernel(const float* g, int64_t ldg, const float* u, int64_t ldu, float* out, int64_t ldo,
                              int64_t n_rows, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_rows * n) return;
  const int64_t r = i / n, c = i % n;
  const float a = g[r * ldg + c];
  out[r * ldo + c] = a / (1.0f + expf(-a)) * u[r * ldu + c];
}

// One thread per (row, head, pair).
__global__ void rope_kernel(float* x, int64_t ldx, int64_t n_rows, int32_t n_heads, int32_t head_dim, int32_t n_rot,
                            bool neox, const float* cos_t, const float* sin_t, DevBatch b) {
  const int32_t half = n_rot / 2;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_rows * n_heads * half) return;
  const int32_t p = static_cast<int32_t>(i % half);
  const int64_t rh = i / half;
  const int64_t r = rh / n_heads;
  const int32_t h = static_cast<int32_t>(rh % n_heads);
  float* xh = x + r * ldx + static_cast<int64_t>(h) * head_dim;
  const int32_t i0 = neox ? p : 2 * p;
  const int32_t i1 = neox ? p + half : 2 * p + 1;
  const int64_t pos = b.pos[r];
  const float c = cos_t[pos * half + p], s = sin_t[pos * half + p];
  const float x0 = xh[i0], x1 = xh[i1];
  xh[i0] = x0 * c - x1 * s;
  xh[i1] = x0 * s + x1 * c;
}

// ---- KV cache ----

template <int KT>
__device__ __forceinline__ float kv_load(const void* base, int64_t i) {
  if constexpr (KT == static_cast<int>(DevKvType::F32)) return static_cast<const float*>(base)[i];
  else if constexpr (KT == static_cast<int>(DevKvType::F16)) return f16_bits_to_f32(static_cast<const uint16_t*>(base)[i]);
  else return bf16_bits_to_f32(static_cast<const uint16_t*>(base)[i]);
}
template <int KT>
__device__ __forceinline__ void kv_put(void* base, int64_t i, float f) {
  if constexpr (KT == static_cast<int>(DevKvType::F32)) static_cast<float*>(base)[i] = f;
  else if constexpr (KT == static_cast<int>(DevKvType::F16)) static_cast<uint16_t*>(base)[i] = f32_to_f16_bits(f);
  else static_cast<uint16_t*>(base)[i] = f32_to_bf16_bits(f);
}

// Element offset of (layer, block, head) in the K or V pool: both are [n_kv_head, ...] blocks of
// head_dim * kDevTile elements per head.
__device__ __forceinline__ int64_t kv_head_base(const DevKvPool& kv, int32_t layer, int64_t block, int64_t h) {
  return ((static_cast<int64_t>(layer) * kv.n_blocks + block) * kv.n_kv_head + h) * kv.head_dim * kDevTile;
}

template <int KT>
__global__ void kv_store_kernel(DevKvPool kv, int32_t layer, const float* k, int64_t ldk, const float* v, int64_t ldv,
                                DevBatch b, int64_t n_rows) {
  const int64_t n_kv = static_cast<int64_t>(kv.n_kv_head) * kv.head_dim;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_rows * n_kv) return;
  const int64_t r = i / n_kv, c = i % n_kv;
  const int64_t h = c / kv.head_dim, d = c % kv.head_dim;
  const int32_t pos = b.pos[r];
  const int64_t block = b.tables[static_cast<int64_t>(b.seq[r]) * *b.table_stride + pos / kDevTile];
  const int64_t base = kv_head_base(kv, layer, block, h);
  const int slot = pos % kDevTile;
  kv_put<KT>(kv.k, base + d * kDevTile + slot, k[r * ldk + c]);
  kv_put<KT>(kv.v, base + static_cast<int64_t>(slot) * kv.head_dim + d, v[r * ldv + c]);
}

// One warp per (query row, head). Lane j scores position 32t + j of tile t; lane l accumulates
// output dims l, l + 32, ...; tiles are merged in ascending order by the online-softmax update.
// Tile t of the row's sequence is its block tables[seq[r]][t]; with fresh K/V, the positions of
// the row's run come from the batch's f32 rows instead.
template <int KT>
__global__ void attention_kernel(DevKvPool kv, int32_t layer, const float* q, int64_t ldq, int32_t n_head, float scale,
                                 DevFresh fresh, DevBatch b, int64_t n, float* out, int64_t ldo) {
  extern __shared__ float q_smem[];  // [kBlock / kWarp, head_dim]
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int64_t n_tasks = n * n_head;
  int64_t task = static_cast<int64_t>(blockIdx.x) * (kBlock / kWarp) + warp;
  // A warp past the last task recomputes the last one and writes nothing: no warp returns
  // before a barrier the others reach (GRETA_SYNCWARP is block-wide on HIP).
  const bool writes = task < n_tasks;
  if (!writes) task = n_tasks - 1;
  const int hd = kv.head_dim;
  const int64_t r = task / n_head;
  const int32_t h = static_cast<int32_t>(task % n_head);
  const int64_t hk = h / (n_head / kv.n_kv_head);
  const int32_t pos = b.pos[r];
  const int32_t* table = b.tables + static_cast<int64_t>(b.seq[r]) * *b.table_stride;
  // Positions >= p_fresh are read from the fresh rows (none without fresh K/V).
  int32_t p_fresh = pos + 1;
  int64_t row_fresh = 0;  // the batch row of position p_fresh
  if (fresh.on) {
    row_fresh = b.fresh_row0[r];
    p_fresh = b.pos[row_fresh];
  }
  float* qs = q_smem + warp * hd;
  for (int d = lane; d < hd; d += kWarp) qs[d] = q[r * ldq + static_cast<int64_t>(h) * hd + d];
  GRETA_SYNCWARP();

  constexpr int kAcc = kMaxHeadDim / kWarp;
  float acc[kAcc];
#pragma unroll
  for (int i = 0; i < kAcc; ++i) acc[i] = 0.0f;
  float m = -INFINITY, l = 0.0f;
  const int32_t last_tile = pos / kDevTile;
  for (int32_t t = 0; t <= last_tile; ++t) {
    const int64_t base = kv_head_base(kv, layer, table[t], hk);
    const int32_t p = t * kDevTile + lane;
    const bool valid = p <= pos;
    float s = -INFINITY;
    if (valid) {
      float dot = 0.0f;
      if (p >= p_fresh) {
        const float* kr = fresh.k + (row_fresh + (p - p_fresh)) * fresh.ldk + hk * hd;
#pragma unroll 8
        for (int d = 0; d < hd; ++d) dot = __fmaf_rn(qs[d], kr[d], dot);
      } else {
        const int64_t kb = base + lane;
#pragma unroll 8
        for (int d = 0; d < hd; ++d) dot = __fmaf_rn(qs[d], kv_load<KT>(kv.k, kb + static_cast<int64_t>(d) * kDevTile), dot);
      }
      s = dot * scale;
    }
    const float m_new = fmaxf(m, warp_max(s));
    const float alpha = expf(m - m_new);  // 0 on the first tile (m = -inf)
    const float pr = valid ? expf(s - m_new) : 0.0f;
    l = l * alpha + warp_sum(pr);
    m = m_new;
#pragma unroll
    for (int i = 0; i < kAcc; ++i) acc[i] = acc[i] * alpha;
    const int jn = pos - t * kDevTile + 1 < kDevTile ? pos - t * kDevTile + 1 : kDevTile;
#pragma unroll 4
    for (int j = 0; j < jn; ++j) {
      const float pj = GRETA_SHFL(pr, j);
      const int32_t pp = t * kDevTile + j;
      if (pp >= p_fresh) {  // the same for every lane
        const float* vr = fresh.v + (row_fresh + (pp - p_fresh)) * fresh.ldv + hk * hd;
#pragma unroll
        for (int i = 0; i < kAcc; ++i) {
          const int d = lane + i * kWarp;
          if (d < hd) acc[i] = __fmaf_rn(pj, vr[d], acc[i]);
        }
      } else {
        const int64_t vb = base + static_cast<int64_t>(j) * hd;
#pragma unroll
        for (int i = 0; i < kAcc; ++i) {
          const int d = lane + i * kWarp;
          if (d < hd) acc[i] = __fmaf_rn(pj, kv_load<KT>(kv.v, vb + d), acc[i]);
        }
      }
    }
  }
  if (!writes) return;
  float* o = out + r * ldo + static_cast<int64_t>(h) * hd;
#pragma unroll
  for (int i = 0; i < kAcc; ++i) {
    const int d = lane + i * kWarp;
    if (d < hd) o[d] = acc[i] / l;
  }
}

unsigned blocks_for(int64_t threads, int per_block) { return static_cast<unsigned>((threads + per_block - 1) / per_block); }
cudaStream_t stream_of(Stream s) { return static_cast<cudaStream_t>(s); }

}  // namespace

void check_last_launch(const char* what) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) fail(std::string("CUDA kernel ") + what + " failed: " + cudaGetErrorString(e));
}

template <int R>
void launch_matmul_rows(cudaStream_t st, const DevMatrix& w, const float* x, int64_t ldx, int64_t m, float* y,
                        int64_t ldy, bool acc) {
  const dim3 grid(static_cast<unsigned>(w.rows), static_cast<unsigned>((m + R - 1) / R));
  switch (w.type) {
    case DevWeightType::F32: matmul_kernel<0, R><<<grid, kBlock, 0, st>>>(w.data, w.scales, w.rows, w.cols, w.ld, x, ldx, m, y, ldy, acc); break;
    case DevWeightType::F16: matmul_kernel<1, R><<<grid, kBlock, 0, st>>>(w.data, w.scales, w.rows, w.cols, w.ld, x, ldx, m, y, ldy, acc); break;
    case DevWeightType::BF16: matmul_kernel<2, R><<<grid, kBlock, 0, st>>>(w.data, w.scales, w.rows, w.cols, w.ld, x, ldx, m, y, ldy, acc); break;
    case DevWeightType::Q8_0: matmul_kernel<3, R><<<grid, kBlock, 0, st>>>(w.data, w.scales, w.rows, w.cols, w.ld, x, ldx, m, y, ldy, acc); break;
    case DevWeightType::Q4_0: matmul_kernel<4, R><<<grid, kBlock, 0, st>>>(w.data, w.scales, w.rows, w.cols, w.ld, x, ldx, m, y, ldy, acc); break;
  }
  check_last_launch("matmul");
}

void launch_matmul(Stream s, const DevMatrix& w, const float* x, int64_t ldx, int64_t m, float* y, int64_t ldy,
                   bool accumulate) {
  if (m <= 0 || w.rows <= 0) return;
  if (m == 1) {
    launch_matmul_rows<1>(stream_of(s), w, x, ldx, m, y, ldy, accumulate);
  } else {
    launch_matmul_rows<kRowsPerWarp>(stream_of(s), w, x, ldx, m, y, ldy, accumulate);
  }
}

void launch_embed(Stream s, const DevMatrix& table, const DevBatch& b, int64_t n_rows, float* out, int64_t ldo) {
  if (n_rows <= 0) return;
  embed_kernel<<<blocks_for(n_rows * table.cols, 256), 256, 0, stream_of(s)>>>(table, b, n_rows, out, ldo);
  check_last_launch("embed");
}

void launch_get_rows(Stream s, const DevBatch& b, int64_t n_out, const float* src, int64_t lds, int64_t cols,
                     float* dst, int64_t ldd) {
  if (n_out <= 0) return;
  get_rows_kernel<<<blocks_for(n_out * cols, 256), 256, 0, stream_of(s)>>>(b, n_out, src, lds, cols, dst, ldd);
  check_last_launch("get_rows");
}

void launch_rms_norm(Stream s, const float* x, int64_t ldx, const float* w, float* y, int64_t ldy, int64_t n_rows,
                     int64_t n, float eps) {
  if (n_rows <= 0) return;
  rms_norm_kernel<<<static_cast<unsigned>(n_rows), kNormThreads, 0, stream_of(s)>>>(x, ldx, w, y, ldy, n, eps);
  check_last_launch("rms_norm");
}

void launch_add(Stream s, float* x, int64_t ldx, const float* y, int64_t ldy, int64_t n_rows, int64_t n) {
  if (n_rows * n <= 0) return;
  add_kernel<<<blocks_for(n_rows * n, 256), 256, 0, stream_of(s)>>>(x, ldx, y, ldy, n_rows, n);
  check_last_launch("add");
}

void launch_add_bias(Stream s, float* y, int64_t ldy, const float* b, int64_t n_rows, int64_t n) {
  if (n_rows * n <= 0) return;
  add_bias_kernel<<<blocks_for(n_rows * n, 256), 256, 0, stream_of(s)>>>(y, ldy, b, n_rows, n);
  check_last_launch("add_bias");
}

void launch_swiglu(Stream s, const float* g, int64_t ldg, const float* u, int64_t ldu, float* out, int64_t ldo,
                   int64_t n_rows, int64_t n) {
  if (n_rows * n <= 0) return;
  swiglu_kernel<<<blocks_for(n_rows * n, 256), 256, 0, stream_of(s)>>>(g, ldg, u, ldu, out, ldo, n_rows, n);
  check_last_launch("swiglu");
}

void launch_rope(Stream s, float* x, int64_t ldx, int64_t n_rows, int32_t n_heads, int32_t head_dim, int32_t n_rot,
                 bool neox, const float* cos_t, const float* sin_t, const DevBatch& b) {
  const int64_t total = n_rows * n_heads * (n_rot / 2);
  if (total <= 0) return;
  rope_kernel<<<blocks_for(total, 256), 256, 0, stream_of(s)>>>(x, ldx, n_rows, n_heads, head_dim, n_rot, neox, cos_t,
                                                                 sin_t, b);
  check_last_launch("rope");
}

void launch_kv_store(Stream s, const DevKvPool& kv, int32_t layer, const float* k, int64_t ldk, const float* v,
                     int64_t ldv, const DevBatch& b, int64_t n_rows) {
  const int64_t total = n_rows * kv.n_kv_head * kv.head_dim;
  if (total <= 0) return;
  const unsigned nb = blocks_for(total, 256);
  cudaStream_t st = stream_of(s);
  switch (kv.type) {
    case DevKvType::F32: kv_store_kernel<0><<<nb, 256, 0, st>>>(kv, layer, k, ldk, v, ldv, b, n_rows); break;
    case DevKvType::F16: kv_store_kernel<1><<<nb, 256, 0, st>>>(kv, layer, k, ldk, v, ldv, b, n_rows); break;
    case DevKvType::BF16: kv_store_kernel<2><<<nb, 256, 0, st>>>(kv, layer, k, ldk, v, ldv, b, n_rows); break;
  }
  check_last_launch("kv_store");
}

void launch_attention(Stream s, const DevKvPool& kv, int32_t layer, const float* q, int64_t ldq, int32_t n_head,
                      float scale, const DevFresh& fresh, const DevBatch& b, int64_t n, float* out, int64_t ldo) {
  if (n <= 0) return;
  const unsigned nb = blocks_for(n * n_head, kBlock / kWarp);
  const size_t smem = sizeof(float) * (kBlock / kWarp) * kv.head_dim;
  cudaStream_t st = stream_of(s);
  switch (kv.type) {
    case DevKvType::F32: attention_kernel<0><<<nb, kBlock, smem, st>>>(kv, layer, q, ldq, n_head, scale, fresh, b, n, out, ldo); break;
    case DevKvType::F16: attention_kernel<1><<<nb, kBlock, smem, st>>>(kv, layer, q, ldq, n_head, scale, fresh, b, n, out, ldo); break;
    case DevKvType::BF16: attention_kernel<2><<<nb, kBlock, smem, st>>>(kv, layer, q, ldq, n_head, scale, fresh, b, n, out, ldo); break;
  }
  check_last_launch("attention");
}

}  // namespace greta::cuda
