#pragma once
// Sampling on the device (sample.cu): the GPU backend's `sample` op. Each sampled row picks
// exactly the token greta/backend/sampling.h's reference (the host sampler) picks from the same
// logits, parameters and draw; docs/ARCHITECTURE.md, "Sampling on the backend", has the argument.

#include <cstdint>

#include "greta/cuda/kernels.h"

namespace greta::cuda {

// Sampled rows (temp > 0) whose candidate set (top_k, or the whole vocabulary) is larger than
// this are sampled on the host by the backend (their logits row is read back); greedy rows and
// rows with at most this many candidates are sampled on the device.
inline constexpr int32_t kDevSampleMaxCandidates = 1024;

// One token to sample (device memory, written by the backend per step).
struct DevSampleRow {
  int32_t row = 0;        // row of the logits
  int32_t top_k = 0;
  float temp = 0.0f;      // <= 0: greedy
  float top_p = 1.0f;
  float min_p = 0.0f;
  float log_min_p = 0.0f; // backend::sample_log_min_p, computed on the host
  double u = 0.0;         // the PRNG draw
};

// True when launch_sample picks the row's token on the device (greedy, or at most
// kDevSampleMaxCandidates candidates); otherwise it writes -1 for it.
bool device_samples(const DevSampleRow& r, int32_t n_vocab);

// ids[i] = the token rows[i] picks from logits row rows[i].row, for i < n (or -1 where
// device_samples is false). logits: [*, n_vocab] f32 stride ld. rows, ids: device memory. One
// block per sample; no host synchronisation.
void launch_sample(Stream s, const float* logits, int64_t ld, int32_t n_vocab, const DevSampleRow* rows, int32_t n,
                   int32_t* ids);

}  // namespace greta::cuda
