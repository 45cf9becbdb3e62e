// Streaming-read bandwidth and FMA peak micro-benchmarks (Highway runtime dispatch).

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "greta/cpu/bandwidth.cpp"
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SSSE3 | HWY_SSE4)
#endif
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include "greta/cpu/bandwidth.h"

HWY_BEFORE_NAMESPACE();
namespace greta::cpu {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Reads [p, p + n) (n a multiple of 8 vectors) with 8 independent accumulators; the XOR result
// keeps the loads alive.
uint64_t StreamRead(const uint8_t* p, int64_t n) {
  const hn::ScalableTag<uint64_t> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const auto* q = reinterpret_cast<const uint64_t*>(p);
  const int64_t words = n / 8;
  auto a0 = hn::Zero(d), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (int64_t i = 0; i + 8 * L <= words; i += 8 * L) {
    a0 = hn::Xor(a0, hn::Load(d, q + i + 0 * L));
    a1 = hn::Xor(a1, hn::Load(d, q + i + 1 * L));
    a2 = hn::Xor(a2, hn::Load(d, q + i + 2 * L));
    a3 = hn::Xor(a3, hn::Load(d, q + i + 3 * L));
    a4 = hn::Xor(a4, hn::Load(d, q + i + 4 * L));
    a5 = hn::Xor(a5, hn::Load(d, q + i + 5 * L));
    a6 = hn::Xor(a6, hn::Load(d, q + i + 6 * L));
    a7 = hn::Xor(a7, hn::Load(d, q + i + 7 * L));
  }
  const auto x = hn::Xor(hn::Xor(hn::Xor(a0, a1), hn::Xor(a2, a3)), hn::Xor(hn::Xor(a4, a5), hn::Xor(a6, a7)));
  return hn::GetLane(hn::SumOfLanes(d, x));
}

// iters x 12 independent FMAs on registers; returns the FLOPs done (and a value to keep).
double FmaLoop(int64_t iters, float* sink) {
  const hn::ScalableTag<float> d;
  const auto m = hn::Set(d, 0.999999f), c = hn::Set(d, 1e-7f);
  auto a0 = hn::Set(d, 1.0f), a1 = hn::Set(d, 1.1f), a2 = hn::Set(d, 1.2f), a3 = hn::Set(d, 1.3f);
  auto a4 = hn::Set(d, 1.4f), a5 = hn::Set(d, 1.5f), a6 = hn::Set(d, 1.6f), a7 = hn::Set(d, 1.7f);
  auto a8 = hn::Set(d, 1.8f), a9 = hn::Set(d, 1.9f), a10 = hn::Set(d, 2.0f), a11 = hn::Set(d, 2.1f);
  for (int64_t i = 0; i < iters; ++i) {
    a0 = hn::MulAdd(a0, m, c); a1 = hn::MulAdd(a1, m, c); a2 = hn::MulAdd(a2, m, c);
    a3 = hn::MulAdd(a3, m, c); a4 = hn::MulAdd(a4, m, c); a5 = hn::MulAdd(a5, m, c);
    a6 = hn::MulAdd(a6, m, c); a7 = hn::MulAdd(a7, m, c); a8 = hn::MulAdd(a8, m, c);
    a9 = hn::MulAdd(a9, m, c); a10 = hn::MulAdd(a10, m, c); a11 = hn::MulAdd(a11, m, c);
  }
  const auto s = hn::Add(hn::Add(hn::Add(a0, a1), hn::Add(a2, a3)),
                         hn::Add(hn::Add(hn::Add(a4, a5), hn::Add(a6, a7)), hn::Add(hn::Add(a8, a9), hn::Add(a10, a11))));
  *sink += hn::GetLane(s);
  return static_cast<double>(iters) * 12.0 * 2.0 * static_cast<double>(hn::Lanes(d));
}

const char* Target() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace greta::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <thread>
#include <vector>

#include "greta/core/error.h"

namespace greta::cpu {

HWY_EXPORT(StreamRead);
HWY_EXPORT(FmaLoop);
HWY_EXPORT(Target);

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
}  // namespace

double measure_read_bandwidth(ThreadPool& pool, const BandwidthOptions& options, double* per_cpu_gb_s) {
  const int T = pool.n_threads();
  const int64_t slice = (options.buffer_bytes / T) / 4096 * 4096;
  GRETA_ASSERT(slice > 0);
  // One slice per thread, allocated and first touched by that thread (its memory node).
  std::vector<uint8_t*> slices(static_cast<size_t>(T), nullptr);
  pool.run_on_each_thread([&](int t) {
    auto* p = static_cast<uint8_t*>(std::aligned_alloc(4096, static_cast<size_t>(slice)));
    GRETA_ASSERT(p != nullptr);
    std::memset(p, static_cast<int>(t + 1), static_cast<size_t>(slice));
    slices[t] = p;
  });
  std::vector<uint64_t> sink(static_cast<size_t>(T) * 8, 0);
  std::vector<double> start(static_cast<size_t>(T)), end(static_cast<size_t>(T)), cpu(static_cast<size_t>(T));
  std::atomic<int> arrived{0};
  const auto t_origin = std::chrono::steady_clock::now();
  // One pass: every thread reads its slice `repeat` times, starting together.
  const auto pass = [&](int64_t repeat, double* cpu_rate) {
    arrived.store(0);
    pool.run_on_each_thread([&](int t) {
      arrived.fetch_add(1);
      while (arrived.load(std::memory_order_acquire) < T) {
      }
      const double c0 = thread_cpu_seconds();
      start[t] = seconds_since(t_origin);
      uint64_t x = 0;
      for (int64_t r = 0; r < repeat; ++r) x ^= HWY_DYNAMIC_DISPATCH(StreamRead)(slices[t], slice);
      end[t] = seconds_since(t_origin);
      cpu[t] = thread_cpu_seconds() - c0;
      sink[t * 8] ^= x;
    });
    const double s = *std::max_element(end.begin(), end.end()) - *std::min_element(start.begin(), start.end());
    const double bytes = static_cast<double>(slice) * static_cast<double>(repeat);
    double r = 0;
    for (double c : cpu) r += bytes / std::max(c, 1e-9) / 1e9;
    *cpu_rate = r;
    return bytes * T / std::max(s, 1e-9) / 1e9;
  };
  // Warm-up (and the calibration of the pass length).
  double cpu_rate = 0;
  const double warm = pass(1, &cpu_rate);
  const double per_pass_s = static_cast<double>(slice) * T / (warm * 1e9);
  const auto repeat = static_cast<int64_t>(std::clamp(std::ceil(options.min_pass_seconds / per_pass_s), 1.0, 64.0));
  double best = 0, best_cpu = 0;
  for (int rep = 0; rep < std::max(options.reps, 1); ++rep) {
    best = std::max(best, pass(repeat, &cpu_rate));
    best_cpu = std::max(best_cpu, cpu_rate);
  }
  for (auto* p : slices) std::free(p);
  if (per_cpu_gb_s) *per_cpu_gb_s = best_cpu;
  return best;
}

int hardware_threads() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

double measure_fma_peak_gflops(ThreadPool& pool, double seconds, int reps) {
  const int T = pool.n_threads();
  std::vector<float> sink(static_cast<size_t>(T) * 16, 0.0f);
  // Calibrate the iteration count on one thread.
  int64_t iters = 1 << 16;
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    HWY_DYNAMIC_DISPATCH(FmaLoop)(iters, &sink[0]);
    if (seconds_since(t0) > seconds / 4 || iters > (int64_t{1} << 34)) break;
    iters *= 2;
  }
  iters *= 4;
  // Each thread divides by its own CPU time, so time slices lost to other processes on a shared
  // machine do not count; the sum over threads is the peak of T cores.
  std::vector<double> rates;
  for (int rep = 0; rep < reps; ++rep) {
    std::vector<double> rate(static_cast<size_t>(T), 0.0);
    pool.run_on_each_thread([&](int t) {
      const double c0 = thread_cpu_seconds();
      const double f = HWY_DYNAMIC_DISPATCH(FmaLoop)(iters, &sink[t * 16]);
      rate[t] = f / (thread_cpu_seconds() - c0);
    });
    double total = 0;
    for (double r : rate) total += r;
    rates.push_back(total / 1e9);
  }
  return median(rates);
}

const char* bandwidth_simd_target() { return HWY_DYNAMIC_DISPATCH(Target)(); }

}  // namespace greta::cpu
#endif  // HWY_ONCE
