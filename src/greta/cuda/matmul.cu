// The FMA matmul kernel (kernels.h, launch_matmul; the tensor-core one is matmul_tc.cu, which
// launch_matmul picks by type and K): weights in their storage type, dequantized in registers. Built with -fmad=false: every fused multiply-add is an explicit __fmaf_rn.
//
// Invariance: y[m, n] is the sum of W[n, k]·x[m, k] computed by warp-lane chains and one shuffle
// tree whose shape depends on K only. Lane l owns the 8-element groups l, l + 32, l + 64, ... of
// the row (every type), visits them in ascending order and each group's elements in ascending k,
// acc = fma(w_k, x_k, acc) with w_k the exact stored value (bit-equal to dequantize_row).
// Consecutive lanes read consecutive groups, so a warp's weight and activation loads are
// contiguous. Neither the number of rows M, nor R (how many activation rows share a warp's
// weight loads), nor the grid, nor which output of a fused launch a row belongs to changes any
// of these operations.

#include <stdint.h>
#include <stdlib.h>

#include <string>

#include "greta/cuda/dequant.cuh"
#include "greta/cuda/gpu_compat.h"
#include "greta/cuda/kernels.h"
#include "greta/cuda/matmul_tc.h"

namespace greta::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = 4;  // output rows per block
constexpr int kThreads = kWarp * kWarpsPerBlock;

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int off = 16; off >= 1; off >>= 1) v += GRETA_SHFL_XOR(v, off);
  return v;
}

// The 8 values of group g (elements 8g .. 8g + 7) of row n of a float-type matrix.
template <DevWeightType T>
__device__ __forceinline__ void load_float_group(const DevMatrix& w, int64_t n, int64_t g, float v[8]) {
  if constexpr (T == DevWeightType::F32) {
    const float4* p = reinterpret_cast<const float4*>(static_cast<const float*>(w.data) + n * w.ld) + 2 * g;
    const float4 a = p[0], b = p[1];
    v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w; v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
  } else {
    const uint4 u = reinterpret_cast<const uint4*>(static_cast<const uint16_t*>(w.data) + n * w.ld)[g];
    const uint32_t parts[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const uint16_t lo = static_cast<uint16_t>(parts[i] & 0xffffu), hi = static_cast<uint16_t>(parts[i] >> 16);
      if constexpr (T == DevWeightType::F16) {
        v[2 * i] = f16_bits_to_f32(lo);
        v[2 * i + 1] = f16_bits_to_f32(hi);
      } else {
        v[2 * i] = bf16_bits_to_f32(lo);
        v[2 * i + 1] = bf16_bits_to_f32(hi);
      }
    }
  }
}

// Group g of row n (the row's plane pointers in br for block types), any type.
template <DevWeightType T>
__device__ __forceinline__ void load_group(const DevMatrix& w, const BlockRow& br, int64_t n, int64_t g, float v[8]) {
  if constexpr (is_block_type(T)) decode_row_group<T>(br, g, v);
  else load_float_group<T>(w, n, g, v);
}

template <DevWeightType T>
__device__ __forceinline__ float load_float_elem(const DevMatrix& w, int64_t n, int64_t k) {
  if constexpr (T == DevWeightType::F32) return static_cast<const float*>(w.data)[n * w.ld + k];
  else if constexpr (T == DevWeightType::F16) return f16_bits_to_f32(static_cast<const uint16_t*>(w.data)[n * w.ld + k]);
  else return bf16_bits_to_f32(static_cast<const uint16_t*>(w.data)[n * w.ld + k]);
}

// acc[r] = fma(w[i], x[r][k0 + i], acc[r]) for i ascending, for the R rows of the group.
template <int N, int R>
__device__ __forceinline__ void fma_rows(const float* w, const float* x, int64_t ldx, int mr, int64_t k0, float acc[R]) {
#pragma unroll
  for (int r = 0; r < R; ++r) {
    if (r < mr) {
      const float4* xp = reinterpret_cast<const float4*>(x + r * ldx + k0);
#pragma unroll
      for (int i = 0; i < N / 4; ++i) {
        const float4 v = xp[i];
        acc[r] = __fmaf_rn(w[4 * i], v.x, acc[r]);
        acc[r] = __fmaf_rn(w[4 * i + 1], v.y, acc[r]);
        acc[r] = __fmaf_rn(w[4 * i + 2], v.z, acc[r]);
        acc[r] = __fmaf_rn(w[4 * i + 3], v.w, acc[r]);
      }
    }
  }
}

