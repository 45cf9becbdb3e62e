// The tensor-core matmul (matmul_tc.h): mma.sync on int8 (block types) and f16/bf16 (F16, BF16)
// operands, weights read in their storage bits and unpacked in registers. Built with
// -fmad=false: every fused multiply-add below is an explicit __fmaf_rn.
//
// The arithmetic of one output element y[m, n] (docs/ARCHITECTURE.md, "GPU matmul"), which no
// launch parameter changes:
//   - K is cut into kSlices = 4 slices of whole 32-element chunks, slice s holding the chunks
//     [floor(s·nc/4), floor((s+1)·nc/4)) of the nc = K/32 chunks: a function of K alone.
//   - Block types: row m of x is quantized once per 32-element chunk (d = amax/127, q =
//     round-to-even(x/d) saturated to int8, the scale kept as fp16(d), the two 16-element halves'
//     sums of q kept as integers), as the CPU's Q8A32 activations. A chunk's products are int8
//     MMAs (m16n8k32, or two m16n8k16 for the types with 16-element sub-blocks) from a zero
//     accumulator: exact integer sums, whatever the instruction's internal order. Then, per chunk
//     in ascending order, acc_s = fma(f1·d_x, I1, acc_s) and, for the types with a minimum,
//     acc_s = fma(f2·d_x, I2, acc_s) (f1, f2 the row's float scales, I1, I2 integers: tc_step).
//   - F16 / BF16: x rounded to the weight's type; acc_s is the chain of m16n8k16 MMAs with f32
//     accumulation over the slice's 16-element steps in ascending order, from zero.
//   - y = ((acc_0 + acc_1) + acc_2) + acc_3, then y_out + y when accumulating.
// The four slices are the four warps of a block, folded through shared memory in that order.
// The tile a row sits in (which rows of W and x share a warp's fragments), the number of rows M,
// the grid and the output of a fused launch never enter these operations, so a row's result is
// the same bits alone, in any batch, in prefill and in decode. The MMA computes each element of
// its 16x8 result from its own row of A and column of B; the fragments of rows outside the
// matrix are zeros and their results are dropped.

#include "greta/cuda/matmul_tc.h"

#if !defined(GRETA_HIP)

#include <cuda_bf16.h>
#include <stdint.h>
#include <stdlib.h>

#include <string>

#include "greta/core/error.h"
#include "greta/cuda/dequant.cuh"
#include "greta/cuda/gpu_compat.h"

