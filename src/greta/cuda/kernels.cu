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
__device__ __forceinline__ uint16_t f32_to_f16_bits(float f) { return __half_as_ushort(__float2half_rn(f)); }

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

// ---- elementwise and per-row kernels ----

// One block of kNormThreads per row: thread t sums elements t, t + kNormThreads, ... in
// ascending order; each warp's 32 sums go through the shuffle tree, then warp 0 sums the 8 warp
// sums through a tree of its own -- the same order for every row of length n.
constexpr int kNormThreads = 256;
__global__ void __launch_bounds__(kNormThreads) rms_norm_kernel(const float* x, const float* w, float* y, int64_t n,
                                                                int64_t ld, float eps) {
  __shared__ float warp_sums[kNormThreads / kWarp];
  __shared__ float row_scale;
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int64_t r = blockIdx.x;
  const float* xr = x + r * ld;
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
  float* yr = y + r * ld;
  for (int64_t i = threadIdx.x; i < n; i += kNormThreads) yr[i] = xr[i] * scale * w[i];
}

__global__ void add_bias_kernel(float* y, const float* b, int64_t total, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < total) y[i] += b[i % n];
}

__global__ void add_kernel(float* x, const float* y, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] += y[i];
}

__global__ void swiglu_kernel(float* g, const float* u, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) {
    const float a = g[i];
    g[i] = a / (1.0f + expf(-a)) * u[i];
  }
}

// One thread per (row, head, pair).
__global__ void rope_kernel(float* x, int64_t n_rows, int32_t n_heads, int32_t head_dim, int32_t n_rot, bool neox,
                            const float* cos_t, const float* sin_t, const int32_t* pos0p) {
  const int32_t pos0 = *pos0p;
  const int32_t half = n_rot / 2;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_rows * n_heads * half) return;
  const int32_t p = static_cast<int32_t>(i % half);
  const int64_t rh = i / half;
  const int64_t r = rh / n_heads;
  const int32_t h = static_cast<int32_t>(rh % n_heads);
  float* xh = x + (r * n_heads + h) * head_dim;
  const int32_t i0 = neox ? p : 2 * p;
  const int32_t i1 = neox ? p + half : 2 * p + 1;
  const int64_t pos = pos0 + r;
  const float c = cos_t[pos * half + p], s = sin_t[pos * half + p];
  const float x0 = xh[i0], x1 = xh[i1];
  xh[i0] = x0 * c - x1 * s;
  xh[i1] = x0 * s + x1 * c;
}

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

template <int KT>
__global__ void kv_store_kernel(DevKvLayer kv, const float* k, const float* v, const int32_t* pos0p, int64_t n_rows) {
  const int32_t pos0 = *pos0p;
  const int64_t n_kv = static_cast<int64_t>(kv.n_kv_head) * kv.head_dim;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_rows * n_kv) return;
  const int64_t r = i / n_kv, c = i % n_kv;
  const int64_t h = c / kv.head_dim, d = c % kv.head_dim;
  const int64_t pos = pos0 + r;
  const int64_t ki = ((h * kv.n_tiles + pos / kDevTile) * kv.head_dim + d) * kDevTile + pos % kDevTile;
  const int64_t vi = (h * kv.n_tiles * int64_t{kDevTile} + pos) * kv.head_dim + d;
  kv_put<KT>(kv.k, ki, k[i]);
  kv_put<KT>(kv.v, vi, v[i]);
}

