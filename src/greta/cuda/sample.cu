// Sampling on the device: one block per sampled row.
//
// Greedy rows: a block-wide argmax (NaN skipped, the lower id wins ties): the comparison is a
// total order on (value, id), so the result is the host's whatever order the block combines in.
//
// Sampled rows (temp > 0) with K <= kDevSampleMaxCandidates candidates (K = top_k, or the
// vocabulary): every logit gets the 64-bit key (order(logit with NaN -> -inf, -0 -> +0) << 32 |
// ~id), unique and ordered exactly as the host's candidate order (descending logit, ascending id).
// A radix select (8 passes of 8 bits, integer histograms) finds the K-th largest key exactly; the
// K keys at or above it are gathered and bitonic-sorted in shared memory -- the host's top-k
// candidates in the host's order. Their logits are re-read from the row (bit-identical to the
// host's, NaN -> -inf). The block computes each candidate's two exponentials with
// backend::sample_exp (pure functions of the candidate), then one thread runs
// backend::sample_sorted -- the host's filter and draw code, the same IEEE operations in the same
// order (-fmad=false, no fast math). So the chosen index, hence the id, is the host's.

#include <cstdint>

#include "greta/backend/sampling.h"
#include "greta/cuda/gpu_compat.h"
#include "greta/cuda/sample.h"

namespace greta::cuda {
namespace {

constexpr int kThreads = 1024;  // 32 logical 32-lane groups (16 wavefronts of 64 on AMD)
constexpr int kGroups = kThreads / 32;
constexpr int kMaxK = kDevSampleMaxCandidates;
static_assert((kMaxK & (kMaxK - 1)) == 0 && kMaxK <= kThreads, "a power of two, one element per thread");

__device__ inline bool is_nan(float v) { return !(v == v); }

// Larger logit -> larger key; -0 and +0 are one value (the host compares them equal).
__device__ inline uint64_t candidate_key(float v, int32_t id) {
  if (is_nan(v)) v = -__int_as_float(0x7f800000);  // -inf
  if (v == 0.0f) v = 0.0f;
  const uint32_t b = __float_as_uint(v);
  const uint32_t ord = (b & 0x80000000u) != 0 ? ~b : (b | 0x80000000u);
  return (static_cast<uint64_t>(ord) << 32) | static_cast<uint64_t>(0xFFFFFFFFu - static_cast<uint32_t>(id));
}
__device__ inline int32_t key_id(uint64_t k) { return static_cast<int32_t>(0xFFFFFFFFu - static_cast<uint32_t>(k)); }

// (v, i) beats (bv, bi): a value (not NaN) that is larger, or equal with a lower id; bi < 0: none.
__device__ inline bool greedy_better(float v, int32_t i, float bv, int32_t bi) {
  if (i < 0) return false;
  if (bi < 0) return true;
  return v > bv || (v == bv && i < bi);
}

__global__ void __launch_bounds__(kThreads) sample_kernel(const float* __restrict__ logits, int64_t ld, int32_t n,
                                                          const DevSampleRow* __restrict__ rows,
                                                          int32_t* __restrict__ ids) {
  __shared__ uint32_t hist[256];
  __shared__ uint64_t s_key[kMaxK];
  __shared__ float s_logit[kMaxK];
  __shared__ int32_t s_id[kMaxK];
  __shared__ double s_ptop[kMaxK];
  __shared__ double s_ptemp[kMaxK];
  __shared__ float g_val[kGroups];
  __shared__ int32_t g_id[kGroups];
  __shared__ uint64_t s_prefix;
  __shared__ uint32_t s_remaining;
  __shared__ uint32_t s_count;

  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid & 31;
  const int group = tid >> 5;
  const DevSampleRow r = rows[blockIdx.x];
  const float* l = logits + static_cast<int64_t>(r.row) * ld;

  if (r.temp <= 0.0f) {
    // Greedy: each thread scans its ids in ascending order (strictly greater keeps the lowest),
    // then a shuffle tree per 32-lane group and one over the groups, by the total order.
    float bv = 0.0f;
    int32_t bi = -1;
    for (int32_t i = tid; i < n; i += kThreads) {
      const float v = l[i];
      if (!is_nan(v) && (bi < 0 || v > bv)) {
        bv = v;
        bi = i;
      }
    }
    for (int m = 16; m >= 1; m >>= 1) {
      const float ov = GRETA_SHFL_XOR(bv, m);
      const int32_t oi = GRETA_SHFL_XOR(bi, m);
      if (greedy_better(ov, oi, bv, bi)) {
        bv = ov;
        bi = oi;
      }
    }
    if (lane == 0) {
      g_val[group] = bv;
      g_id[group] = bi;
    }
    __syncthreads();
    if (tid == 0) {
      float v = g_val[0];
      int32_t i = g_id[0];
      for (int g = 1; g < kGroups; ++g) {
        if (greedy_better(g_val[g], g_id[g], v, i)) {
          v = g_val[g];
          i = g_id[g];
        }
      }
      ids[blockIdx.x] = i < 0 ? 0 : i;  // every logit NaN: id 0, as the host
    }
    return;
  }

  const backend::SampleParams p{r.temp, r.top_k, r.top_p, r.min_p};
  const int32_t k = backend::sample_candidates(p, n);
  if (k > kMaxK) {  // the backend samples this row on the host
    if (tid == 0) ids[blockIdx.x] = -1;
    return;
  }

  // The K-th largest key, exactly: 8 radix passes of 8 bits from the top.
  uint64_t threshold = 0;  // keys >= threshold are the candidates (all when k == n)
  if (k < n) {
    uint64_t prefix = 0, mask = 0;
    uint32_t remaining = static_cast<uint32_t>(k);
    for (int shift = 56; shift >= 0; shift -= 8) {
      for (int j = tid; j < 256; j += kThreads) hist[j] = 0;
      __syncthreads();
      for (int32_t i = tid; i < n; i += kThreads) {
        const uint64_t key = candidate_key(l[i], i);
        if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1u);
      }
      __syncthreads();
      if (tid == 0) {
        uint32_t above = 0;
        int d = 255;
        for (; d > 0; --d) {
          if (above + hist[d] >= remaining) break;
          above += hist[d];
        }
        s_prefix = prefix | (static_cast<uint64_t>(d) << shift);
        s_remaining = remaining - above;
      }
      __syncthreads();
      prefix = s_prefix;
      remaining = s_remaining;
      mask |= static_cast<uint64_t>(255) << shift;
      __syncthreads();
    }
    threshold = prefix;  // a unique key: exactly k keys are >= it
  }