namespace greta::cuda {
namespace {

constexpr int kSlices = 4;                // K slices = warps per block
constexpr int kThreads = 32 * kSlices;

using T_ = DevWeightType;

__host__ __device__ constexpr bool is_float_mma(T_ t) { return t == T_::F16 || t == T_::BF16; }
// Types whose sub-blocks have 16 elements: two k16 MMAs per chunk, one integer scale each.
__host__ __device__ constexpr bool sub16(T_ t) { return t == T_::Q2_K || t == T_::Q3_K || t == T_::Q6_K; }
// Types with a minimum term (w = d·q + m): the chunk needs the activations' sum.
__host__ __device__ constexpr bool has_min(T_ t) {
  return t == T_::Q4_1 || t == T_::Q5_1 || t == T_::Q2_K || t == T_::Q4_K || t == T_::Q5_K;
}

int64_t align256(int64_t n) { return (n + 255) / 256 * 256; }

// ---------------------------------------------------------------------------------------------
// Activations.

// One warp per (row, chunk): lane i takes element 32c + i. No block barrier: warps may leave.
__global__ void quantize_kernel(const float* x, int64_t ldx, int64_t m, int64_t k, int8_t* q, float* d, int32_t* s) {
  const int64_t nc = k / 32;
  const int64_t item = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (item >= m * nc) return;
  const int64_t r = item / nc, c = item % nc;
  const float v = x[r * ldx + 32 * c + lane];
  float amax = fabsf(v);
#pragma unroll
  for (int off = 16; off >= 1; off >>= 1) amax = fmaxf(amax, GRETA_SHFL_XOR(amax, off));
  const float dd = __fdiv_rn(amax, 127.0f);
  const float id = dd != 0.0f ? __fdiv_rn(1.0f, dd) : 0.0f;
  const int qi = max(-128, min(127, __float2int_rn(__fmul_rn(v, id))));
  q[r * k + 32 * c + lane] = static_cast<int8_t>(qi);
  int sum = qi;  // the two halves' sums, exact
#pragma unroll
  for (int off = 8; off >= 1; off >>= 1) sum += GRETA_SHFL_XOR(sum, off);
  const int hi = GRETA_SHFL(sum, 16);
  if (lane == 0) {
    d[r * nc + c] = __half2float(__float2half_rn(dd));
    s[r * nc + c] = static_cast<int32_t>((static_cast<uint32_t>(sum) & 0xffffu) | (static_cast<uint32_t>(hi) << 16));
  }
}

// x rounded to nearest even into f16 or bf16, 4 elements a thread.
template <bool kBf16>
__global__ void convert_kernel(const float* x, int64_t ldx, int64_t m, int64_t k, uint16_t* h) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t per_row = k / 4;
  if (i >= m * per_row) return;
  const int64_t r = i / per_row, j = (i % per_row) * 4;
  const float4 v = *reinterpret_cast<const float4*>(x + r * ldx + j);
  const float f[4] = {v.x, v.y, v.z, v.w};
  uint16_t o[4];
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    if constexpr (kBf16) o[e] = __bfloat16_as_ushort(__float2bfloat16_rn(f[e]));
    else o[e] = __half_as_ushort(__float2half_rn(f[e]));
  }
  *reinterpret_cast<uint2*>(h + r * k + j) =
      make_uint2(uint32_t{o[0]} | uint32_t{o[1]} << 16, uint32_t{o[2]} | uint32_t{o[3]} << 16);
}

// ---------------------------------------------------------------------------------------------
// MMA instructions.

__device__ __forceinline__ void mma_s8_k32(int (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                           uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%10,%10,%10,%10};"
      : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1), "r"(0));
}
__device__ __forceinline__ void mma_s8_k16(int (&d)[4], uint32_t a0, uint32_t a1, uint32_t b0) {
  asm("mma.sync.aligned.m16n8k16.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%7,%7,%7,%7};"
      : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
      : "r"(a0), "r"(a1), "r"(b0), "r"(0));
}
template <bool kBf16>
__device__ __forceinline__ void mma_16(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                       uint32_t b1) {
  if constexpr (kBf16) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  } else {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
}

// ---------------------------------------------------------------------------------------------
// Weights: a chunk's quants as the B fragment, and a row's scales for the chunk.
//
// The weights are the MMA's A operand (16 rows), the activations its B operand (8 tokens).
// Fragment slots (lane = 4g + t): the m16n8k32 slots 4t + i and 16 + 4t + i of a row/column
// hold chunk elements 8t + i and 8t + 4 + i (a permutation of K inside one exact integer sum,
// the same for A and B); the m16n8k16 (int8) of half h holds elements 16h + 4t + i; the f16
// m16n8k16 slots 2t + j and 8 + 2t + j hold a step's elements 4t + j and 4t + 2 + j.

__device__ __forceinline__ uint32_t ld32(const uint8_t* p) { return *reinterpret_cast<const uint32_t*>(p); }
__device__ __forceinline__ uint2 ld64(const void* p) { return *reinterpret_cast<const uint2*>(p); }
// Bits 0..3 of x to bit 0 of bytes 0..3.
__device__ __forceinline__ uint32_t spread4(uint32_t x) { return (x * 0x00204081u) & 0x01010101u; }

// A row's two planes (block types; for float types `a` is the row's elements), found once per
// row, and block blk of them.
struct Planes {
  const uint8_t* a;
  const uint8_t* b;
};
template <T_ T>
__device__ __forceinline__ Planes row_planes(const DevMatrix& w, int64_t row) {
  if constexpr (is_float_mma(T)) {
    return {reinterpret_cast<const uint8_t*>(static_cast<const uint16_t*>(w.data) + row * w.ld), nullptr};
  } else {
    constexpr BlockSplit sp = block_split(T);
    const int64_t i = row * (w.cols / sp.block_elems);
    return {static_cast<const uint8_t*>(w.data) + i * sp.a_len, w.aux + i * sp.b_len()};
  }
}
template <T_ T>
__device__ __forceinline__ Planes block_at(const Planes& r, int64_t blk) {
  constexpr BlockSplit sp = block_split(T);
  return {r.a + blk * sp.a_len, r.b + blk * sp.b_len()};
}