// One warp per (query row, head). Lane j scores position 32t + j of tile t; lane l accumulates
// output dims l, l + 32, ...; tiles are merged in ascending order by the online-softmax update.
template <int KT>
__global__ void attention_kernel(DevKvLayer kv, const float* q, int32_t n_head, float scale, const int32_t* pos0p, int64_t n,
                                 float* out) {
  extern __shared__ float q_smem[];  // [kBlock / kWarp, head_dim]
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int64_t task = static_cast<int64_t>(blockIdx.x) * (kBlock / kWarp) + warp;
  if (task >= n * n_head) return;
  const int hd = kv.head_dim;
  const int64_t r = task / n_head;
  const int32_t h = static_cast<int32_t>(task % n_head);
  const int64_t hk = h / (n_head / kv.n_kv_head);
  const int32_t pos = *pos0p + static_cast<int32_t>(r);
  const int64_t ld = static_cast<int64_t>(n_head) * hd;
  float* qs = q_smem + warp * hd;
  for (int d = lane; d < hd; d += kWarp) qs[d] = q[r * ld + static_cast<int64_t>(h) * hd + d];
  GRETA_SYNCWARP();

  constexpr int kAcc = kMaxHeadDim / kWarp;
  float acc[kAcc];
#pragma unroll
  for (int i = 0; i < kAcc; ++i) acc[i] = 0.0f;
  float m = -INFINITY, l = 0.0f;
  const int32_t last_tile = pos / kDevTile;
  for (int32_t t = 0; t <= last_tile; ++t) {
    const int32_t p = t * kDevTile + lane;
    const bool valid = p <= pos;
    float s = -INFINITY;
    if (valid) {
      const int64_t kb = ((hk * kv.n_tiles + t) * hd) * kDevTile + lane;
      float dot = 0.0f;
#pragma unroll 8
      for (int d = 0; d < hd; ++d) dot = __fmaf_rn(qs[d], kv_load<KT>(kv.k, kb + static_cast<int64_t>(d) * kDevTile), dot);
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
    const int64_t vb = (hk * kv.n_tiles * int64_t{kDevTile} + static_cast<int64_t>(t) * kDevTile) * hd;
#pragma unroll 8
    for (int j = 0; j < jn; ++j) {
      const float pj = GRETA_SHFL(pr, j);
#pragma unroll
      for (int i = 0; i < kAcc; ++i) {
        const int d = lane + i * kWarp;
        if (d < hd) acc[i] = __fmaf_rn(pj, kv_load<KT>(kv.v, vb + static_cast<int64_t>(j) * hd + d), acc[i]);
      }
    }
  }
  float* o = out + r * ld + static_cast<int64_t>(h) * hd;
#pragma unroll
  for (int i = 0; i < kAcc; ++i) {
    const int d = lane + i * kWarp;
    if (d < hd) o[d] = acc[i] / l;
  }
}

thread_local cudaStream_t g_stream = nullptr;  // launch_set_stream

unsigned blocks_for(int64_t threads, int per_block) { return static_cast<unsigned>((threads + per_block - 1) / per_block); }

}  // namespace

void launch_set_stream(void* stream) { g_stream = static_cast<cudaStream_t>(stream); }

void check_last_launch(const char* what) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) fail(std::string("CUDA kernel ") + what + " failed: " + cudaGetErrorString(e));
}

template <int R>
void launch_matmul_rows(const DevMatrix& w, const float* x, int64_t ldx, int64_t m, float* y, int64_t ldy, bool acc) {
  const dim3 grid(static_cast<unsigned>(w.rows), static_cast<unsigned>((m + R - 1) / R));
  switch (w.type) {
    case DevWeightType::F32: matmul_kernel<0, R><<<grid, kBlock, 0, g_stream>>>(w.data, w.scales, w.rows, w.cols, w.ld, x, ldx, m, y, ldy, acc); break;
    case DevWeightType::F16: matmul_kernel<1, R><<<grid, kBlock, 0, g_stream>>>(w.data, w.scales, w.rows, w.cols, w.ld, x, ldx, m, y, ldy, acc); break;
    case DevWeightType::BF16: matmul_kernel<2, R><<<grid, kBlock, 0, g_stream>>>(w.data, w.scales, w.rows, w.cols, w.ld, x, ldx, m, y, ldy, acc); break;
    case DevWeightType::Q8_0: matmul_kernel<3, R><<<grid, kBlock, 0, g_stream>>>(w.data, w.scales, w.rows, w.cols, w.ld, x, ldx, m, y, ldy, acc); break;
    case DevWeightType::Q4_0: matmul_kernel<4, R><<<grid, kBlock, 0, g_stream>>>(w.data, w.scales, w.rows, w.cols, w.ld, x, ldx, m, y, ldy, acc); break;
  }
  check_last_launch("matmul");
}