// Row n's plane pointers (block types; unused for float types).
template <DevWeightType T>
__device__ __forceinline__ BlockRow row_planes(const DevMatrix& w, int64_t n) {
  if constexpr (is_block_type(T)) return block_row<T>(w, n);
  else return BlockRow{nullptr, nullptr};
}

// One output row n against R activation rows (x: the group's first row). Lane l takes the groups
// l, l + 32, ... in ascending order (then, for float types with K % 8 != 0, tail element
// 8 * (K / 8) + l), each group's 8 elements in ascending k.
template <DevWeightType T, int R>
__device__ __forceinline__ void row_dot(const DevMatrix& w, int64_t n, const float* x, int64_t ldx, int mr, int lane,
                                        float acc[R]) {
  const int64_t K = w.cols;
  const BlockRow br = row_planes<T>(w, n);
  const int64_t n_groups = K / 8;
#pragma unroll 4
  for (int64_t g = lane; g < n_groups; g += kWarp) {
    float v[8];
    load_group<T>(w, br, n, g, v);
    fma_rows<8, R>(v, x, ldx, mr, g * 8, acc);
  }
  if constexpr (!is_block_type(T)) {
    // K % 8 == 4 is allowed for float types: lane l < 4 takes tail element 8 * (K / 8) + l last.
    const int64_t k = n_groups * 8 + lane;
    if (k < K) {
      const float wk = load_float_elem<T>(w, n, k);
#pragma unroll
      for (int r = 0; r < R; ++r) {
        if (r < mr) acc[r] = __fmaf_rn(wk, x[r * ldx + k], acc[r]);
      }
    }
  }
}

// The outputs of one launch: output i owns blocks [block0[i], block0[i + 1]).
struct MultiArgs {
  DevMatmulOut out[kMaxMulti];
  unsigned block0[kMaxMulti + 1];
  int n_outs;
  bool accumulate;
};

// R activation rows per warp against one weight row.
template <DevWeightType T, int R>
__global__ void __launch_bounds__(kThreads) matmul_kernel(MultiArgs args, const float* x, int64_t ldx, int64_t M) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  int o = 0;
#pragma unroll
  for (int i = 1; i < kMaxMulti; ++i) o += i < args.n_outs && blockIdx.x >= args.block0[i];
  const DevMatrix& w = args.out[o].w;
  const int64_t n = static_cast<int64_t>(blockIdx.x - args.block0[o]) * kWarpsPerBlock + warp;
  if (n >= w.rows) return;  // no block-wide barrier in this kernel: a warp may leave
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * R;
  const int mr = static_cast<int>(M - m0 < R ? M - m0 : R);
  float acc[R];
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = 0.0f;
  row_dot<T, R>(w, n, x + m0 * ldx, ldx, mr, lane, acc);
  // Every lane ends the xor tree with the same sum; lane r writes row m0 + r.
  float mine = 0.0f;
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const float s = warp_sum(acc[r]);
    if (lane == r) mine = s;
  }
  if (lane < mr) {
    float* out = args.out[o].y + (m0 + lane) * args.out[o].ldy + n;
    *out = args.accumulate ? *out + mine : mine;  // the residual add, fused: the same one addition
  }
}