template <T_ T>
__device__ __forceinline__ void load_b(const Planes& rp, int64_t c, int t, uint32_t b[2]) {
  if constexpr (T == T_::Q8_0) {
    const uint2 v = ld64(block_at<T>(rp, c).a + 8 * t);
    b[0] = v.x;
    b[1] = v.y;
  } else if constexpr (T == T_::Q4_0 || T == T_::Q4_1 || T == T_::Q5_0 || T == T_::Q5_1) {
    const Planes p = block_at<T>(rp, c);
    const uint2 v = ld64(p.a + 8 * (t & 1));  // elements 8t.. are low nibbles (t < 2) or high ones
    const int sh = 4 * (t >> 1);
    b[0] = (v.x >> sh) & 0x0F0F0F0Fu;
    b[1] = (v.y >> sh) & 0x0F0F0F0Fu;
    if constexpr (T == T_::Q5_0 || T == T_::Q5_1) {
      uint32_t qh;
      if constexpr (T == T_::Q5_0) qh = uint32_t{load_u16(p.b + 2)} | uint32_t{load_u16(p.b + 4)} << 16;
      else qh = ld32(p.b + 4);
      const uint32_t hb = qh >> (8 * t);  // bit e of qh is element e's fifth bit
      b[0] |= spread4(hb & 0xFu) << 4;
      b[1] |= spread4((hb >> 4) & 0xFu) << 4;
    }
    if constexpr (T == T_::Q4_0) {
      b[0] = __vsub4(b[0], 0x08080808u);
      b[1] = __vsub4(b[1], 0x08080808u);
    } else if constexpr (T == T_::Q5_0) {
      b[0] = __vsub4(b[0], 0x10101010u);
      b[1] = __vsub4(b[1], 0x10101010u);
    }
  } else {
    const int sub = static_cast<int>(c & 7);  // 32-element sub-block of the 256-element block
    const uint8_t* a = block_at<T>(rp, c >> 3).a;
    if constexpr (T == T_::Q4_K || T == T_::Q5_K) {
      constexpr int kQs = T == T_::Q4_K ? 16 : 48;
      const uint2 v = ld64(a + kQs + 32 * (sub >> 1) + 8 * t);
      const int sh = 4 * (sub & 1);
      b[0] = (v.x >> sh) & 0x0F0F0F0Fu;
      b[1] = (v.y >> sh) & 0x0F0F0F0Fu;
      if constexpr (T == T_::Q5_K) {
        const uint2 h = ld64(a + 16 + 8 * t);
        b[0] |= ((h.x >> sub) & 0x01010101u) << 4;
        b[1] |= ((h.y >> sub) & 0x01010101u) << 4;
      }
    } else {
#pragma unroll
      for (int hh = 0; hh < 2; ++hh) {
        const int l = 16 * hh + 4 * t;
        if constexpr (T == T_::Q6_K) {
          const int h = sub >> 2, qq = sub & 3;
          const uint32_t ql = ld32(a + 64 * h + 32 * (qq & 1) + l), qh = ld32(a + 128 + 32 * h + l);
          const uint32_t v = ((ql >> (4 * (qq >> 1))) & 0x0F0F0F0Fu) | (((qh >> (2 * qq)) & 0x03030303u) << 4);
          b[hh] = __vsub4(v, 0x20202020u);
        } else if constexpr (T == T_::Q3_K) {
          const uint32_t q = ld32(a + 32 + 32 * (sub >> 2) + l), hm = ld32(a + l);
          const uint32_t v = ((q >> (2 * (sub & 3))) & 0x03030303u) | (((hm >> sub) & 0x01010101u) << 2);
          b[hh] = __vsub4(v, 0x04040404u);
        } else {  // Q2_K
          b[hh] = (ld32(a + 16 + 32 * (sub >> 2) + l) >> (2 * (sub & 3))) & 0x03030303u;
        }
      }
    }
  }
}