void launch_matmul(const DevMatrix& w, const float* x, int64_t ldx, int64_t m, float* y, int64_t ldy, bool accumulate) {
  if (m <= 0) return;
  if (m == 1) {
    launch_matmul_rows<1>(w, x, ldx, m, y, ldy, accumulate);
  } else {
    launch_matmul_rows<kRowsPerWarp>(w, x, ldx, m, y, ldy, accumulate);
  }
}

void launch_rms_norm(const float* x, const float* w, float* y, int64_t n_rows, int64_t n, int64_t ld, float eps) {
  if (n_rows <= 0) return;
  rms_norm_kernel<<<static_cast<unsigned>(n_rows), kNormThreads, 0, g_stream>>>(x, w, y, n, ld, eps);
  check_last_launch("rms_norm");
}

void launch_add_bias(float* y, const float* b, int64_t n_rows, int64_t n) {
  add_bias_kernel<<<blocks_for(n_rows * n, 256), 256, 0, g_stream>>>(y, b, n_rows * n, n);
  check_last_launch("add_bias");
}

void launch_add(float* x, const float* y, int64_t n) {
  add_kernel<<<blocks_for(n, 256), 256, 0, g_stream>>>(x, y, n);
  check_last_launch("add");
}

void launch_swiglu(float* g, const float* u, int64_t n) {
  swiglu_kernel<<<blocks_for(n, 256), 256, 0, g_stream>>>(g, u, n);
  check_last_launch("swiglu");
}

void launch_rope(float* x, int64_t n_rows, int32_t n_heads, int32_t head_dim, int32_t n_rot, bool neox,
                 const float* cos_t, const float* sin_t, const int32_t* pos0) {
  const int64_t total = n_rows * n_heads * (n_rot / 2);
  rope_kernel<<<blocks_for(total, 256), 256, 0, g_stream>>>(x, n_rows, n_heads, head_dim, n_rot, neox, cos_t, sin_t, pos0);
  check_last_launch("rope");
}

void launch_kv_store(const DevKvLayer& kv, const float* k, const float* v, const int32_t* pos0, int64_t n_rows) {
  const unsigned nb = blocks_for(n_rows * kv.n_kv_head * kv.head_dim, 256);
  switch (kv.type) {
    case DevKvType::F32: kv_store_kernel<0><<<nb, 256, 0, g_stream>>>(kv, k, v, pos0, n_rows); break;
    case DevKvType::F16: kv_store_kernel<1><<<nb, 256, 0, g_stream>>>(kv, k, v, pos0, n_rows); break;
    case DevKvType::BF16: kv_store_kernel<2><<<nb, 256, 0, g_stream>>>(kv, k, v, pos0, n_rows); break;
  }
  check_last_launch("kv_store");
}

void launch_attention(const DevKvLayer& kv, const float* q, int32_t n_head, float scale, const int32_t* pos0, int64_t n,
                      float* out) {
  const unsigned nb = blocks_for(n * n_head, kBlock / kWarp);
  const size_t smem = sizeof(float) * (kBlock / kWarp) * kv.head_dim;
  switch (kv.type) {
    case DevKvType::F32: attention_kernel<0><<<nb, kBlock, smem, g_stream>>>(kv, q, n_head, scale, pos0, n, out); break;
    case DevKvType::F16: attention_kernel<1><<<nb, kBlock, smem, g_stream>>>(kv, q, n_head, scale, pos0, n, out); break;
    case DevKvType::BF16: attention_kernel<2><<<nb, kBlock, smem, g_stream>>>(kv, q, n_head, scale, pos0, n, out); break;
  }
  check_last_launch("attention");
}

}  // namespace greta::cuda