template <int R>
void launch_rows(cudaStream_t st, const MultiArgs& a, const float* x, int64_t ldx, int64_t m) {
  const dim3 grid(a.block0[a.n_outs], static_cast<unsigned>((m + R - 1) / R));
  switch (a.out[0].w.type) {
#define GRETA_MATMUL_CASE(T) \
  case DevWeightType::T: matmul_kernel<DevWeightType::T, R><<<grid, kThreads, 0, st>>>(a, x, ldx, m); break;
    GRETA_MATMUL_CASE(F32)
    GRETA_MATMUL_CASE(F16)
    GRETA_MATMUL_CASE(BF16)
    GRETA_MATMUL_CASE(Q8_0)
    GRETA_MATMUL_CASE(Q4_0)
    GRETA_MATMUL_CASE(Q4_1)
    GRETA_MATMUL_CASE(Q5_0)
    GRETA_MATMUL_CASE(Q5_1)
    GRETA_MATMUL_CASE(Q2_K)
    GRETA_MATMUL_CASE(Q3_K)
    GRETA_MATMUL_CASE(Q4_K)
    GRETA_MATMUL_CASE(Q5_K)
    GRETA_MATMUL_CASE(Q6_K)
#undef GRETA_MATMUL_CASE
  }
}

unsigned row_blocks(int64_t rows) { return static_cast<unsigned>((rows + kWarpsPerBlock - 1) / kWarpsPerBlock); }

// R (activation rows per warp) only decides which rows share a warp's weight loads. Measured on
// an H200 (tinyllama-1.1b Q8_0): R = 8 for batches gave pp512 3123 t/s against 2868 for R = 16;
// for one row, one weight row per warp gave tg128 388 t/s against 329 and 230 for 2 and 4 weight
// rows per warp sharing the activation loads (fewer warps in flight).
void launch(cudaStream_t st, MultiArgs a, const float* x, int64_t ldx, int64_t m) {
  a.block0[0] = 0;
  for (int i = 0; i < a.n_outs; ++i) a.block0[i + 1] = a.block0[i] + row_blocks(a.out[i].w.rows);
  if (a.block0[a.n_outs] == 0) return;
  if (m == 1) launch_rows<1>(st, a, x, ldx, m);
  else if (m <= 4) launch_rows<4>(st, a, x, ldx, m);
  else launch_rows<8>(st, a, x, ldx, m);
  check_last_launch("matmul");
}

// The tensor-core path, unless GRETA_CUDA_MMA=0 (read once: a process never mixes the two).
bool use_tc(const DevMatrix& w) {
  static const bool on = [] {
    const char* e = std::getenv("GRETA_CUDA_MMA");
    return !(e != nullptr && std::string(e) == "0");
  }();
  return on && tc_covers(w.type, w.cols);
}

// Outputs of one type and K: the tensor-core launch, or the FMA kernel's.
void launch_outs(Stream s, const DevMatmulOut* outs, int n_outs, bool accumulate, const float* x, int64_t ldx, int64_t m,
                 void* scratch) {
  if (use_tc(outs[0].w)) {
    tc_matmul(s, outs, n_outs, accumulate, x, ldx, m, scratch);
    return;
  }
  MultiArgs a{};
  for (int i = 0; i < n_outs; ++i) a.out[i] = outs[i];
  a.n_outs = n_outs;
  a.accumulate = accumulate;
  launch(static_cast<cudaStream_t>(s), a, x, ldx, m);
}

}  // namespace

int64_t matmul_scratch_bytes(const DevMatrix& w, int64_t m) { return use_tc(w) ? tc_scratch_bytes(w.type, w.cols, m) : 0; }

void launch_matmul(Stream s, const DevMatrix& w, const float* x, int64_t ldx, int64_t m, float* y, int64_t ldy,
                   bool accumulate, void* scratch) {
  if (m <= 0 || w.rows <= 0) return;
  const DevMatmulOut out{w, y, ldy};
  launch_outs(s, &out, 1, accumulate, x, ldx, m, scratch);
}

void launch_matmul_multi(Stream s, const DevMatmulOut* outs, int n_outs, const float* x, int64_t ldx, int64_t m,
                         void* scratch) {
  if (m <= 0 || n_outs <= 0) return;
  bool same = n_outs <= kMaxMulti;
  for (int i = 1; i < n_outs && same; ++i) same = outs[i].w.type == outs[0].w.type && outs[i].w.cols == outs[0].w.cols;
  if (!same) {
    for (int i = 0; i < n_outs; ++i) launch_matmul(s, outs[i].w, x, ldx, m, outs[i].y, outs[i].ldy, false, scratch);
    return;
  }
  launch_outs(s, outs, n_outs, false, x, ldx, m, scratch);
}

}  // namespace greta::cuda