// A row's scales for one chunk: w = f1·sc·q (+ f2·mn) with integer sub-scales sc, mn per
// 16-element half (sub16 types) or f1, f2 folding them (the others; exact products).
struct RowScale {
  float f1 = 0.0f, f2 = 0.0f;
  int sc0 = 0, sc1 = 0, mn0 = 0, mn1 = 0;
};

template <T_ T>
__device__ __forceinline__ RowScale load_scale(const Planes& rp, int64_t c) {
  RowScale r;
  if constexpr (T == T_::Q8_0 || T == T_::Q4_0 || T == T_::Q5_0 || T == T_::Q4_1 || T == T_::Q5_1) {
    const Planes p = block_at<T>(rp, c);
    r.f1 = f16_bits_to_f32(load_u16(p.b));
    if constexpr (T == T_::Q4_1 || T == T_::Q5_1) r.f2 = f16_bits_to_f32(load_u16(p.b + 2));
  } else {
    const int sub = static_cast<int>(c & 7);
    const Planes p = block_at<T>(rp, c >> 3);
    if constexpr (T == T_::Q4_K || T == T_::Q5_K) {
      const uint32_t hd = ld32(p.a);
      const uint32_t s[3] = {ld32(p.a + 4), ld32(p.a + 8), ld32(p.a + 12)};
      uint32_t sc, mn;
      scale_min_k4(sub, s, sc, mn);
      // d·sc and dmin·mn are exact (11-bit by 6-bit significands).
      r.f1 = __fmul_rn(f16_bits_to_f32(static_cast<uint16_t>(hd & 0xffffu)), small_int(sc));
      r.f2 = -__fmul_rn(f16_bits_to_f32(static_cast<uint16_t>(hd >> 16)), small_int(mn));
    } else if constexpr (T == T_::Q6_K) {
      r.f1 = f16_bits_to_f32(load_u16(p.b));
      r.sc0 = static_cast<int8_t>(p.a[192 + 2 * sub]);
      r.sc1 = static_cast<int8_t>(p.a[193 + 2 * sub]);
    } else if constexpr (T == T_::Q3_K) {
      uint32_t s[3];
#pragma unroll
      for (int i = 0; i < 3; ++i) s[i] = uint32_t{load_u16(p.b + 4 * i)} | uint32_t{load_u16(p.b + 4 * i + 2)} << 16;
      r.f1 = f16_bits_to_f32(load_u16(p.b + 12));
      int sc[2];
#pragma unroll
      for (int hh = 0; hh < 2; ++hh) {
        const int js = 2 * sub + hh;
        const uint32_t low = js < 8 ? (scale_byte(s, js) & 0xFu) : (scale_byte(s, js - 8) >> 4);
        const uint32_t high = (scale_byte(s, 8 + js % 4) >> (2 * (js / 4))) & 3u;
        sc[hh] = static_cast<int>(low | high << 4) - 32;
      }
      r.sc0 = sc[0];
      r.sc1 = sc[1];
    } else {  // Q2_K
      r.f1 = f16_bits_to_f32(load_u16(p.b));
      r.f2 = -f16_bits_to_f32(load_u16(p.b + 2));
      const uint32_t b0 = p.a[2 * sub], b1 = p.a[2 * sub + 1];
      r.sc0 = static_cast<int>(b0 & 0xFu);
      r.mn0 = static_cast<int>(b0 >> 4);
      r.sc1 = static_cast<int>(b1 & 0xFu);
      r.mn1 = static_cast<int>(b1 >> 4);
    }
  }
  return r;
}

// An integer as f32, exactly: |v| < 2^22 by the ranges of the types that use it (an integer add
// and a float subtract instead of the slow conversion instruction; the same value).
__device__ __forceinline__ float exact_small(int v) { return __int_as_float(0x4B400000 + v) - 12582912.0f; }
template <T_ T>
__device__ __forceinline__ float int_f(int v) {
  if constexpr (T == T_::Q6_K) return __int2float_rn(v);  // |I1| <= 2^24: exact too
  else return exact_small(v);
}

