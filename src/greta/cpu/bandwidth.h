#pragma once
// The machine's physical limits, measured in the same run as a benchmark (absolute figures
// move with the neighbours, so benchmarks report fractions of these).
//
//   read bandwidth: every thread streams its own slice of a buffer far larger than the caches
//                   (the decode limit: tokens/s <= bandwidth / weight bytes per token)
//   f32 FMA peak:   every thread runs independent vector fused multiply-adds from registers
//                   (the prefill roofline)

#include <cstdint>

#include "greta/core/thread_pool.h"

namespace greta::cpu {

struct BandwidthOptions {
  int64_t buffer_bytes = int64_t{512} << 20;  // 512 MiB: 16x the L3 of this machine kind
  int reps = 5;                               // timed passes; the best one is reported
  double min_pass_seconds = 0.05;             // each thread re-reads its slice until a pass lasts this long
};

// Streaming-read bandwidth in GB/s (1e9 bytes/s) with pool.n_threads() threads (wall time): the
// best of `reps` passes after a warm-up. Each thread streams its own slice (first touched by
// it); a pass starts when every thread has reached a spin barrier (so a late wake-up does not
// count as lost bandwidth) and lasts from the first thread's start to the last one's end; a
// pass re-reads the slices until it lasts min_pass_seconds. Give it a pool of all the hardware
// threads (hardware_threads()) to measure the machine's limit. If per_cpu_gb_s is given, it
// receives the best pass over each thread's CPU time, summed over the threads (robust to time
// slices lost to other processes on a shared machine).
double measure_read_bandwidth(ThreadPool& pool, const BandwidthOptions& options = {}, double* per_cpu_gb_s = nullptr);

// std::thread::hardware_concurrency(), at least 1.
int hardware_threads();

// Peak f32 FLOP/s (2 per lane per FMA) in GFLOP/s of pool.n_threads() cores, for the
// dispatched SIMD target; median of `reps` passes of ~`seconds` each. Each thread's rate is
// taken over its own CPU time (not wall time), so on a shared machine the figure is what the
// cores do while they run, not how often the scheduler lets them.
double measure_fma_peak_gflops(ThreadPool& pool, double seconds = 0.05, int reps = 5);

// Name of the dispatched SIMD target of these measurements ("AVX3_DL", ...).
const char* bandwidth_simd_target();

}  // namespace greta::cpu