  // Gather the k candidates (in any order: the sort below orders them by their unique keys).
  if (tid == 0) s_count = 0;
  __syncthreads();
  for (int32_t i = tid; i < n; i += kThreads) {
    const uint64_t key = candidate_key(l[i], i);
    if (key >= threshold) s_key[atomicAdd(&s_count, 1u)] = key;
  }
  __syncthreads();
  int pw = 1;
  while (pw < k) pw <<= 1;
  for (int j = k + tid; j < pw; j += kThreads) s_key[j] = 0;  // below every real key
  __syncthreads();
  // Bitonic sort, descending.
  for (int size = 2; size <= pw; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int i = tid; i < pw; i += kThreads) {
        const int j = i ^ stride;
        if (j > i) {
          const uint64_t a = s_key[i], b = s_key[j];
          const bool descending = (i & size) == 0;
          if (descending ? a < b : a > b) {
            s_key[i] = b;
            s_key[j] = a;
          }
        }
      }
      __syncthreads();
    }
  }
  for (int j = tid; j < k; j += kThreads) {
    const int32_t id = key_id(s_key[j]);
    const float v = l[id];
    s_id[j] = id;
    s_logit[j] = is_nan(v) ? -__int_as_float(0x7f800000) : v;  // the host's candidate logit, bit for bit
  }
  __syncthreads();
  const float max_logit = s_logit[0];
  if (!(max_logit - max_logit == 0.0f)) {  // not finite: the first candidate, as the host
    if (tid == 0) ids[blockIdx.x] = s_id[0];
    return;
  }
  const double m = static_cast<double>(max_logit);
  const float inv_max = max_logit / r.temp;
  for (int j = tid; j < k; j += kThreads) {
    s_ptop[j] = backend::sample_exp(static_cast<double>(s_logit[j]) - m);
    const float scaled = s_logit[j] / r.temp;
    s_ptemp[j] = backend::sample_exp(static_cast<double>(scaled) - static_cast<double>(inv_max));
  }
  __syncthreads();
  if (tid == 0) {
    const auto logit = [](int32_t i) { return s_logit[i]; };
    const auto p_top = [](int32_t i) { return s_ptop[i]; };
    const auto p_temp = [](int32_t i) { return s_ptemp[i]; };
    const int32_t j = backend::sample_sorted(k, max_logit, p, r.log_min_p, r.u, logit, p_top, p_temp);
    ids[blockIdx.x] = s_id[j];
  }
}

}  // namespace

bool device_samples(const DevSampleRow& r, int32_t n_vocab) {
  if (r.temp <= 0.0f) return true;
  return backend::sample_candidates(backend::SampleParams{r.temp, r.top_k, r.top_p, r.min_p}, n_vocab) <= kMaxK;
}

void launch_sample(Stream s, const float* logits, int64_t ld, int32_t n_vocab, const DevSampleRow* rows, int32_t n,
                   int32_t* ids) {
  if (n <= 0) return;
  sample_kernel<<<static_cast<unsigned>(n), kThreads, 0, static_cast<cudaStream_t>(s)>>>(logits, ld, n_vocab, rows, ids);
  check_last_launch("sample");
}

}  // namespace greta::cuda