// One element's step for one chunk (the contract above). i0, i1: the integer sums of the two
// 16-element halves (sub16 types) or i0 the chunk's (others); xs: the activation halves' sums.
template <T_ T>
__device__ __forceinline__ void tc_step(float& acc, const RowScale& r, float dx, int32_t xs, int i0, int i1) {
  const int s0 = static_cast<int16_t>(xs & 0xffff), s1 = xs >> 16;
  int I1, I2 = 0;
  if constexpr (sub16(T)) {
    I1 = r.sc0 * i0 + r.sc1 * i1;
    if constexpr (has_min(T)) I2 = r.mn0 * s0 + r.mn1 * s1;
  } else {
    I1 = i0;
    if constexpr (has_min(T)) I2 = s0 + s1;
  }
  acc = __fmaf_rn(__fmul_rn(r.f1, dx), int_f<T>(I1), acc);
  if constexpr (has_min(T)) acc = __fmaf_rn(__fmul_rn(r.f2, dx), int_f<T>(I2), acc);
}

// ---------------------------------------------------------------------------------------------
// The kernel.

struct TcArgs {
  DevMatmulOut out[kMaxMulti];
  unsigned block0[kMaxMulti + 1];
  int n_outs;
  bool accumulate;
  const int8_t* xq;    // [m, k] int8 (block types)
  const float* xd;     // [m, k / 32] scales
  const int32_t* xs;   // [m, k / 32] packed half sums
  const uint16_t* xh;  // [m, k] f16 / bf16 (float types)
  int64_t m, k;
};

// The warp's rows and tokens: RT tiles of 16 weight rows (the MMA's A operand: rows
// n0 + 16rt + g and + 8 for lane 4g + t) and TT tiles of 8 tokens (B: token m0 + 8tt + g; the
// results are tokens m0 + 8tt + 2t and + 1). Indices past the matrix are clamped to its last
// row or token (valid loads) and their results dropped.
template <T_ T, int RT, int TT>
struct Warp {
  Planes rp[RT][2];
  const uint8_t* xr[TT];     // token m0 + 8tt + g: its 8-bit or f16 activation row
  int64_t tok_s[TT][2];      // tokens m0 + 8tt + 2t + i, for their scales
};

// One chunk for the warp's tiles, loaded for several chunks first (load), then multiplied in
// ascending chunk order (mma): loads in flight, the same arithmetic.
template <T_ T, int RT, int TT, bool kFloat = is_float_mma(T)>
struct Chunk;

template <T_ T, int RT, int TT>
struct Chunk<T, RT, TT, false> {
  uint32_t wq[RT][2][2];  // [rt][row g / g + 8][fragment word]
  RowScale rs[RT][2];
  uint32_t xq[TT][2];
  float dx[TT][2];
  int32_t xs[TT][2];

  __device__ __forceinline__ void load(const TcArgs& a, const Warp<T, RT, TT>& wp, int64_t c, int t) {
    const int64_t nc = a.k / 32;
#pragma unroll
    for (int rt = 0; rt < RT; ++rt) {
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        load_b<T>(wp.rp[rt][i], c, t, wq[rt][i]);
        rs[rt][i] = load_scale<T>(wp.rp[rt][i], c);
      }
    }
#pragma unroll
    for (int tt = 0; tt < TT; ++tt) {
      const uint8_t* x = wp.xr[tt] + 32 * c;
      if constexpr (sub16(T)) {
        xq[tt][0] = ld32(x + 4 * t);
        xq[tt][1] = ld32(x + 16 + 4 * t);
      } else {
        const uint2 v = ld64(x + 8 * t);
        xq[tt][0] = v.x;
        xq[tt][1] = v.y;
      }
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        dx[tt][i] = a.xd[wp.tok_s[tt][i] * nc + c];
        xs[tt][i] = a.xs[wp.tok_s[tt][i] * nc + c];
      }
    }
  }

  __device__ __forceinline__ void mma(float (&acc)[RT][TT][4]) const {
#pragma unroll
    for (int rt = 0; rt < RT; ++rt) {
#pragma unroll
      for (int tt = 0; tt < TT; ++tt) {
        int d0[4], d1[4] = {0, 0, 0, 0};
        if constexpr (sub16(T)) {
          mma_s8_k16(d0, wq[rt][0][0], wq[rt][1][0], xq[tt][0]);
          mma_s8_k16(d1, wq[rt][0][1], wq[rt][1][1], xq[tt][1]);
        } else {
          mma_s8_k32(d0, wq[rt][0][0], wq[rt][1][0], wq[rt][0][1], wq[rt][1][1], xq[tt][0], xq[tt][1]);
        }
#pragma unroll
        for (int e = 0; e < 4; ++e) {  // e: (row g + 8(e >> 1), token 2t + (e & 1))
          tc_step<T>(acc[rt][tt][e], rs[rt][e >> 1], dx[tt][e & 1], xs[tt][e & 1], d0[e], d1[e]);
        }
      }
    }
  }
};

// A float type's chunk: two 16-element steps.
template <T_ T, int RT, int TT>
struct Chunk<T, RT, TT, true> {
  uint2 wv[2][RT][2];  // [step][rt][row g / g + 8]
  uint2 xv[2][TT];

  __device__ __forceinline__ void load(const TcArgs&, const Warp<T, RT, TT>& wp, int64_t c, int t) {
#pragma unroll
    for (int step = 0; step < 2; ++step) {
      const int64_t off = 2 * (32 * c + 16 * step + 4 * t);  // bytes
#pragma unroll
      for (int rt = 0; rt < RT; ++rt) {
#pragma unroll
        for (int i = 0; i < 2; ++i) wv[step][rt][i] = ld64(wp.rp[rt][i].a + off);
      }
#pragma unroll
      for (int tt = 0; tt < TT; ++tt) xv[step][tt] = ld64(wp.xr[tt] + off);
    }
  }

  __device__ __forceinline__ void mma(float (&acc)[RT][TT][4]) const {
#pragma unroll
    for (int step = 0; step < 2; ++step) {
#pragma unroll
      for (int rt = 0; rt < RT; ++rt) {
#pragma unroll
        for (int tt = 0; tt < TT; ++tt) {
          mma_16<T == T_::BF16>(acc[rt][tt], wv[step][rt][0].x, wv[step][rt][1].x, wv[step][rt][0].y,
                                wv[step][rt][1].y, xv[step][tt].x, xv[step][tt].y);
        }
      }
    }
  }
};

// Chunks a warp keeps in flight: many for small tiles (decode streams the weights), few for the
// larger ones (registers).
template <T_ T, int RT, int TT>
__host__ __device__ constexpr int chunks_in_flight() {
  if (RT * TT == 1) return sub16(T) ? 4 : 8;
  if (RT * TT == 2) return sub16(T) ? 2 : 4;
  return 2;
}

template <T_ T, int RT, int TT, int U = chunks_in_flight<T, RT, TT>()>
__global__ void __launch_bounds__(kThreads) tc_kernel(TcArgs a) {
  __shared__ float red[kSlices][RT * TT * 4][32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;
  int o = 0;
#pragma unroll
  for (int i = 1; i < kMaxMulti; ++i) o += i < a.n_outs && blockIdx.x >= a.block0[i];
  const DevMatrix& w = a.out[o].w;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x - a.block0[o]) * (16 * RT);
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * (8 * TT);
  const int64_t nc = a.k / 32;
  const int64_t c_begin = warp * nc / kSlices, c_end = (warp + 1) * nc / kSlices;

  Warp<T, RT, TT> wp;
#pragma unroll
  for (int rt = 0; rt < RT; ++rt) {
#pragma unroll
    for (int i = 0; i < 2; ++i) wp.rp[rt][i] = row_planes<T>(w, min(n0 + 16 * rt + g + 8 * i, w.rows - 1));
  }
  const uint8_t* xbase = is_float_mma(T) ? reinterpret_cast<const uint8_t*>(a.xh) : reinterpret_cast<const uint8_t*>(a.xq);
  const int64_t xrow = is_float_mma(T) ? 2 * a.k : a.k;  // bytes per activation row
#pragma unroll
  for (int tt = 0; tt < TT; ++tt) {
    wp.xr[tt] = xbase + min(m0 + 8 * tt + g, a.m - 1) * xrow;
#pragma unroll
    for (int i = 0; i < 2; ++i) wp.tok_s[tt][i] = min(m0 + 8 * tt + 2 * t + i, a.m - 1);
  }

  float acc[RT][TT][4];
#pragma unroll
  for (int rt = 0; rt < RT; ++rt)
#pragma unroll
    for (int tt = 0; tt < TT; ++tt)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[rt][tt][e] = 0.0f;

  for (int64_t c = c_begin; c < c_end; c += U) {
    Chunk<T, RT, TT> ch[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      if (c + u < c_end) ch[u].load(a, wp, c + u, t);
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      if (c + u < c_end) ch[u].mma(acc);  // chunks in ascending order, as the contract says
    }
  }

#pragma unroll
  for (int rt = 0; rt < RT; ++rt)
#pragma unroll
    for (int tt = 0; tt < TT; ++tt)
#pragma unroll
      for (int e = 0; e < 4; ++e) red[warp][(rt * TT + tt) * 4 + e][lane] = acc[rt][tt][e];
  __syncthreads();  // every warp of the block reaches it: none has returned
  for (int idx = warp; idx < RT * TT * 4; idx += kSlices) {
    float v = red[0][idx][lane];
#pragma unroll
    for (int s = 1; s < kSlices; ++s) v = __fadd_rn(v, red[s][idx][lane]);
    const int e = idx % 4, tt = (idx / 4) % TT, rt = idx / (4 * TT);
    const int64_t row = n0 + 16 * rt + g + 8 * (e >> 1), tok = m0 + 8 * tt + 2 * t + (e & 1);
    if (tok < a.m && row < w.rows) {
      float* out = a.out[o].y + tok * a.out[o].ldy + row;
      *out = a.accumulate ? __fadd_rn(*out, v) : v;
    }
  }
}

template <int RT, int TT, bool kDeep = false>
void launch_tiles(cudaStream_t st, TcArgs& a) {
  for (int i = 0; i <= a.n_outs; ++i) a.block0[i] = 0;
  for (int i = 0; i < a.n_outs; ++i) {
    a.block0[i + 1] = a.block0[i] + static_cast<unsigned>((a.out[i].w.rows + 16 * RT - 1) / (16 * RT));
  }
  for (int i = a.n_outs + 1; i <= kMaxMulti; ++i) a.block0[i] = a.block0[a.n_outs];
  const dim3 grid(a.block0[a.n_outs], static_cast<unsigned>((a.m + 8 * TT - 1) / (8 * TT)));
  if (grid.x == 0) return;
  switch (a.out[0].w.type) {
#define GRETA_TC_CASE(T) \
  case T_::T:                                                                        \
    if constexpr (kDeep) tc_kernel<T_::T, RT, TT, 2 * chunks_in_flight<T_::T, RT, TT>()><<<grid, kThreads, 0, st>>>(a); \
    else tc_kernel<T_::T, RT, TT><<<grid, kThreads, 0, st>>>(a);                          \
    break;
    GRETA_TC_CASE(F16)
    GRETA_TC_CASE(BF16)
    GRETA_TC_CASE(Q8_0)
    GRETA_TC_CASE(Q4_0)
    GRETA_TC_CASE(Q4_1)
    GRETA_TC_CASE(Q5_0)
    GRETA_TC_CASE(Q5_1)
    GRETA_TC_CASE(Q2_K)
    GRETA_TC_CASE(Q3_K)
    GRETA_TC_CASE(Q4_K)
    GRETA_TC_CASE(Q5_K)
    GRETA_TC_CASE(Q6_K)
#undef GRETA_TC_CASE
    default: fail("tensor-core matmul: unsupported weight type");
  }
}

}  // namespace

bool tc_covers(DevWeightType t, int64_t k) {
  if (t == T_::F32) return false;
  if (is_float_mma(t)) return k % 32 == 0;
  return true;
}

int64_t tc_scratch_bytes(DevWeightType t, int64_t k, int64_t m) {
  if (!tc_covers(t, k)) return 0;
  if (is_float_mma(t)) return align256(m * k * 2);
  const int64_t nc = k / 32;
  return align256(m * k) + 2 * align256(m * nc * 4);
}

void tc_matmul(void* stream, const DevMatmulOut* outs, int n_outs, bool accumulate, const float* x, int64_t ldx, int64_t m,
               void* scratch) {
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  TcArgs a{};
  const DevWeightType type = outs[0].w.type;
  const int64_t k = outs[0].w.cols;
  for (int i = 0; i < n_outs; ++i) a.out[i] = outs[i];
  a.n_outs = n_outs;
  a.accumulate = accumulate;
  a.m = m;
  a.k = k;
  uint8_t* base = static_cast<uint8_t*>(scratch);
  if (is_float_mma(type)) {
    a.xh = reinterpret_cast<const uint16_t*>(base);
    const int64_t n = m * (k / 4);
    const unsigned blocks = static_cast<unsigned>((n + 255) / 256);
    if (type == T_::BF16) convert_kernel<true><<<blocks, 256, 0, st>>>(x, ldx, m, k, reinterpret_cast<uint16_t*>(base));
    else convert_kernel<false><<<blocks, 256, 0, st>>>(x, ldx, m, k, reinterpret_cast<uint16_t*>(base));
  } else {
    const int64_t nc = k / 32;
    int8_t* q = reinterpret_cast<int8_t*>(base);
    float* d = reinterpret_cast<float*>(base + align256(m * k));
    int32_t* s = reinterpret_cast<int32_t*>(base + align256(m * k) + align256(m * nc * 4));
    a.xq = q;
    a.xd = d;
    a.xs = s;
    const unsigned blocks = static_cast<unsigned>((m * nc + 7) / 8);
    quantize_kernel<<<blocks, 256, 0, st>>>(x, ldx, m, k, q, d, s);
  }
  check_last_launch("matmul activations (tensor cores)");
  // The tile shape only decides which rows share a warp's fragments (see the top of the file).
  // Tiles (16-row tiles x 8-token tiles per warp), by m and by type (2x8 spills registers for
  // the types with minimums or 16-element sub-blocks; measured on an H200, llama-7b pp512:
  // Q8_0 2x8 4142 t/s, 4x4 4044, 2x4 3830). GRETA_CUDA_TC_TILE=24|28|44 overrides the tile for
  // m > 32 (for measuring). None of this enters a row's arithmetic.
  static const int forced = [] {
    const char* e = std::getenv("GRETA_CUDA_TC_TILE");
    return e != nullptr ? std::atoi(e) : 0;
  }();
  const int big = forced != 0 ? forced : (sub16(type) || has_min(type)) ? 24 : 28;
  // One token tile: the float types keep twice the chunks in flight (llama-7b F16 tg128 on an
  // H200: 90.4 -> 121.0 t/s; Q8_0 142.0 -> 124.6, so not the int8 types). GRETA_CUDA_TC_DEEP=0|1
  // forces it (for measuring).
  static const int deep_env = [] {
    const char* e = std::getenv("GRETA_CUDA_TC_DEEP");
    return e == nullptr ? -1 : std::atoi(e);
  }();
  const bool deep = deep_env >= 0 ? deep_env == 1 : is_float_mma(type);
  if (m <= 8 && deep) launch_tiles<1, 1, true>(st, a);
  else if (m <= 8) launch_tiles<1, 1>(st, a);
  else if (m <= 16) launch_tiles<1, 2>(st, a);
  else if (m <= 32) launch_tiles<2, 2>(st, a);
  else if (big == 44) launch_tiles<4, 4>(st, a);
  else if (big == 28) launch_tiles<2, 8>(st, a);
  else launch_tiles<2, 4>(st, a);
  check_last_launch("matmul (tensor cores)");
}

}  // namespace greta::cuda

#else  // GRETA_HIP: no tensor-core path; matmul.cu's FMA kernel runs every type.

namespace greta::cuda {
bool tc_covers(DevWeightType, int64_t) { return false; }
int64_t tc_scratch_bytes(DevWeightType, int64_t, int64_t) { return 0; }
void tc_matmul(void*, const DevMatmulOut*, int, bool, const float*, int64_t, int64_t, void*) {}
}  // namespace greta::cuda

#endif
